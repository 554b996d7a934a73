"""One sanitiser for everything from outside that reaches a terminal.

Model replies, server error messages, player and tournament names, config values and job logs
are untrusted text. Before any of it is shown, every character a terminal could act on is made
visible instead: C0 controls (ESC, BEL, CR, backspace ...), DEL, the C1 controls (U+0080-U+009F,
among them U+009B, the one-byte CSI) and the bidirectional overrides and isolates that reorder
what is shown (U+202E ...). They appear as Python-style escapes (`\\x1b`, `\\x9b`, `\\u202e`).

`visible` keeps newlines and tabs (multi-line text such as a reply); `one_line` also shows
them, for messages and table cells. `json_dumps` writes JSON whose strings carry every such
character as a `\\uXXXX` escape, so `--json` output and exports are safe to print too.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Characters that reorder or hide text on screen: the bidi embeddings, overrides, isolates and
# marks (Trojan Source, CVE-2021-42574), and the line and paragraph separators.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
_UNSAFE_CLASS = "\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI
_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
_UNSAFE_OR_SPACE = re.compile(f"[{_UNSAFE_CLASS}\n\t]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """`text` with every control, C1 and bidi character shown as an escape; newlines and tabs
    are kept. Anything that is not a string is shown as its `str()`."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escape, s)


def one_line(text: object, limit: int | None = None) -> str:
    """`visible(text)` on one line (newlines and tabs shown as escapes too), cut to `limit`
    characters with an ellipsis."""
    s = text if isinstance(text, str) else str(text)
    out = _UNSAFE_OR_SPACE.sub(_escape, s)
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)] + "…"
    return out


def has_unsafe(text: str) -> bool:
    """Whether `text` holds any character that `visible` would escape."""
    return _UNSAFE.search(text) is not None


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_dumps(data: Any, **kwargs: Any) -> str:
    """`json.dumps(data, ensure_ascii=False, **kwargs)` with every control, C1 and bidi character
    written as a `\\uXXXX` escape (JSON itself only escapes U+0000-U+001F). Outside strings JSON
    is plain ASCII, so the replacement only ever touches string contents."""
    kwargs.setdefault("ensure_ascii", False)
    text = json.dumps(data, **kwargs)
    return _UNSAFE.sub(_json_escape, text)
