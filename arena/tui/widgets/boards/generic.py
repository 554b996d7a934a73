"""The fallback board for any other game (prisoners_dilemma, plug-in games): the observation
text and a list of the legal actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board


class GenericBoard(Board):
    """Observation and an OptionList of legal actions (enter or click plays one)."""

    DEFAULT_CSS = """
    GenericBoard { padding: 0 1; }
    GenericBoard #observation { height: 1fr; min-height: 3; }
    GenericBoard #legal-actions { height: auto; max-height: 10; }
    """

    def compose(self) -> ComposeResult:
        view = self.view
        if view is None:
            yield Static("")
            return
        with VerticalScroll(id="observation"):
            yield Static(literal(view.observation()))
        if view.legal:
            yield OptionList(
                *[Option(literal(a), id=str(i)) for i, a in enumerate(view.legal)],
                id="legal-actions",
            )
        else:
            yield Static(Text(self.turn_text()), classes="muted")
        yield Static(self.feedback_text(), classes="feedback")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.view is not None and event.option.id is not None:
            self.choose(self.view.legal[int(event.option.id)])
