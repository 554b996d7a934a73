"""A model's reasoning kept apart from its answer, for free-text replies.

What counts as reasoning in a reply's text:
- the content of `<think>...</think>` blocks; an unclosed `<think>` makes the rest of the reply
  reasoning, and a `</think>` that was never opened makes everything before it reasoning (chat
  templates that open the block in the prompt), as the move parsers read it (`games.replies`);
- in what is left, the text written before the last answer marker (`Final answer:` in any
  case, or `The final answer is`), from the start of the marker's line when only markdown
  precedes it on that line (`**Final answer:** b2`).
The answer is the rest: from the marker on, or the whole visible text when there is no marker.
Everything here takes time linear in the reply's length (a reply is untrusted and may be huge).
"""

from __future__ import annotations

import re

from games.replies import lower_aligned

_OPEN, _CLOSE = "<think>", "</think>"
_MARKER_RE = re.compile(
    r"(?<!\w)(?:(?:the|my)[ \t]{1,3})?final[ \t]{1,3}answer[ \t*_]{0,6}"
    r"(?::|is\b(?![ \t]{0,4}(?:not|unclear|uncertain|still|yet)\b))",
    re.IGNORECASE,
)
_DECORATION = " \t*_#>-"


def _think_blocks(text: str) -> tuple[list[str], str]:
    """(the reasoning pieces in reply order, the visible text with the blocks removed)."""
    low = lower_aligned(text)
    n = len(text)
    parts: list[tuple[bool, str]] = []  # (is reasoning, piece)
    cut = 0  # parts before this index are reasoning (a stray close turned them into it)
    pos = 0
    opened = closed = -2  # cached searches: each one is redone only once passed
    while pos < n:
        if opened != -1 and opened < pos:
            opened = low.find(_OPEN, pos)
        if closed != -1 and closed < pos:
            closed = low.find(_CLOSE, pos)
        if closed >= 0 and (opened < 0 or closed < opened):
            parts.append((True, text[pos:closed]))  # a close never opened
            cut = len(parts)
            pos = closed + len(_CLOSE)
            continue
        if opened < 0:
            parts.append((False, text[pos:]))
            break
        parts.append((False, text[pos:opened]))
        start = opened + len(_OPEN)
        closed = low.find(_CLOSE, start)
        if closed < 0:
            parts.append((True, text[start:]))  # never closed: the rest is reasoning
            break
        parts.append((True, text[start:closed]))
        pos = closed + len(_CLOSE)
    thoughts = [p for i, (thought, p) in enumerate(parts) if thought or i < cut]
    visible = "".join(p for i, (thought, p) in enumerate(parts) if not thought and i >= cut)
    return thoughts, visible


def split_reasoning(text: str | None) -> tuple[str | None, str]:
    """(the reasoning written in `text`, or None when there is none; the answer).

    A reply without reasoning comes back unchanged as the answer."""
    if not text:
        return None, text or ""
    low = lower_aligned(text)
    if _OPEN not in low and _CLOSE not in low and _MARKER_RE.search(text) is None:
        return None, text
    thoughts, visible = _think_blocks(text)
    marker = None
    for found in _MARKER_RE.finditer(visible):
        marker = found  # the last one is the answer's
    if marker is not None:
        start = marker.start()
        line_start = visible.rfind("\n", 0, start) + 1
        if not visible[line_start:start].strip(_DECORATION):
            start = line_start
        thoughts.append(visible[:start])
        visible = visible[start:]
    reasoning = join_reasoning(*thoughts)
    if reasoning is None and visible == text:
        return None, text
    return reasoning, visible.strip()


def join_reasoning(*parts: str | None) -> str | None:
    """The non-blank parts, stripped, one paragraph each; None when there is none."""
    kept = [p.strip() for p in parts if p and p.strip()]
    return "\n\n".join(kept) if kept else None


def answer_of(reply: str | None) -> str | None:
    """What of a stored reply is its answer (the reply without the reasoning written in it)."""
    if reply is None:
        return None
    return split_reasoning(reply)[1]


def reasoning_of_record(reasoning: str | None, reply: str | None) -> str | None:
    """A stored attempt's reasoning: the `reasoning` column joined with whatever reasoning is
    still written in the reply (records made before free-text replies were split keep it
    there)."""
    written, _ = split_reasoning(reply)
    if written is None:
        return reasoning
    if reasoning and written in reasoning:
        return reasoning
    return join_reasoning(reasoning, written)
