"""Tic-tac-toe: the reference implementation of the game API (small, fast, complete).

Squares are named like a chess board: columns a-c from left to right, rows 1-3 from bottom to
top, so `a3` is the top-left corner and `c1` the bottom-right. X (seat 0) moves first.
"""

from __future__ import annotations

import re

from games.core import TERMINAL, Game, IllegalActionError, Parsed, State
from games.parsing import format_moves, parse_from_legal

# Index 0..8 reads the printed board top-left to bottom-right.
SQUARES = ("a3", "b3", "c3", "a2", "b2", "c2", "a1", "b1", "c1")
INDEX = {sq: i for i, sq in enumerate(SQUARES)}
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
LINES_THROUGH = tuple(tuple(line for line in LINES if i in line) for i in range(9))
MARKS = ("x", "o")
_SQUARE_RE = re.compile(r"(?<![a-z0-9])([a-c])\s*([1-3])(?![0-9])")
# Anything written like a square, on the board or off it: a letter, then a number ("j9", "a4").
_SQUARE_LIKE_RE = re.compile(r"(?<![a-z0-9])([a-z])(\s*)(\d{1,3})(?![0-9])")


def _is_square(text: str) -> bool:
    """Whether a normalized text is a square's name (taken or not): an item of a list of moves."""
    return len(text) <= 3 and _SQUARE_RE.fullmatch(text) is not None


RULES = """\
Tic-tac-toe on a 3x3 board. Two players take turns: X moves first, then O.
On your turn, put your mark in an empty square. Squares are named by column (a, b, c from left
to right) and row (1, 2, 3 from bottom to top): a3 is the top-left corner, b2 the centre, c1 the
bottom-right corner.
The first player with three marks in a row (horizontally, vertically or diagonally) wins.
If all nine squares fill up with no line, the game is a draw.
A move is the name of an empty square, for example: b2"""


class TicTacToeState(State):
    __slots__ = ("game", "board", "player", "moves", "winner")

    def __init__(self, game: TicTacToe) -> None:
        self.game = game
        self.board = [""] * 9
        self.player = 0  # seat to move, or TERMINAL
        self.moves: list[str] = []
        self.winner = -1

    def current_player(self) -> int:
        return self.player

    def legal_actions(self) -> list[str]:
        if self.player < 0:
            return []
        board = self.board
        return [SQUARES[i] for i in range(9) if not board[i]]

    def apply(self, action: str) -> None:
        i = INDEX.get(action, -1)
        if self.player < 0 or i < 0 or self.board[i]:
            raise IllegalActionError(f"illegal tictactoe move {action!r}")
        board = self.board
        mark = MARKS[self.player]
        board[i] = mark
        self.moves.append(action)
        for a, b, c in LINES_THROUGH[i]:
            if board[a] == mark and board[b] == mark and board[c] == mark:
                self.winner = self.player
                self.player = TERMINAL
                return
        self.player = TERMINAL if len(self.moves) == 9 else 1 - self.player

    def returns(self) -> list[float]:
        if self.winner < 0:
            return [0.0, 0.0]
        return [1.0, -1.0] if self.winner == 0 else [-1.0, 1.0]

    def clone(self) -> TicTacToeState:
        other = TicTacToeState.__new__(TicTacToeState)
        other.game = self.game
        other.board = self.board[:]
        other.player = self.player
        other.moves = self.moves[:]
        other.winner = self.winner
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def information_state(self, player: int) -> str:
        # Perfect information: the move list is all there is to know.
        return " ".join(self.moves) or "-"

    def grid(self) -> list[list[str]]:
        """The board as rows of "X", "O" or "" (empty), top row (3) first, columns a to c:
        what a board widget draws (public, like the whole position)."""
        return [[m.upper() for m in self.board[3 * r : 3 * r + 3]] for r in range(3)]

    def board_text(self) -> str:
        rows = []
        for r in range(3):
            cells = [(self.board[3 * r + c] or ".").upper() for c in range(3)]
            rows.append(f"{3 - r} " + " ".join(cells))
        rows.append("  a b c")
        return "\n".join(rows)

    def observation(self, player: int) -> str:
        lines = [f"You are {MARKS[player].upper()} (player {player}).", "Board:", self.board_text()]
        if self.moves:
            lines.append("Moves so far: " + " ".join(self.moves))
        if self.player == TERMINAL:
            if self.winner < 0:
                lines.append("The game is over: a draw.")
            else:
                who = "You" if self.winner == player else "Your opponent"
                lines.append(f"The game is over: {who} won.")
        elif self.player == player:
            lines.append(f"It is your turn. Legal moves: {', '.join(self.legal_actions())}")
        else:
            lines.append(f"It is {MARKS[self.player].upper()}'s turn.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.board_text()


class TicTacToe(Game):
    id = "tictactoe"
    name = "Tic-tac-toe"
    can_draw = True
    description = "Three in a row on a 3x3 board."
    BOTS = {"minimax": "games.bots.tictactoe_minimax:TicTacToeMinimax"}

    def seat_names(self) -> tuple[str, ...]:
        """X moves first; the board marks the seats X and O."""
        return tuple(m.upper() for m in MARKS)

    def rules(self) -> str:
        return RULES

    def new_initial_state(self) -> TicTacToeState:
        return TicTacToeState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        return parse_from_legal(
            text,
            state.legal_actions(),
            explain=lambda c: self.explain_illegal(state, c),
            move_like=_is_square,
        )

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        """Why a reply naming a square (the last one it names) is refused: the square is off
        the board or taken. None, for the generic message, when the reply names no square, or
        names a free one in a form the parser did not take as a move ("a1b", "a1a4")."""
        last = None
        for col, space, row in _SQUARE_LIKE_RE.findall(candidate.lower()):
            on_board = col in "abc" and row in ("1", "2", "3")
            if on_board or not space:  # off the board only when written as one word: "j9"
                last = (col + row, on_board)
        if last is None:
            return None
        square, on_board = last
        legal = format_moves(state.legal_actions())
        if not on_board:
            return f"{square} is not a square of the board (a1-c3); legal moves: {legal}"
        if isinstance(state, TicTacToeState) and state.board[INDEX[square]]:
            return f"{square} is taken; legal moves: {legal}"
        return None
