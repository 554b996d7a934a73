"""Board widgets for the Play section, one module per board family.

`make_board(game_id)` gives the board for a game (a generic one for games without their own).
Boards show a `BoardView` and post `MoveChosen(action)`; they never hold rules.
"""

from __future__ import annotations

import importlib

from arena.tui.widgets.boards.base import Board, BoardView, MoveChosen

# game id -> "module:Class" under arena.tui.widgets.boards (imported on first use)
BOARDS: dict[str, str] = {
    "tictactoe": "grid:GridBoard",
    "connect_four": "grid:GridBoard",
    "kuhn_poker": "poker:PokerBoard",
    "leduc_poker": "poker:PokerBoard",
    "liars_dice": "dice:LiarsDiceBoard",
    "negotiation": "negotiation:NegotiationBoard",
    "spy": "spy:SpyBoard",
    "chess": "chess_board:ChessBoard",
}
GENERIC = "generic:GenericBoard"


def board_class(game_id: str) -> type[Board]:
    """The board widget class for `game_id`."""
    module, _, name = BOARDS.get(game_id, GENERIC).partition(":")
    return getattr(importlib.import_module(f"arena.tui.widgets.boards.{module}"), name)


def make_board(game_id: str, *, id: str | None = None) -> Board:
    """A new board widget for `game_id`."""
    return board_class(game_id)(id=id)


__all__ = ["BOARDS", "Board", "BoardView", "MoveChosen", "board_class", "make_board"]
