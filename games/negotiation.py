"""Negotiation: two traders swap five resources by talking and making offers.

Like the simple negotiation game of TextArena/SPIRAL. Chance deals each seat, privately, a
quantity (5..25) of every resource and a private per-unit value (the base value 5, 10, 15, 25,
40 jittered by about +-20%): one chance node per seat and resource, seat 0 first, so the history
starts with ten deals such as `seat 0 Wood: 12 units, value 9 each`. Inventories and values stay
private until the game ends; only the conversation is public.

Then the seats alternate, seat 0 first, for `turns` moves in all. A move is a one-line message,
a bracketed action, or both: `Let's trade. [Offer: 2 Wood, 1 Ore -> 3 Brick]` (what I give ->
what I receive), `[Accept]` or `[Deny]` (only while the opponent's offer is pending). Any other
move while an offer is pending denies it. The seat whose inventory value grew more, by its own
values, wins.

Moves are free text: `legal_actions()` lists a finite menu (simple 1-for-1 and 2-for-1 offers, a
plain message, accept/deny), while `parse_action` and `apply` take any well-formed move and
validate it with the same code (`parse_move` then `NegotiationState.check`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from games.core import (
    CHANCE,
    TERMINAL,
    Game,
    GameParamError,
    IllegalActionError,
    Parsed,
    State,
    replay,
)
from games.parsing import clean_reply, extract_answer, normalize

RESOURCES = ("Wheat", "Wood", "Sheep", "Brick", "Ore")
BASE_VALUES = (5, 10, 15, 25, 40)
QTY_MIN, QTY_MAX = 5, 25
MAX_QTY_IN_OFFER = 99
MAX_MOVE_CHARS = 300
PASS = "I pass."
ACCEPT = "[Accept]"
DENY = "[Deny]"
# Values are jittered by +-20% around the base, rounded: 4..6, 8..12, 12..18, 20..30, 32..48.
VALUE_RANGES = tuple(tuple(range(round(b * 0.8), round(b * 1.2) + 1)) for b in BASE_VALUES)
NUM_DEALS = 2 * len(RESOURCES)
_EMPTY = (0, 0, 0, 0, 0)

_N = len(RESOURCES)
_RES_INDEX = {r.lower(): i for i, r in enumerate(RESOURCES)}
_RES_INDEX.update({r.lower() + "s": i for i, r in enumerate(RESOURCES)})
# Spelled-out quantities a model may write ("two wood", "an ore").
_NUMBER_WORDS = {"a": 1, "an": 1}
_NUMBER_WORDS.update(
    {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
)
_BRACKET_RE = re.compile(r"\[([^\[\]]*)\]")
_OFFER_HEAD_RE = re.compile(r"^\s*offer\b\s*[:\-]?\s*", re.IGNORECASE)
_LOOSE_OFFER_RE = re.compile(r"\boffer\s*:", re.IGNORECASE)
# Between what I give and what I receive: an arrow, "for", "in exchange for", "I receive" ...
_SIDES_RE = re.compile(
    r"\s*(?:-+>|→|=>|⇒|\bin\s+(?:exchange|return)\s+for\b|\bfor\b"
    r"|[;,]?\s*\b(?:and\s+)?(?:i\s+)?(?:will\s+)?(?:receive|get|want|take)\b)\s*"
)
_SIDE_VERB_RE = re.compile(
    r"^(?:(?:i|you)\s+)?(?:will\s+)?(?:give|offer|send|pay)(?:\s+(?:you|me))?\s+"
)
_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;|&|\+|\band\b)\s*")
_ITEM_RE = re.compile(
    r"^(?:(\d{1,6})\s*[x×]?\s*|(" + "|".join(_NUMBER_WORDS) + r")\s+)?"
    r"(?:(?:units?|pieces?)\s+of\s+)?([a-z]+)(?:\s*[x×:]\s*(\d{1,6}))?$"
)
# Whole-action spellings (punctuation dropped) of accept and deny.
_ACCEPT_FORMS = frozenset(
    "accept|accepted|i accept|accept offer|accept the offer|accept trade|accept the trade"
    "|i accept the offer|i accept your offer".split("|")
)
_DENY_FORMS = frozenset(
    "deny|denied|i deny|deny offer|deny the offer|reject|rejected|i reject|reject offer"
    "|reject the offer|decline|declined|i decline|decline offer|decline the offer|refuse"
    "|no deal".split("|")
)
_FORMAT_HINT = (
    "a move is a one-line message and/or one bracketed action: "
    "[Offer: 2 Wood, 1 Ore -> 3 Brick] (you give -> you receive), [Accept] or [Deny]"
)


class Move(NamedTuple):
    """A parsed move: its message, its action kind ("", "offer", "accept", "deny") and, for an
    offer, the quantities given and received (one count per resource)."""

    message: str
    kind: str
    give: tuple[int, ...] = _EMPTY
    receive: tuple[int, ...] = _EMPTY

    def text(self) -> str:
        """The canonical move string."""
        action = {"accept": ACCEPT, "deny": DENY, "": ""}.get(self.kind)
        if action is None:
            action = f"[Offer: {goods_text(self.give)} -> {goods_text(self.receive)}]"
        return f"{self.message} {action}" if self.message and action else self.message or action


def goods_text(goods: tuple[int, ...]) -> str:
    """`2 Wood, 1 Ore` for a count per resource, in the fixed resource order."""
    return ", ".join(f"{q} {RESOURCES[i]}" for i, q in enumerate(goods) if q)


def value_of(goods: tuple[int, ...] | list[int], values: tuple[int, ...] | list[int]) -> int:
    """Total value of `goods` under `values`."""
    return sum(q * v for q, v in zip(goods, values, strict=True))


def deal_text(seat: int, resource: int, quantity: int, value: int) -> str:
    """The chance outcome dealing `seat` its stock and value of one resource."""
    return f"seat {seat} {RESOURCES[resource]}: {quantity} units, value {value} each"


def _deal_tables() -> tuple[tuple[tuple[tuple[str, float], ...], ...], tuple[dict, ...]]:
    outcomes, lookup = [], []
    for k in range(NUM_DEALS):
        seat, res = divmod(k, _N)
        options = [(q, v) for q in range(QTY_MIN, QTY_MAX + 1) for v in VALUE_RANGES[res]]
        p = 1.0 / len(options)
        outcomes.append(tuple((deal_text(seat, res, q, v), p) for q, v in options))
        lookup.append({deal_text(seat, res, q, v): (q, v) for q, v in options})
    return tuple(outcomes), tuple(lookup)


_DEAL_OUTCOMES, _DEAL_LOOKUP = _deal_tables()


def _unit(res: int, qty: int) -> tuple[int, ...]:
    goods = [0] * _N
    goods[res] = qty
    return tuple(goods)


def _menu_offers() -> tuple[tuple[int, int, str, Move], ...]:
    """The offers `legal_actions` lists: 1-for-1, 2-for-1 and 1-for-2 swaps of two resources,
    as (resource given, quantity given, canonical text, move)."""
    menu = []
    for g in range(_N):
        for r in range(_N):
            if g == r:
                continue
            for gq, rq in ((1, 1), (2, 1), (1, 2)):
                move = Move("", "offer", _unit(g, gq), _unit(r, rq))
                menu.append((g, gq, move.text(), move))
    return tuple(menu)


MENU_OFFERS = _menu_offers()
# Per resource given: the menu offers when 2+ units are held, and when only 1 is.
_MENU_BY_GIVE = tuple(
    (
        tuple(text for g, _, text, _ in MENU_OFFERS if g == res),
        tuple(text for g, q, text, _ in MENU_OFFERS if g == res and q == 1),
    )
    for res in range(_N)
)
_FIXED_MOVES: dict[str, Move] = {m[2]: m[3] for m in MENU_OFFERS}
_FIXED_MOVES.update({ACCEPT: Move("", "accept"), DENY: Move("", "deny"), PASS: Move(PASS, "")})


def _clean_message(text: str) -> str:
    """Collapse whitespace; drop markdown and enclosing quotes; '' when nothing is said."""
    msg = " ".join(text.split())
    while True:
        before = msg
        msg = msg.strip(" *_`~")
        if len(msg) >= 2 and msg[0] == msg[-1] and msg[0] in "\"'":
            msg = msg[1:-1]
        if msg == before:
            break
    return msg if any(c.isalnum() for c in msg) else ""


def _parse_goods(side: str) -> tuple[tuple[int, ...] | None, str | None]:
    side = _SIDE_VERB_RE.sub("", side.strip(" .!?:;,")).strip()
    counts = [0] * _N
    items = [it for it in _ITEM_SPLIT_RE.split(side) if it]
    if not items:
        return None, "an offer needs goods on both sides of '->'"
    for item in items:
        m = _ITEM_RE.match(item.strip(" .!?"))
        name = m.group(3) if m else ""
        if not m or name not in _RES_INDEX:
            shown = item if len(item) <= 30 else item[:27] + "..."
            return None, (
                f"'{shown}' is not a quantity of a resource; resources are "
                f"{', '.join(RESOURCES)} (write e.g. '2 Wood')"
            )
        if m.group(1) and m.group(4):
            return None, f"'{item}' gives two quantities"
        qty = int(m.group(1) or m.group(4) or _NUMBER_WORDS.get(m.group(2) or "", 1))
        if qty < 1:
            return None, f"quantities must be at least 1 (got '{item}')"
        counts[_RES_INDEX[name]] += qty
    if max(counts) > MAX_QTY_IN_OFFER:
        return None, f"at most {MAX_QTY_IN_OFFER} units of a resource per offer"
    return tuple(counts), None


def _parse_action_body(body: str) -> tuple[Move | None, str | None]:
    """The action inside the brackets (or an unbracketed `Offer: ...`)."""
    words = " ".join(re.sub(r"[^a-z ]", " ", body.lower()).split())
    if words in _ACCEPT_FORMS:
        return Move("", "accept"), None
    if words in _DENY_FORMS:
        return Move("", "deny"), None
    head = _OFFER_HEAD_RE.match(body)
    if head is None:
        shown = body if len(body) <= 30 else body[:27] + "..."
        return None, (
            f"unknown action [{shown}]; square brackets hold the action only: "
            "[Offer: 2 Wood -> 1 Ore], [Accept] or [Deny]"
        )
    rest = body[head.end() :].lower().replace("→", "->")
    rest = re.sub(r"^\s*(?:i\s+)?(?:will\s+)?give\s+", "", rest)
    sides = _SIDES_RE.split(rest)
    if len(sides) != 2:
        return None, (
            "an offer is 'what you give -> what you receive' with exactly one arrow, "
            "e.g. [Offer: 2 Wood, 1 Ore -> 3 Brick]"
        )
    give, err = _parse_goods(sides[0])
    if give is None:
        return None, err
    receive, err = _parse_goods(sides[1])
    if receive is None:
        return None, err
    both = [RESOURCES[i] for i in range(_N) if give[i] and receive[i]]
    if both:
        return None, f"an offer cannot both give and ask for {', '.join(both)}"
    return Move("", "offer", give, receive), None


def parse_move(text: str) -> tuple[Move | None, str | None]:
    """Parse one move (state-free syntax): `(move, None)` or `(None, reason)`.

    The canonical text of the result (`move.text()`) parses back to the same move."""
    text = " ".join(text.split())
    brackets = _BRACKET_RE.findall(text)
    rest = _BRACKET_RE.sub(" ", text)
    if "[" in rest or "]" in rest:
        return None, "a '[' or ']' without its partner; " + _FORMAT_HINT
    if len(brackets) > 1:
        return None, f"one action per move, found {len(brackets)} bracketed parts; " + _FORMAT_HINT
    if brackets:
        action, err = _parse_action_body(brackets[0])
        if action is None:
            return None, err
        move = action._replace(message=_clean_message(rest))
    elif normalize(text) in _ACCEPT_FORMS:
        move = Move("", "accept")
    elif normalize(text) in _DENY_FORMS:
        move = Move("", "deny")
    else:
        loose = _LOOSE_OFFER_RE.search(text)
        action = None
        if loose is not None:
            action, err = _parse_action_body(text[loose.start() :].strip(" .!*`\"'"))
            if action is None and loose.start() == 0:
                return None, err
        if action is not None:
            move = action._replace(message=_clean_message(text[: loose.start()]))
        else:
            move = Move(_clean_message(text), "")
            if not move.message:
                return None, "the move is empty; " + _FORMAT_HINT
    canonical = move.text()
    if len(canonical) > MAX_MOVE_CHARS:
        return None, f"the move is {len(canonical)} characters long; at most {MAX_MOVE_CHARS}"
    if extract_answer(canonical) is not None:
        return None, "the message may not contain answer markers such as 'answer:' or 'move:'"
    return move, None


class NegotiationState(State):
    __slots__ = ("game", "hist", "qty", "start", "values", "log", "pending", "player", "_legal")

    def __init__(self, game: Negotiation) -> None:
        self.game = game
        self.hist: list[str] = []
        self.qty = [[0] * _N, [0] * _N]  # current inventories
        self.start = [[0] * _N, [0] * _N]  # inventories as dealt
        self.values = [[0] * _N, [0] * _N]
        self.log: list[tuple[int, str, str]] = []  # (seat, canonical move, what happened)
        self.pending: tuple[int, tuple[int, ...], tuple[int, ...]] | None = None
        self.player = CHANCE
        self._legal: list[str] | None = None

    # --- the contract --------------------------------------------------------------------
    def current_player(self) -> int:
        return self.player

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self.player != CHANCE:
            return []
        return list(_DEAL_OUTCOMES[len(self.hist)])

    def legal_actions(self) -> list[str]:
        p = self.player
        if p < 0:
            return []
        if self._legal is None:
            legal = []
            if self.pending is not None:
                if _holds(self.qty[p], self.pending[2]):
                    legal.append(ACCEPT)
                legal.append(DENY)
            legal.append(PASS)
            held = self.qty[p]
            for res in range(_N):
                if held[res]:
                    legal += _MENU_BY_GIVE[res][0 if held[res] >= 2 else 1]
            self._legal = legal
        return list(self._legal)

    def check(self, move: Move) -> str | None:
        """Why `move` is not allowed for the seat to move now, or None when it is."""
        p = self.player
        if p < 0:
            return "no move is possible now: the game is not waiting for a player"
        if move.kind in ("accept", "deny") and self.pending is None:
            return f"there is no pending offer to {move.kind}"
        if move.kind == "accept":
            asked = self.pending[2]  # type: ignore[index]
            if not _holds(self.qty[p], asked):
                return f"you cannot accept: the offer asks for {goods_text(asked)} " + (
                    f"and you hold {_holding_text(self.qty[p], asked)}"
                )
        if move.kind == "offer" and not _holds(self.qty[p], move.give):
            return (
                f"you offer {goods_text(move.give)} but hold only "
                f"{_holding_text(self.qty[p], move.give)}"
            )
        return None

    def apply(self, action: str) -> None:
        p = self.player
        if p == CHANCE:
            k = len(self.hist)
            dealt = _DEAL_LOOKUP[k].get(action) if isinstance(action, str) else None
            if dealt is None:
                raise IllegalActionError(f"{action!r} is not a chance outcome here")
            seat, res = divmod(k, _N)
            self.qty[seat][res] = self.start[seat][res] = dealt[0]
            self.values[seat][res] = dealt[1]
            self.hist.append(action)
            if k == NUM_DEALS - 1:
                self.player = 0
            return
        move = _FIXED_MOVES.get(action) if isinstance(action, str) else None
        if move is None and isinstance(action, str):
            move, _ = parse_move(action)
            if move is not None and move.text() != action:
                move = None  # well-formed but not canonical: the history stores canonical moves
        reason = "not a well-formed move" if move is None else self.check(move)
        if reason:
            raise IllegalActionError(f"illegal negotiation move {action!r}: {reason}")
        self._play(p, action, move)  # type: ignore[arg-type]

    def _play(self, p: int, action: str, move: Move) -> None:
        events = []
        pending = self.pending
        if move.kind == "accept":
            offerer, give, receive = pending  # type: ignore[misc]
            # Both sides are checked at accept time; the offerer cannot have moved since, so
            # this holds by construction, but a trade must never make an inventory negative.
            if not _holds(self.qty[offerer], give):
                raise IllegalActionError("the offerer no longer holds the offered goods")
            mine, theirs = self.qty[p], self.qty[offerer]
            for i in range(_N):
                mine[i] += give[i] - receive[i]
                theirs[i] += receive[i] - give[i]
            events.append("trade done")
        elif move.kind == "deny":
            events.append("offer denied")
        elif pending is not None:
            events.append("pending offer denied")
        self.pending = (p, move.give, move.receive) if move.kind == "offer" else None
        self.hist.append(action)
        turns = len(self.hist) - NUM_DEALS
        if turns >= self.game.turns:
            if self.pending is not None:
                events.append("offer expired: no turns left")
                self.pending = None
            self.player = TERMINAL
        else:
            self.player = 1 - p
        self.log.append((p, action, "; ".join(events)))
        self._legal = None

    def growth(self, seat: int) -> int:
        """How much `seat`'s inventory value (by its own values) has grown since the deal."""
        values = self.values[seat]
        return value_of(self.qty[seat], values) - value_of(self.start[seat], values)

    def returns(self) -> list[float]:
        if self.player != TERMINAL:
            return [0.0, 0.0]
        g0, g1 = self.growth(0), self.growth(1)
        if g0 == g1:
            return [0.0, 0.0]
        return [1.0, -1.0] if g0 > g1 else [-1.0, 1.0]

    def clone(self) -> NegotiationState:
        other = NegotiationState.__new__(NegotiationState)
        other.game = self.game
        other.hist = self.hist[:]
        other.qty = [self.qty[0][:], self.qty[1][:]]
        other.start = [self.start[0][:], self.start[1][:]]
        other.values = [self.values[0][:], self.values[1][:]]
        other.log = self.log[:]
        other.pending = self.pending
        other.player = self.player
        other._legal = self._legal
        return other

    def history(self) -> list[str]:
        return list(self.hist)

    def public_history(self) -> list[str]:
        hidden = [f"seat {k // _N} {RESOURCES[k % _N]}: (hidden)" for k in range(NUM_DEALS)]
        return hidden[: min(len(self.hist), NUM_DEALS)] + self.hist[NUM_DEALS:]

    def information_state(self, player: int) -> str:
        if self.player == TERMINAL:  # everything is revealed at the end
            return f"{player}|end|" + "\x1f".join(self.hist)
        own = [a for k, a in enumerate(self.hist[:NUM_DEALS]) if k // _N == player]
        return f"{player}|{len(self.hist)}|" + "\x1f".join(own + self.hist[NUM_DEALS:])

    def indistinguishable_states(self, player: int) -> list[State]:
        if self.player == TERMINAL:
            return []  # the final observation reveals both seats' deals
        other = 1 - player
        dealt = [k for k in range(other * _N, other * _N + _N) if k < len(self.hist)]
        if not dealt:
            return []
        found = []
        # Other values always replay; other quantities may make the opponent's past offers
        # impossible (then `replay` gives None and the variant is skipped).
        for dq, dv in ((0, 1), (1, 0), (1, 2), (-1, 1), (3, 0)):
            swap = {}
            for k in dealt:
                q, v = _DEAL_LOOKUP[k][self.hist[k]]
                res = k % _N
                values = VALUE_RANGES[res]
                nq = q + dq if QTY_MIN <= q + dq <= QTY_MAX else q
                nv = values[(values.index(v) + dv) % len(values)]
                swap[k] = deal_text(other, res, nq, nv)
            state = replay(self.game, self.hist, swap)
            if state is not None and state.hist != self.hist:
                found.append(state)
        return found

    # --- text ----------------------------------------------------------------------------
    def _conversation(self, player: int) -> list[str]:
        if not self.log:
            return ["Conversation so far: nothing yet."]
        lines = ["Conversation so far:"]
        for i, (seat, text, events) in enumerate(self.log):
            who = "" if player < 0 else " (you)" if seat == player else " (opponent)"
            note = f"   ({events})" if events else ""
            lines.append(f"  {i + 1}. player {seat}{who}: {text}{note}")
        return lines

    def observation(self, player: int) -> str:
        lines = [f"Negotiation. You are player {player}; your opponent is player {1 - player}."]
        dealt = [k for k in range(player * _N, player * _N + _N) if k < len(self.hist)]
        if len(dealt) < _N:
            lines.append(f"Dealing: {len(self.hist)} of {NUM_DEALS} deals done.")
        mine, values = self.qty[player], self.values[player]
        lines.append("Your inventory and your private value per unit:")
        for k in dealt:
            r = k % _N
            lines.append(f"  {RESOURCES[r]}: {mine[r]} units, value {values[r]} each")
        if len(dealt) == _N:
            now, before = value_of(mine, values), value_of(self.start[player], values)
            lines.append(
                f"Your inventory value: {now} now, {before} at the start ({now - before:+d})."
            )
        if self.player == CHANCE:
            return "\n".join(lines)
        lines += self._conversation(player)
        if self.player == TERMINAL:
            return "\n".join(lines + self._result_lines(player))
        left = self.game.turns - (len(self.hist) - NUM_DEALS)
        if self.pending is not None:
            offerer, give, receive = self.pending
            if offerer == player:
                lines.append(
                    f"Your offer is pending: you give {goods_text(give)} and receive "
                    f"{goods_text(receive)}."
                )
            else:
                gain = value_of(give, values) - value_of(receive, values)
                lines.append(
                    f"Pending offer from your opponent: you would receive {goods_text(give)} "
                    f"and give {goods_text(receive)} (change to your value: {gain:+d})."
                )
        lines.append(f"Moves left in the game: {left} (both players together).")
        if self.player != player:
            lines.append(f"It is player {self.player}'s turn.")
            return "\n".join(lines)
        legal = self.legal_actions()
        offers = [a for a in legal if a.startswith("[Offer")]
        # A spread of menu offers (every resource given), not the first six.
        examples = [a for a in legal if a not in offers] + offers[:: max(1, len(offers) // 6)][:6]
        lines += [
            "It is your turn. " + _FORMAT_HINT[0].upper() + _FORMAT_HINT[1:] + ".",
            "For example: Let's trade. [Offer: 2 Wood, 1 Ore -> 3 Brick]",
            "Legal moves include: " + " | ".join(examples) + " (any offer of goods you hold).",
        ]
        return "\n".join(lines)

    def _result_lines(self, player: int) -> list[str]:
        lines = ["The game is over. Final inventories (growth by each player's own values):"]
        for seat in (0, 1):
            stock = ", ".join(
                f"{self.qty[seat][r]} {RESOURCES[r]} (value {self.values[seat][r]})"
                for r in range(_N)
            )
            lines.append(f"  player {seat}: {stock}; growth {self.growth(seat):+d}")
        rets = self.returns()
        if rets[0] == rets[1]:
            lines.append("Result: a tie.")
        else:
            lines.append("Result: you won." if rets[player] > 0 else "Result: you lost.")
        return lines

    def __str__(self) -> str:
        # A neutral view: the public conversation only.
        lines = self._conversation(-1)
        if self.player >= 0:
            lines.append(f"Player {self.player} to move.")
        return "\n".join(lines)


def _holds(held: list[int], goods: tuple[int, ...]) -> bool:
    return all(h >= g for h, g in zip(held, goods, strict=True))


def _holding_text(held: list[int], goods: tuple[int, ...]) -> str:
    return ", ".join(f"{held[i]} {RESOURCES[i]}" for i, q in enumerate(goods) if q)


RULES = """\
Negotiation: two players trade five resources: Wheat, Wood, Sheep, Brick and Ore.
At the start each player is dealt, in private, a stock of every resource (5 to 25 units) and a
private value per unit of every resource (about 5, 10, 15, 25 and 40, each varied by up to 20%
per player). You see only your own stock and values; the opponent's stay secret until the end.
Players alternate moves, player 0 first, for {turns} moves in all ({each} each).
A move is one line: a message, one action in square brackets, or a message followed by an action:
  Let's trade. [Offer: 2 Wood, 1 Ore -> 3 Brick]   offer what you give -> what you receive
  [Accept]   accept the opponent's pending offer (the trade happens at once)
  [Deny]     deny the opponent's pending offer
  I pass.    a message alone
You may only offer goods you hold, and accept only if you hold what the offer asks of you.
An offer stays pending for the opponent's next move only; any move other than [Accept] denies it.
Square brackets are reserved for the action; a move is at most 300 characters.
When the moves run out, each player's inventory value is counted with their own values. The
player whose value grew more wins; equal growth is a tie."""


class Negotiation(Game):
    id = "negotiation"
    name = "Negotiation"
    chance = True
    hidden_info = True
    free_text = True
    can_draw = True
    description = "Trade five resources by talk and offers; private stocks and values."
    PARAMS = {"turns": 10}
    BOTS = {"heuristic": "games.bots.negotiation_bot:NegotiationHeuristic"}

    @property
    def turns(self) -> int:
        """Total number of moves in a game (both players together)."""
        return self.params["turns"]

    def validate_params(self) -> None:
        if not 2 <= self.params["turns"] <= 100:
            raise GameParamError(f"negotiation: turns must be 2..100, got {self.params['turns']}")

    def rules(self) -> str:
        turns = self.turns
        each = f"{turns // 2}" if turns % 2 == 0 else f"{turns // 2 + 1} and {turns // 2}"
        return RULES.format(turns=turns, each=each)

    def new_initial_state(self) -> NegotiationState:
        return NegotiationState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        if state.current_player() < 0:
            return Parsed.illegal("no move is possible now: it is not a player's turn")
        body = clean_reply(text)
        if not body:
            return Parsed.illegal("the reply was empty; " + _FORMAT_HINT)
        answer = extract_answer(body)
        if answer is not None:
            candidates = [answer]
        else:
            # Without a marker: the whole reply, else its last line (after some reasoning).
            lines = [ln for ln in body.splitlines() if ln.strip()]
            candidates = [body] + ([lines[-1]] if len(lines) > 1 else [])
        error = "the reply was empty; " + _FORMAT_HINT
        for i, candidate in enumerate(candidates):
            move, err = parse_move(candidate)
            if move is None:
                error = err if i == 0 else error
                continue
            reason = state.check(move)  # type: ignore[attr-defined]
            if reason is None:
                return Parsed.legal(move.text())
            if i == 0:
                error = reason
        return Parsed.illegal(error)  # type: ignore[arg-type]
