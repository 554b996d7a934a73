"""What every board widget shares: the view it is given and the message it posts.

A board is told what to show (a `BoardView`: the state from one seat's view, and the legal
moves when it is that seat's turn) and posts `MoveChosen(action)` up when the person picks a
move. It holds no rules: legal moves come from the match's pending turn, free text goes through
the game's own `parse_action`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Select

from arena.tui.safe import literal
from games import Parsed

if TYPE_CHECKING:
    from games import Game, State


MOVE_CONTROLS = (Input, Button, Select, OptionList)


@dataclass(frozen=True)
class BoardView:
    """One seat's view of a position; `legal` is empty unless that seat is to move."""

    game: Game
    state: State
    seat: int
    legal: tuple[str, ...] = ()
    feedback: str | None = None  # why the previous attempt was not accepted

    @property
    def my_turn(self) -> bool:
        return bool(self.legal)

    def observation(self) -> str:
        """What the seat may know, as the game words it (never the referee's view)."""
        return self.state.observation(self.seat)

    def parse(self, text: str) -> Parsed:
        """`text` as a legal action of this turn, through the game's parser."""
        if not self.legal:
            return Parsed.illegal("it is not your turn")
        text = text.strip()
        if text in self.legal:
            return Parsed.legal(text)
        if not text:
            return Parsed.illegal("type a move first")
        return self.game.parse_action(self.state, text)


class MoveChosen(Message):
    """The person picked `action` (already checked legal by the board)."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action


class Board(Widget):
    """Base of the board widgets: `show(view)` down, `MoveChosen` up."""

    DEFAULT_CSS = """
    Board { height: 1fr; width: 1fr; }
    Board .feedback { color: $error; height: auto; }
    Board .muted { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view: BoardView | None = None

    def show(self, view: BoardView) -> None:
        """Show `view` (the screen calls this after every move and at each of your turns)."""
        self.view = view
        if self.is_mounted:
            self.update_view()

    def on_mount(self) -> None:
        if self.view is not None:
            self.update_view()

    def update_view(self) -> None:
        """Redraw from `self.view`. The default recomposes the widget."""
        self.refresh(recompose=True)

    async def recompose(self) -> None:
        await super().recompose()
        # Recomposing removes the focused control: give the new move controls the focus.
        if self.view is not None and self.view.my_turn:
            self.call_after_refresh(self.focus_controls)

    def focus_controls(self) -> None:
        """Focus the first control that can take a move."""
        for widget in self.query("*"):
            # Scrolling panes can take focus too, but they take no move.
            if widget.focusable and isinstance(widget, MOVE_CONTROLS):
                widget.focus()
                return

    def choose(self, text: str) -> str | None:
        """Post `MoveChosen` when `text` is a legal move now; return the reason when not.
        Input stops until the next view, so one turn cannot be answered twice."""
        if self.view is None:
            return "no game"
        parsed = self.view.parse(text)
        if not parsed.ok:
            return parsed.error or "not a legal move"
        self.view = replace(self.view, legal=())
        self.post_message(MoveChosen(parsed.action))
        self.update_view()
        return None

    def turn_text(self) -> str:
        """A few words on whose turn it is (or that the game is over)."""
        if self.view is None:
            return ""
        if self.view.state.is_terminal():
            return "game over"
        return "your move" if self.view.my_turn else "waiting for the other side…"

    def feedback_text(self) -> Text:
        """The rejection of the previous attempt, if any (it may quote typed text)."""
        if self.view is None or not self.view.feedback:
            return Text("")
        return literal(f"Not accepted: {self.view.feedback}")
