"""Model output is untrusted: show it literally. No Rich markup is parsed, and terminal escape
sequences, control characters and bidi overrides are made visible (by the one sanitiser,
`arena.safe_text`) instead of reaching the terminal."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from arena.safe_text import one_line, visible

__all__ = ["literal", "show_error", "tell", "visible"]


def literal(text: str | None, style: str = "") -> Text:
    """A Rich `Text` that displays `text` exactly (markup like [bold] stays as typed)."""
    return Text(visible(text or ""), style=style, end="")


def tell(
    widget: Any,
    message: object,
    *,
    severity: str = "information",
    title: str = "",
    timeout: float | None = None,
) -> None:
    """The app's one way to show a message or an error a user can fix: a toast whose text is
    sanitised and never read as markup (it may hold names, paths or a server's words)."""
    widget.notify(
        one_line(message, 500),
        title=one_line(title, 80),
        severity=severity,
        markup=False,
        **({} if timeout is None else {"timeout": timeout}),
    )


def show_error(widget: Any, error: BaseException | str, *, title: str = "") -> None:
    """`tell` for an error: its message, sanitised, as an error toast."""
    tell(widget, str(error) or type(error).__name__, severity="error", title=title)
