"""Model output is untrusted: show it literally. No Rich markup is parsed, and terminal escape
sequences, control characters and bidi overrides are made visible (by the one sanitiser,
`arena.safe_text`) instead of reaching the terminal."""

from __future__ import annotations

from rich.text import Text

from arena.safe_text import visible

__all__ = ["literal", "visible"]


def literal(text: str | None, style: str = "") -> Text:
    """A Rich `Text` that displays `text` exactly (markup like [bold] stays as typed)."""
    return Text(visible(text or ""), style=style, end="")
