"""Reading a move out of what a language model actually writes.

Models wrap their move in reasoning, brackets, quotes, markdown and answer markers. The parser
looks for a final-answer marker first (the last one wins), then for a legal action mentioned in
the text. It never raises on junk: it returns `Parsed.illegal(reason)` with a reason the player
can act on, including the legal moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from games.core import Parsed

ANSWER_MARKER = "Final answer:"
"""The marker prompts ask for: `Final answer: <move>` on the last line."""

_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.IGNORECASE | re.DOTALL)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e]")
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)
_MARKER_RE = re.compile(
    r"\b(?:final\s+answer|final\s+move|answer|my\s+move|move|action)\s*(?:is)?\s*[:=]\s*(.+)",
    re.IGNORECASE,
)
_STRIP_CHARS = " \t\r\n.,;:!?*`'\"()[]{}<>_~"


def clean_reply(text: object) -> str:
    """Drop reasoning blocks and control characters; return '' for non-text."""
    if not isinstance(text, str):
        return ""
    text = _THINK_RE.sub(" ", text)
    return _CONTROL_RE.sub(" ", text).strip()


def extract_answer(text: str) -> str | None:
    """The text inside the last final-answer marker (`Final answer: X`, `\\boxed{X}`,
    `<answer>X</answer>`), or None when the reply has no marker."""
    candidates: list[tuple[int, str]] = []
    for regex in (_BOXED_RE, _ANSWER_TAG_RE):
        for m in regex.finditer(text):
            candidates.append((m.start(), m.group(1)))
    for m in _MARKER_RE.finditer(text):
        candidates.append((m.start(), m.group(1).splitlines()[0] if m.group(1) else ""))
    if not candidates:
        return None
    # The last marker in the text is the model's final word.
    return max(candidates, key=lambda c: c[0])[1].strip()


def normalize(text: str) -> str:
    """Lower-case, collapse whitespace, strip brackets, quotes and markdown at the ends."""
    return " ".join(text.lower().split()).strip(_STRIP_CHARS)


def format_moves(actions: Iterable[str], limit: int = 60) -> str:
    """A comma-separated list of moves for an error message, shortened when very long."""
    actions = list(actions)
    shown = ", ".join(actions[:limit])
    if len(actions) > limit:
        shown += f", ... ({len(actions) - limit} more)"
    return shown


def _mentions(text: str, forms: Mapping[str, str]) -> list[tuple[int, int, str]]:
    """(start, end, action) for every whole-word mention of a form in `text`."""
    found = []
    for form, action in forms.items():
        if not form:
            continue
        pattern = r"(?<![\w])" + re.escape(form) + r"(?![\w])"
        for m in re.finditer(pattern, text):
            found.append((m.start(), m.end(), action))
    return found


def _pick(text: str, forms: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Match `text` against the forms: exact first, then a unique mention.

    Returns (action, ambiguous_actions)."""
    norm = normalize(text)
    if norm in forms:
        return forms[norm], []
    hits = _mentions(norm, forms)
    if not hits:
        return None, []
    # A mention inside a longer mention ("raise" inside "raise to 4") does not count.
    kept = [
        h
        for h in hits
        if not any(
            o != h and o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0]) for o in hits
        )
    ]
    distinct = sorted({h[2] for h in kept})
    if len(distinct) == 1:
        return distinct[0], []
    return None, distinct


def parse_from_legal(
    text: object,
    legal: list[str],
    aliases: Mapping[str, str] | None = None,
    explain: Callable[[str], str | None] | None = None,
) -> Parsed:
    """Find exactly one of `legal` in a model's reply.

    `aliases` maps extra lower-case spellings to legal actions (e.g. "pass" -> "check").
    `explain(candidate)` may return a game-specific reason for a well-formed illegal move.
    """
    if not legal:
        return Parsed.illegal("no move is possible now: it is not this player's turn")
    moves = format_moves(legal)
    body = clean_reply(text)
    if not body:
        return Parsed.illegal(f"the reply was empty; legal moves: {moves}")
    forms: dict[str, str] = {normalize(a): a for a in legal}
    for alias, action in (aliases or {}).items():
        if action in legal:
            forms.setdefault(normalize(alias), action)

    answer = extract_answer(body)
    segments = [answer] if answer is not None else []
    lines = [ln for ln in body.splitlines() if ln.strip()]
    segments += [body] + ([lines[-1]] if len(lines) > 1 else [])
    ambiguous: list[str] = []
    for segment in segments:
        action, amb = _pick(segment, forms)
        if action is not None:
            return Parsed.legal(action)
        if amb and not ambiguous:
            ambiguous = amb
        if answer is not None and segment is answer and normalize(answer):
            # An explicit final answer that names no legal move is wrong, not noise.
            break
    focus = answer if answer is not None else body
    return reject(focus, moves, explain=explain, ambiguous=ambiguous)


def reject(
    focus: str,
    moves: str,
    explain: Callable[[str], str | None] | None = None,
    ambiguous: Sequence[str] = (),
    fallback: str = "'{shown}' is not a legal move; legal moves: {moves}",
) -> Parsed:
    """The reason a reply that names no single legal move is refused.

    `focus` is the part of the reply that counts (its final answer, else the whole reply) and
    `moves` the legal moves as text. In order: the reply named several legal moves
    (`ambiguous`); `explain(focus)` gives a game-specific reason; else `fallback`, a template
    with `{shown}` (the focus, normalized and cut to 40 characters) and `{moves}`.
    """
    if ambiguous:
        return Parsed.illegal(
            f"the reply names several moves ({', '.join(ambiguous)}); give exactly one. "
            f"Legal moves: {moves}"
        )
    if explain is not None:
        try:
            reason = explain(focus)
        except Exception:  # an explainer must never turn junk into an exception
            reason = None
        if reason:
            return Parsed.illegal(reason)
    shown = normalize(focus)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return Parsed.illegal(fallback.format(shown=shown, moves=moves))


def marker_error(text: str, what: str) -> str | None:
    """Why a free-text move part (`what`: "message", "clue") containing an answer marker is
    refused, or None when it has none. Such text would not read back as itself: a marker inside
    it ("move: ...") would be taken for the player's final answer when the move is parsed."""
    if extract_answer(text) is not None:
        return f"the {what} may not contain answer markers such as 'answer:' or 'move:'"
    return None
