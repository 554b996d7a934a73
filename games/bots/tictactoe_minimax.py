"""Perfect tic-tac-toe: exhaustive minimax with memoisation.

The policy is uniform over the moves with the best value; among equal outcomes it prefers the
quickest win and the slowest loss, so the bot never toys with a won position.
"""

from __future__ import annotations

from functools import cache

from games.bots.base import Bot
from games.core import State
from games.tictactoe import LINES, SQUARES


def _winner(board: str) -> str:
    for a, b, c in LINES:
        if board[a] != "." and board[a] == board[b] == board[c]:
            return board[a]
    return ""


@cache
def _value(board: str, mark: str) -> int:
    """Value for the side `mark` to move: positive wins (larger = sooner), 0 draw."""
    other = "o" if mark == "x" else "x"
    best = -100
    empties = [i for i, m in enumerate(board) if m == "."]
    for i in empties:
        child = board[:i] + mark + board[i + 1 :]
        if _winner(child):
            score = 10 + len(empties)  # win now; more empty squares = sooner
        elif len(empties) == 1:
            score = 0
        else:
            score = -_value(child, other)
        best = max(best, score)
    return best


def move_values(board: str, mark: str) -> dict[str, int]:
    """The minimax value of each legal move for `mark` on `board` (9 chars of x/o/.)."""
    other = "o" if mark == "x" else "x"
    empties = [i for i, m in enumerate(board) if m == "."]
    values = {}
    for i in empties:
        child = board[:i] + mark + board[i + 1 :]
        if _winner(child):
            values[SQUARES[i]] = 10 + len(empties)
        elif len(empties) == 1:
            values[SQUARES[i]] = 0
        else:
            values[SQUARES[i]] = -_value(child, other)
    return values


class TicTacToeMinimax(Bot):
    """Never loses; uniform over the best moves."""

    name = "minimax"

    def policy(self, state: State) -> dict[str, float]:
        board = "".join(m or "." for m in state.board)  # type: ignore[attr-defined]
        mark = "x" if state.current_player() == 0 else "o"
        values = move_values(board, mark)
        best = max(values.values())
        top = [a for a in state.legal_actions() if values[a] == best]
        return {a: 1.0 / len(top) for a in top}
