"""Reading a move out of what a language model actually writes.

Models wrap their move in reasoning, brackets, quotes, markdown and answer markers. A reply
counts in this order (`choose`):

1. its final answer (`games.replies`: the last answer marker wins). An explicit final answer that
   names no legal move is refused, never rescued from elsewhere in the text;
2. a move alone on its last non-empty line;
3. else the one legal move the whole reply names. A reply naming several different legal moves is
   ambiguous and refused, never read as the first (or any) of them.

Echoes of the prompt never count as a choice: a line's text from "Legal moves:" (or "legal moves
are") on, and any comma-separated list of two or more moves, are dropped before moves are looked
for (`drop_listings`). Nothing here raises on junk: a refusal is `Parsed.illegal(reason)` with a
reason the player can act on, including the legal moves. All of it runs in time linear in the
reply; per-word work only ever sees the last `MAX_INSPECT` characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from games.core import Parsed
from games.replies import MAX_INSPECT, Reply, blank, extract_answer, read_reply, visible_text

__all__ = [
    "ANSWER_MARKER",
    "MAX_INSPECT",
    "FormScanner",
    "Reply",
    "Scanner",
    "Verdict",
    "choose",
    "clean_reply",
    "decide",
    "drop_echoes",
    "drop_listings",
    "extract_answer",
    "format_moves",
    "marker_error",
    "normalize",
    "parse_from_legal",
    "problem_text",
    "read_reply",
    "reject",
]

ANSWER_MARKER = "Final answer:"
"""The marker prompts ask for: `Final answer: <move>` on the last line."""

_STRIP_CHARS = " \t\r\n.,;:!?*`'\"()[]{}<>_~"
_WORD_RE = re.compile(r"\w+")
_IS_WORD = re.compile(r"\w").match
# Where a line starts echoing the prompt's list of moves.
_ECHO_RE = re.compile(
    r"(?:legal|valid|available|possible) {1,3}(?:moves|actions)(?: {1,3}(?:are|include)\b|:)",
    re.IGNORECASE,
)
_ITEM_SPLIT_RE = re.compile(r"[,;]")
_SPACE_RUN_RE = re.compile(r"\s+")
# A reply longer than this with no final answer and no move on its last line chooses nothing.
MAX_UNMARKED_WORDS = 20
_CONJUNCTION_RE = re.compile(r"^(?:and|or|&)\s+", re.IGNORECASE)


def clean_reply(text: object) -> str:
    """Drop reasoning blocks and control characters; return '' for non-text."""
    return visible_text(text)[0].strip()


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


class Scanner(Protocol):
    """What a game knows about its moves as text, for one position."""

    def exact(self, text: str) -> str | None:
        """The legal action `text` is by itself (decoration aside), or None."""
        ...

    def mentions(self, text: str) -> list[str]:
        """The distinct legal actions `text` names, in the order an error message lists them."""
        ...

    def move_like(self, text: str) -> bool:
        """Whether `text` by itself is a move, legal or not (an item of a list of moves)."""
        ...


class Verdict(NamedTuple):
    """What `choose` made of a reply: an action, or what to say instead."""

    action: str | None = None
    several: Sequence[str] = ()
    """The legal moves named when the reply names more than one."""
    focus: str = ""
    """The part of the reply that counted, echoes removed: what an explanation looks at."""
    problem: str = ""
    """"too long" or "echo" when the reply is refused for that."""


def drop_listings(text: str, move_like: Callable[[str], bool]) -> tuple[str, str]:
    """`text` without echoes of the prompt's move list, and the dropped parts.

    Dropped: each line's text from "Legal moves:" / "legal moves are" on, and every run of two
    or more comma- (or semicolon-) separated items that are each a move by themselves."""
    kept: list[str] = []
    dropped: list[str] = []
    for line in text.split("\n"):
        line = _cut_echo(line, dropped)
        if "," in line or ";" in line:
            line = _drop_runs(line, move_like, dropped)
        kept.append(line)
    return "\n".join(kept), "\n".join(dropped)


def drop_echoes(text: str) -> str:
    """`text` without the prompt's move list: each line's text from "Legal moves:" (or "legal
    moves are") on. For free-text games, where commas are no sign of a list of moves."""
    return "\n".join(_cut_echo(line, []) for line in text.split("\n"))


def _cut_echo(line: str, dropped: list[str]) -> str:
    echo = _ECHO_RE.search(line)
    if echo is None:
        return line
    dropped.append(line[echo.start() :])
    return line[: echo.start()]


def _drop_runs(line: str, move_like: Callable[[str], bool], dropped: list[str]) -> str:
    items = _ITEM_SPLIT_RE.split(line)
    flags = [_is_listed_move(item, move_like) for item in items]
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and flags[j]:
            j += 1
        if j - i >= 2:  # a list of moves: none of them is a choice
            dropped.extend(items[i:j])
            out.append(" ")
            i = j
        else:
            out.append(items[i])
            i += 1
    return ",".join(out)


def _is_listed_move(item: str, move_like: Callable[[str], bool]) -> bool:
    item = item.strip()
    if not item or len(item) > 60:
        return False
    if move_like(item):
        return True
    # "Moves: a1" and "or c3": a label or a conjunction before the move.
    bare = _CONJUNCTION_RE.sub("", item.rsplit(":", 1)[-1].strip())
    return bare != item and bool(bare) and move_like(bare)


def choose(reply: Reply, scanner: Scanner) -> Verdict:
    """The move a reply chooses: its final answer, else a move alone on its last line, else the
    one legal move the whole reply names (see the module docstring)."""
    if reply.answer is not None:
        return settle(reply.answer, scanner)
    line = reply.last_line
    action = scanner.exact(line)
    if action is not None:
        return Verdict(action=action)
    if scanner.move_like(line):
        # An illegal move alone on the last line is the answer: explain it, look no further.
        return settle(line, scanner)
    if not reply.complete:
        return Verdict(problem="too long")
    if _words_over(reply.text, MAX_UNMARKED_WORDS):
        # A long text with no final answer and no move on its last line is reasoning or
        # narrative: a move it happens to mention once is not a choice (small models describe
        # the position, the rules and the history in moves they do not play).
        return Verdict(focus=reply.last_line, problem="no answer")
    return settle(reply.text, scanner)


def _words_over(text: str, limit: int) -> bool:
    """Whether `text` has more than `limit` words (stops counting early)."""
    count = 0
    for _ in _SPACE_RUN_RE.finditer(text.strip()):
        count += 1
        if count >= limit:
            return True
    return False


def settle(segment: str, scanner: Scanner) -> Verdict:
    """The single legal move `segment` names, or why there is none."""
    action = scanner.exact(segment)
    if action is not None:
        return Verdict(action=action)
    kept, dropped = drop_listings(segment, scanner.move_like)
    found = scanner.mentions(kept)
    if len(found) == 1:
        return Verdict(action=found[0])
    if found:
        return Verdict(several=found, focus=kept)
    listed = scanner.mentions(dropped) if dropped else []
    if len(listed) > 1:
        return Verdict(several=listed, focus=kept)
    if listed or (dropped and blank(kept)):
        return Verdict(focus=kept, problem="echo")
    return Verdict(focus=kept)


def problem_text(problem: str, moves: str) -> str:
    """The reason for a `Verdict.problem`, with the legal moves."""
    if problem == "no answer":
        return (
            f"the reply gives no final answer: end it with '{ANSWER_MARKER} <move>' (or the move "
            f"alone on the last line). Legal moves: {moves}"
        )
    if problem == "too long":
        return (
            f"the reply is too long to find a move in (over {MAX_INSPECT} characters without a "
            f"final answer); end it with '{ANSWER_MARKER} <move>'. Legal moves: {moves}"
        )
    return (
        "the reply repeats the list of moves instead of choosing one; give exactly one. "
        f"Legal moves: {moves}"
    )


def decide(
    reply: Reply,
    scanner: Scanner,
    moves: str,
    explain: Callable[[str], str | None] | None = None,
    fallback: str = "'{shown}' is not a legal move; legal moves: {moves}",
) -> Parsed:
    """`choose` a move and turn the verdict into a `Parsed` (see `reject` for the reasons)."""
    verdict = choose(reply, scanner)
    if verdict.action is not None:
        return Parsed.legal(verdict.action)
    if verdict.problem:
        return Parsed.illegal(problem_text(verdict.problem, moves))
    return reject(
        verdict.focus, moves, explain=explain, ambiguous=verdict.several, fallback=fallback
    )


class FormScanner:
    """Moves as fixed spellings: each legal action and alias, normalized, matched as whole words.

    `exact_aliases` count only as the whole answer (a lone "c" for cooperate, never the "c" of a
    sentence); `move_like(text)` says whether a normalized text is a move of the game even when
    it is not legal now (a taken square), so that lists of such moves are recognised."""

    def __init__(
        self,
        legal: Sequence[str],
        aliases: Mapping[str, str] | None = None,
        exact_aliases: Mapping[str, str] | None = None,
        move_like: Callable[[str], bool] | None = None,
    ) -> None:
        legal_set = set(legal)
        self.forms: dict[str, str] = {normalize(a): a for a in legal}
        for alias, action in (aliases or {}).items():
            if action in legal_set:
                self.forms.setdefault(normalize(alias), action)
        self.exact_forms = dict(self.forms)
        for alias, action in (exact_aliases or {}).items():
            if action in legal_set:
                self.exact_forms.setdefault(normalize(alias), action)
        self._move_like = move_like
        # Forms by their first one or two words: a mention is found with one dictionary look-up
        # per word of the reply, not one scan of the reply per form.
        self._index: dict[tuple[str, ...], list[tuple[str, int, str]]] = {}
        for form, action in self.forms.items():
            words = _WORD_RE.findall(form)
            if words:
                lead = _WORD_RE.search(form).start()  # type: ignore[union-attr]
                self._index.setdefault(tuple(words[:2]), []).append((form, lead, action))

    def exact(self, text: str) -> str | None:
        return self.exact_forms.get(normalize(text))

    def move_like(self, text: str) -> bool:
        norm = normalize(text)
        if norm in self.exact_forms:
            return True
        return self._move_like is not None and bool(norm) and self._move_like(norm)

    def mentions(self, text: str) -> list[str]:
        norm = normalize(text)
        words = [(m.start(), m.group()) for m in _WORD_RE.finditer(norm)]
        index = self._index
        hits: list[tuple[int, int, str]] = []
        for i, (pos, word) in enumerate(words):
            keys = [(word,)]
            if i + 1 < len(words):
                keys.append((word, words[i + 1][1]))
            for key in keys:
                for form, lead, action in index.get(key, ()):
                    start, end = pos - lead, pos - lead + len(form)
                    if (
                        start >= 0
                        and norm.startswith(form, start)
                        and (start == 0 or not _IS_WORD(norm[start - 1]))
                        and (end == len(norm) or not _IS_WORD(norm[end]))
                    ):
                        hits.append((start, -end, action))
        # A mention inside a longer one ("raise" inside "raise to 4") does not count: sorted by
        # start and then longest first, a mention is inside another iff an earlier one reaches
        # at least as far.
        hits.sort()
        reach = -1
        named: set[str] = set()
        for _start, neg_end, action in hits:
            if -neg_end > reach:
                named.add(action)
                reach = -neg_end
        return sorted(named)


def parse_from_legal(
    text: object,
    legal: list[str],
    aliases: Mapping[str, str] | None = None,
    explain: Callable[[str], str | None] | None = None,
    *,
    exact_aliases: Mapping[str, str] | None = None,
    move_like: Callable[[str], bool] | None = None,
) -> Parsed:
    """Find exactly one of `legal` in a model's reply.

    `aliases` maps extra lower-case spellings to legal actions (e.g. "pass" -> "check");
    `exact_aliases` are spellings that count only as the whole answer; `move_like(normalized)`
    recognises moves of the game that are not legal now (see `FormScanner`).
    `explain(candidate)` may return a game-specific reason for a well-formed illegal move.
    """
    if not legal:
        return Parsed.illegal("no move is possible now: it is not this player's turn")
    moves = format_moves(legal)
    reply = read_reply(text)
    if reply is None:
        return Parsed.illegal(f"the reply was empty; legal moves: {moves}")
    scanner = FormScanner(legal, aliases, exact_aliases, move_like)
    return decide(reply, scanner, moves, explain)


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
