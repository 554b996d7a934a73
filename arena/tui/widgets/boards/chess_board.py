"""The chess board: the position in unicode pieces (from your side), a SAN box (sent only when
the game's parser accepts the move) and a picker of the legal moves. The position comes from
the state's `fen()` and the score sheet from its `numbered_history()`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board

if TYPE_CHECKING:
    from games.chess_game import ChessState

PIECES = dict(zip("KQRBNPkqrbnp", "♔♕♖♗♘♙♚♛♜♝♞♟", strict=True))


def board_text(fen: str, black_view: bool) -> Text:
    """The piece placement of `fen` as a unicode board, rank 8 on top (rank 1 for Black)."""
    ranks = []
    for row in fen.split()[0].split("/"):
        squares: list[str] = []
        for ch in row:
            squares.extend(["."] * int(ch) if ch.isdigit() else [ch])
        ranks.append(squares)
    numbers = list(range(8, 0, -1))
    files = list("abcdefgh")
    if black_view:
        ranks = [list(reversed(r)) for r in reversed(ranks)]
        numbers.reverse()
        files.reverse()
    out = Text()
    for number, squares in zip(numbers, ranks, strict=True):
        out.append(f"{number} ", style="dim")
        for i, piece in enumerate(squares):
            shade = "on grey23" if (i + number) % 2 == 0 else "on grey35"
            glyph = PIECES.get(piece, " ")
            colour = "bold white" if piece.isupper() else "bold black"
            out.append(f" {glyph} ", style=f"{colour} {shade}")
        out.append("\n")
    out.append("   " + "  ".join(files), style="dim")
    return out


class ChessBoard(Board):
    """Unicode board, SAN input and legal-move picker."""

    DEFAULT_CSS = """
    ChessBoard { padding: 0 1; }
    ChessBoard > Horizontal { height: 1fr; }
    ChessBoard #squares { width: 28; height: 9; }
    ChessBoard #side { width: 1fr; padding-left: 1; }
    ChessBoard #legal-moves { height: 1fr; min-height: 3; }
    ChessBoard #history { height: auto; max-height: 3; color: $text-muted; }
    ChessBoard #error { color: $error; height: auto; }
    """

    def compose(self) -> ComposeResult:
        view = self.view
        if view is None:
            yield Static("")
            return
        state: ChessState = view.state  # type: ignore[assignment]
        with Horizontal():
            yield Static(board_text(state.fen(), view.seat == 1), id="squares")
            with Vertical(id="side"):
                side = "White" if view.seat == 0 else "Black"
                yield Static(Text(f"You play {side} ({self.turn_text()})"))
                if state.is_terminal():
                    yield Static(Text(state.result_text(view.seat)), id="result")
                if view.legal:
                    yield Input(placeholder="move in SAN, e.g. Nf3", id="san")
                    yield OptionList(
                        *[Option(literal(m), id=str(i)) for i, m in enumerate(view.legal)],
                        id="legal-moves",
                    )
                yield Static(self.feedback_text(), id="error")
        if state.history():
            yield Static(literal(state.numbered_history()), id="history")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        error = self.choose(event.value)
        if error is not None:
            # The reason quotes the move; the box is emptied so the next try starts clean.
            self.query_one("#error", Static).update(literal(f"Not accepted: {error}"))
            event.input.clear()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.view is not None and event.option.id is not None:
            self.choose(self.view.legal[int(event.option.id)])
