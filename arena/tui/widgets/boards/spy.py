"""The spy board: your word and the clues so far, a clue box (sent only when the game's parser
accepts the clue), and one button per legal vote.

What it draws comes from the state (`games.spy.SpyState`): your own `word` and `vote_of` (the
others' words and votes only once the game is over), the public `clues_given` and
`votes_cast`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board

if TYPE_CHECKING:
    from games.spy import SpyState


def clue_lines(state: SpyState, seat: int) -> list[str]:
    """What `seat` may see: its own word, the clues, the vote count and its own vote; every
    vote, the spy and both words once the game is over."""
    n = state.game.num_players
    word = state.word(seat)
    lines = [f"You are player {seat} of {n}. Your word: {word or '(not dealt yet)'}"]
    clues = state.clues_given()
    lines.append("Clues:" if clues else "Clues: none yet.")
    for i, (speaker, clue) in enumerate(clues):
        you = " (you)" if speaker == seat else ""
        lines.append(f"  round {i // n + 1}, player {speaker}{you}: {clue}")
    cast = state.votes_cast()
    if state.is_terminal():
        votes = ", ".join(f"player {s} -> player {state.vote_of(s)}" for s in range(n))
        out = state.eliminated()
        lines.append(f"Votes: {votes}.")
        lines.append("Tied vote: nobody is out." if out < 0 else f"Player {out} is out.")
        lines.append(
            f"The spy was player {state.spy} (word: {state.spy_word}); "
            f"the civilians' word was {state.civ}."
        )
        lines.append("The civilians win." if out == state.spy else "The spy wins.")
    elif cast:
        lines.append(f"Votes cast: {cast} of {n}.")
        mine = state.vote_of(seat)
        if mine is not None:
            lines.append(f"Your vote: player {mine}.")
    return lines


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
        shown = clue_lines(view.state, view.seat)  # type: ignore[arg-type]
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
