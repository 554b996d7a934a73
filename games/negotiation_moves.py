"""The move syntax of negotiation: what a move is and how free text becomes one.

A move is a one-line message, one bracketed action, or both: `Let's trade. [Offer: 2 Wood, 1 Ore
-> 3 Brick]` (what I give -> what I receive), `[Accept]` or `[Deny]`. `parse_move` reads the many
ways models write that and returns a `Move` whose `text()` is the canonical move string; it knows
nothing of the state (whether the goods are held, whether an offer is pending): that is
`NegotiationState.check` in `games.negotiation`, and `read_move` takes it as an argument to read
a whole reply. `MENU_OFFERS` is the finite menu of offers `legal_actions` chooses from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from games.core import Parsed
from games.parsing import drop_echoes, marker_error, normalize, read_reply

RESOURCES = ("Wheat", "Wood", "Sheep", "Brick", "Ore")
MAX_QTY_IN_OFFER = 99
MAX_MOVE_CHARS = 300
ACCEPT = "[Accept]"
DENY = "[Deny]"
PASS = "I pass."
"""The plain message `legal_actions` always offers."""
_MAX_RAW_CHARS = 2000
"""The longest move text read (whitespace collapsed): its canonical form may be much shorter."""
FORMAT_HINT = (
    "a move is a one-line message and/or one bracketed action: "
    "[Offer: 2 Wood, 1 Ore -> 3 Brick] (you give -> you receive), [Accept] or [Deny]"
)
"""How to write a move, for error messages and the observation."""
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
    r"\s*(?:(?<!-)-+>|→|=>|⇒|\bin\s+(?:exchange|return)\s+for\b|\bfor\b"
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
# The menu, accept, deny and pass by canonical text: `apply` reads them without parsing.
KNOWN_MOVES: dict[str, Move] = {m[2]: m[3] for m in MENU_OFFERS}
KNOWN_MOVES.update({ACCEPT: Move("", "accept"), DENY: Move("", "deny"), PASS: Move(PASS, "")})


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
    if len(text) > _MAX_RAW_CHARS:  # checked first: the patterns below then see short text only
        return None, f"the move is {len(text)} characters long; at most {MAX_MOVE_CHARS}"
    brackets = _BRACKET_RE.findall(text)
    rest = _BRACKET_RE.sub(" ", text)
    if "[" in rest or "]" in rest:
        return None, "a '[' or ']' without its partner; " + FORMAT_HINT
    if len(brackets) > 1:
        return None, f"one action per move, found {len(brackets)} bracketed parts; " + FORMAT_HINT
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
                return None, "the move is empty; " + FORMAT_HINT
    canonical = move.text()
    if len(canonical) > MAX_MOVE_CHARS:
        return None, f"the move is {len(canonical)} characters long; at most {MAX_MOVE_CHARS}"
    err = marker_error(canonical, "message")
    if err is not None:
        return None, err
    return move, None


def read_move(text: object, check: Callable[[Move], str | None]) -> Parsed:
    """The move in a model's reply, as a canonical move string, or the reason there is none.

    `check(move)` is the state's verdict on a well-formed move (None when it may be played).
    The final answer counts if there is one; without it, the whole reply, else its last line.
    Lines echoing the prompt's list of moves ("Legal moves include: ...") never count.
    """
    reply = read_reply(text)
    if reply is None:
        return Parsed.illegal("the reply was empty; " + FORMAT_HINT)
    error = "the reply was empty; " + FORMAT_HINT
    if reply.answer is not None:
        candidates = [reply.answer]
    else:
        body = drop_echoes(reply.text).strip()
        if not body:
            return Parsed.illegal(
                "the reply repeats the list of moves instead of choosing one; " + FORMAT_HINT
            )
        # Without a marker: the whole reply, else its last line (after some reasoning).
        last = body[body.rfind("\n") + 1 :].strip()
        candidates = [body] + ([last] if last != body else [])
        if not reply.complete:
            error = (
                f"the reply is too long for a move: a move is at most {MAX_MOVE_CHARS} characters"
            )
            candidates = [last]
    for i, candidate in enumerate(candidates):
        move, err = parse_move(candidate)
        if move is None:
            error = err if i == 0 and reply.complete else error
            continue
        reason = check(move)
        if reason is None:
            return Parsed.legal(move.text())
        if i == 0:
            error = reason
    return Parsed.illegal(error)
