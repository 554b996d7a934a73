"""What of a model's reply the move parsers read, found in time linear in its length.

A reply is untrusted text of any length: a model may ramble for megabytes, repeat one word, or
never close a reasoning block. `read_reply` keeps what a parser needs: the visible text
(reasoning blocks and control characters removed) of at most `MAX_INSPECT` characters from the
end, the content of the last final-answer marker and the last line. Every step is a str method or
a regular expression without nested or adjacent unbounded repeats, and whatever a parser does per
word afterwards is bounded by `MAX_INSPECT`.

Answer markers are what small models write: `Final answer: X`, `The final answer is X`,
`**Answer:** X`, `My move: X`, `\\boxed{X}`, `<answer>X</answer>`, or a marker alone on its line
(`### Final Answer`) with the answer on the next line. The last one in the text wins.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import NamedTuple

MAX_INSPECT = 16_000
"""Characters of visible text read from the end of a reply. A longer reply is still read for its
final answer and its last line; without either it is refused as too long, never guessed from."""

_OPEN, _CLOSE = "<think>", "</think>"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e]")
# A keyword that may start an answer marker; what follows it decides (see `_markers`).
_KEYWORD_RE = re.compile(
    r"(?<!\w)(final[ \t]{1,3}answer|final[ \t]{1,3}move|my[ \t]{1,3}move|answer|move|action)(?!\w)",
    re.IGNORECASE,
)
# After a keyword: "Answer:", "**Answer:**", "answer is:", '"answer": ', "move = ".
_COLON_RE = re.compile(r"[ \t*_\"'`]{0,6}(?:is[ \t*_]{0,4})?[:=][ \t]{0,8}", re.IGNORECASE)
# After "final answer" or "final move" only: "The final answer is X" (no colon), X possibly on
# the next line; but "the final answer is not obvious yet" is reasoning, not an answer.
_IS_RE = re.compile(
    r"[ \t*_]{0,4}is\b(?![ \t]{0,4}(?:not|unclear|uncertain|still|yet)\b)[ \t]{0,4}", re.IGNORECASE
)
_DECORATION = " \t*_#>-:."
_BOXED_RE = re.compile(r"\\boxed\{([^{}\n]{0,300}(?:\{[^{}\n]{0,300}\}[^{}\n]{0,300}){0,3})\}")
_TAG_OPEN, _TAG_CLOSE = "<answer>", "</answer>"
_NEXT_LINE_RE = re.compile(r"\s*([^\n]*)")
_STRIP_CHARS = " \t\r\n.,;:!?*`'\"()[]{}<>_~"


class Reply(NamedTuple):
    """The parts of a reply a parser reads."""

    text: str
    """The visible text, at most `MAX_INSPECT` characters from its end, stripped."""
    complete: bool
    """Whether `text` is all of the visible text (False when a longer reply was cut)."""
    answer: str | None
    """The content of the last final-answer marker, or None when there is none (or it is blank)."""
    last_line: str
    """The last non-empty line of `text`, stripped."""


def lower_aligned(text: str) -> str:
    """`text.lower()` with the same length, so that positions in it are positions in `text`.
    (U+0130, the dotted capital I, is the only character whose lower case is two characters.)"""
    low = text.lower()
    if len(low) != len(text):
        low = text.replace("\u0130", "i").lower()
    return low


def blank(text: str) -> bool:
    """Whether `text` holds nothing but whitespace, brackets, quotes and markdown."""
    return not text.strip(_STRIP_CHARS)


def visible_text(text: object, limit: int | None = None) -> tuple[str, bool]:
    """The reply without its reasoning blocks and control characters, cut to its last `limit`
    characters; and whether that is all of it.

    `<think>...</think>` is reasoning; so is everything after a `<think>` that is never closed,
    and everything before a `</think>` that was never opened (templates that open the block in
    the prompt)."""
    if not isinstance(text, str):
        return "", True
    low = lower_aligned(text)
    last_close = low.rfind(_CLOSE)
    # An unclosed <think> hides the rest of the reply: cut there first (one search, not a loop).
    hidden = low.find(_OPEN, last_close + 1 if last_close >= 0 else 0)
    end = hidden if hidden >= 0 else len(text)
    start = 0 if limit is None else max(0, end - limit)
    tag = low.rfind("<", max(0, start - len(_CLOSE)), start)
    if tag >= 0 and low.startswith((_OPEN, _CLOSE), tag):
        start = tag  # do not cut a tag in two
    complete = start == 0
    pos = start
    inside = start > 0 and low.rfind(_OPEN, 0, start) > low.rfind(_CLOSE, 0, start)
    if start > 0 and not inside:
        # The cut fell inside a line: that fragment could be the tail of an echoed list of
        # moves that no longer looks like one. Start at the next full line, if there is one.
        newline = low.find("\n", start, end)
        pos = newline + 1 if newline >= 0 else start
    if inside:
        # The kept part starts inside a reasoning block: skip to its end. If the cut-off head is
        # that one block and nothing else, nothing visible was cut.
        first = low.find(_OPEN)
        complete = not text[:first].strip() and low.find(_CLOSE, 0, start) < 0
        close = low.find(_CLOSE, start, end)
        pos = close + len(_CLOSE) if close >= 0 else end
    pieces: list[str] = []
    opened = -1  # the next <think> at or after `pos` (`end` when there is none)
    while pos < end:
        # Each search starts where the last one left off, so every character is looked at a
        # bounded number of times however the tags repeat.
        if opened < pos:
            opened = low.find(_OPEN, pos, end)
            opened = end if opened < 0 else opened
        closed = low.find(_CLOSE, pos, opened)
        if closed >= 0:
            pieces, complete = [], True  # a stray close: everything before it was reasoning
            pos = closed + len(_CLOSE)
            continue
        pieces.append(text[pos:opened])
        if opened == end:
            break
        closed = low.find(_CLOSE, opened, end)
        pos = closed + len(_CLOSE) if closed >= 0 else end
    return _CONTROL_RE.sub(" ", " ".join(pieces)), complete


def _markers(text: str) -> list[tuple[int, int, int]]:
    """(start, content start, content end) of every answer marker in `text`, by position. A
    keyword marker's content end is -1: it runs to the end of its line (or the next line)."""
    found: list[tuple[int, int, int]] = []
    for m in _KEYWORD_RE.finditer(text):
        end = m.end()
        colon = _COLON_RE.match(text, end)
        if colon is not None:
            found.append((m.start(), colon.end(), -1))
            continue
        if m.group(1)[:1] in "fF":
            is_ = _IS_RE.match(text, end)
            if is_ is not None:
                found.append((m.start(), is_.end(), -1))
                continue
        if _is_heading(text, m.start(), end):
            found.append((m.start(), end, -1))
    for m in _BOXED_RE.finditer(text):
        found.append((m.start(), m.start(1), m.end(1)))
    low = lower_aligned(text)
    closes: list[int] = []
    pos = low.find(_TAG_CLOSE)
    while pos >= 0:
        closes.append(pos)
        pos = low.find(_TAG_CLOSE, pos + 1)
    pos = low.find(_TAG_OPEN)
    while pos >= 0:
        i = bisect_left(closes, pos)
        found.append((pos, pos + len(_TAG_OPEN), closes[i] if i < len(closes) else len(text)))
        pos = low.find(_TAG_OPEN, pos + 1)
    found.sort()
    return found


def _is_heading(text: str, start: int, end: int) -> bool:
    """Whether the keyword at text[start:end] stands alone on its line ("### Final Answer"),
    decorated at most with markdown: then the answer is on the next line."""
    line_start = text.rfind("\n", max(0, start - 12), start) + 1
    if line_start == 0 and start > 12:
        return False
    if text[line_start:start].strip(_DECORATION):
        return False
    rest = text[end : end + 16]
    newline = rest.find("\n")
    if newline >= 0:
        rest = rest[:newline]
    elif end + 16 < len(text):
        return False
    return not rest.strip(_DECORATION)


def extract_answer(text: str) -> str | None:
    """The content of the last answer marker in `text`, stripped; None when there is none.

    A keyword marker's content is the rest of its line, or the next non-empty line when that
    rest is blank ("Final answer:" then the move on the next line). A marker with blank content
    does not count; its content never runs into the next marker."""
    if not isinstance(text, str) or not text:
        return None
    limit = len(text)
    for start, content_start, content_end in reversed(_markers(text)):
        if content_end < 0:
            line_end = text.find("\n", content_start, limit)
            line_end = limit if line_end < 0 else line_end
            content = text[content_start:line_end]
            if blank(content):
                nxt = _NEXT_LINE_RE.match(text, line_end, limit)
                content = nxt.group(1) if nxt is not None else ""
        else:
            content = text[content_start : min(content_end, limit)]
        cut = lower_aligned(content).find(_TAG_CLOSE)
        if cut >= 0:
            content = content[:cut]
        if not blank(content):
            return content.strip()
        limit = start
    return None


def read_reply(text: object) -> Reply | None:
    """The parts of a model's reply a parser reads, or None when nothing visible is left."""
    visible, complete = visible_text(text, MAX_INSPECT)
    visible = visible.strip()
    if not visible:
        return None
    last_line = visible[visible.rfind("\n") + 1 :].strip()
    return Reply(visible, complete, extract_answer(visible), last_line)
