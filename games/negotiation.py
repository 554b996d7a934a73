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
validate it with the same code (`parse_move`, in `games.negotiation_moves`, then
`NegotiationState.check`).
"""

from __future__ import annotations

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

# The move syntax lives in negotiation_moves; its names are importable from here too.
from games.negotiation_moves import (
    ACCEPT,
    DENY,
    FORMAT_HINT,
    KNOWN_MOVES,
    MENU_OFFERS,
    PASS,
    RESOURCES,
    Move,
    goods_text,
    parse_move,
    read_move,
)

BASE_VALUES = (5, 10, 15, 25, 40)
QTY_MIN, QTY_MAX = 5, 25
# Values are jittered by +-20% around the base, rounded: 4..6, 8..12, 12..18, 20..30, 32..48.
VALUE_RANGES = tuple(tuple(range(round(b * 0.8), round(b * 1.2) + 1)) for b in BASE_VALUES)
NUM_DEALS = 2 * len(RESOURCES)

_N = len(RESOURCES)


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


# Per resource given: the menu offers when 2+ units are held, and when only 1 is.
_MENU_BY_GIVE = tuple(
    (
        tuple(text for g, _, text, _ in MENU_OFFERS if g == res),
        tuple(text for g, q, text, _ in MENU_OFFERS if g == res and q == 1),
    )
    for res in range(_N)
)


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
        move = KNOWN_MOVES.get(action) if isinstance(action, str) else None
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

    # --- read-only accessors for boards (a seat's own goods and values are secret from the
    # other seat until the game is over; the conversation and pending offer are public) -------
    def inventory(self, seat: int) -> list[int]:
        """Units of each of `RESOURCES` that `seat` holds now (0 for what is not dealt yet).
        Secret: show it to `seat` only, or to everyone once the game is over."""
        return list(self.qty[seat])

    def start_inventory(self, seat: int) -> list[int]:
        """Units of each resource `seat` was dealt. Secret like `inventory`."""
        return list(self.start[seat])

    def unit_values(self, seat: int) -> list[int]:
        """`seat`'s private value per unit of each resource. Secret like `inventory`."""
        return list(self.values[seat])

    def conversation(self) -> list[tuple[int, str, str]]:
        """Every move so far as (seat, canonical move, what happened: "trade done", ...)."""
        return list(self.log)

    def pending_offer(self) -> tuple[int, tuple[int, ...], tuple[int, ...]] | None:
        """(offerer, goods given, goods received) of the offer awaiting an answer, or None."""
        return self.pending

    def moves_left(self) -> int:
        """Moves left in the game, both seats together (0 once it is over)."""
        return max(0, self.game.turns - max(0, len(self.hist) - NUM_DEALS))

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
            "It is your turn. " + FORMAT_HINT[0].upper() + FORMAT_HINT[1:] + ".",
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
        return read_move(text, state.check)  # type: ignore[attr-defined]
