"""Model output is untrusted: show it literally. No Rich markup is parsed, and terminal escape
sequences and other control characters are made visible instead of reaching the terminal."""

from __future__ import annotations

from rich.text import Text

_KEEP = {"\n", "\t"}


def visible(text: str) -> str:
    """`text` with every control character (ESC, BEL, CR, C1 codes, ...) shown as an escape."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _KEEP or (code >= 0x20 and code != 0x7F and not 0x80 <= code < 0xA0):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def literal(text: str | None, style: str = "") -> Text:
    """A Rich `Text` that displays `text` exactly (markup like [bold] stays as typed)."""
    return Text(visible(text or ""), style=style, end="")
