"""The spy board: your word and the clues so far, a clue box (sent only when the game's parser
accepts the clue), and one button per legal vote."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board

_INSTRUCTIONS = ("Write one line", "It is your turn", "Suggested clues")


def as_clue(text: str) -> str:
    """Typed text as a clue move: "clue: " is added when the person left it out."""
    text = text.strip()
    return text if text.lower().startswith("clue:") else f"clue: {text}"


class SpyBoard(Board):
    """Clue input and vote buttons."""

    DEFAULT_CSS = """
    SpyBoard { padding: 0 1; }
    SpyBoard #clues { height: 1fr; min-height: 4; }
    SpyBoard #votes { height: auto; }
    SpyBoard #votes Button { margin-right: 1; min-width: 10; }
    SpyBoard #error { color: $error; height: auto; }
    SpyBoard #suggested { color: $text-muted; height: auto; }
    """

    def compose(self) -> ComposeResult:
        view = self.view
        if view is None:
            yield Static("")
            return
        lines = view.observation().splitlines()
        shown = [line for line in lines if not line.strip().startswith(_INSTRUCTIONS)]
        with VerticalScroll(id="clues"):
            yield Static(literal("\n".join(shown)))
        clues = [a for a in view.legal if a.startswith("clue:")]
        votes = [a for a in view.legal if a.startswith("vote:")]
        if clues:
            yield Input(placeholder="your clue (a few words, not your word)", id="clue")
            hint = ", ".join(c.removeprefix("clue: ") for c in clues)
            yield Static(literal(f"ideas: {hint}"), id="suggested")
        if votes:
            yield Static(Text("Who is the spy?"))
            with Horizontal(id="votes"):
                for i, vote in enumerate(votes):
                    button = Button(literal(vote.replace("vote: ", "player ")), id=f"vote-{i}")
                    button.move = vote  # type: ignore[attr-defined]
                    yield button
        if not view.legal:
            yield Static(Text(self.turn_text()), classes="muted")
        yield Static(self.feedback_text(), id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        error = self.choose(as_clue(event.value))
        if error is not None:
            self.query_one("#error", Static).update(literal(f"Not accepted: {error}"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        move = getattr(event.button, "move", None)
        if move is not None:
            self.choose(move)
