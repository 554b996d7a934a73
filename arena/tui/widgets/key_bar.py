"""`KeyBar`: the footer of every screen, in two parts so that nothing is cut at 80 columns.

One row holds the screen's own keys, the other the app's (sections, help, quit). A single
footer line cannot hold both at 80 columns (Textual cuts it off at the right, where the section
keys are), so below `WIDE` columns they take two rows, and side by side from `WIDE` on.
"""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

WIDE = 120
"""From this many columns the two rows of keys share one line (the app's breakpoints)."""


class KeysFooter(Footer):
    """A compact footer showing either the app's bindings or everyone else's."""

    def __init__(self, part: Literal["app", "screen"], **kwargs) -> None:
        super().__init__(compact=True, show_command_palette=part == "app", **kwargs)
        self.part = part

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        app_keys = {
            key for key, active in self.screen.active_bindings.items() if active.node is self.app
        }
        for widget in super().compose():
            if isinstance(widget, FooterKey) and "-command-palette" not in widget.classes:
                if (widget.key in app_keys) != (self.part == "app"):
                    continue
            yield widget


class KeyBar(Container):
    """The screen's keys and the app's keys, stacked when narrow, on one line when wide."""

    SCOPED_CSS = False  # the rules below depend on the screen's width class
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 2;
        layout: vertical;
        background: $footer-background;
        KeysFooter { dock: none; width: 1fr; }
    }
    Screen.-wide KeyBar {
        height: 1;
        layout: horizontal;
        KeysFooter.-screen { width: auto; max-width: 50%; }
    }
    Screen.-narrow KeyBar FooterKey.-command-palette { display: none; }
    """

    def compose(self) -> ComposeResult:
        yield KeysFooter("screen", classes="-screen")
        yield KeysFooter("app", classes="-app")
