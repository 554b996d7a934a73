"""Connect Four: drop discs into columns; the first to line up `connect` of them wins.

Columns are numbered 1..columns from left to right; a move is a column number. X (seat 0) moves
first. The default board is 6 rows by 7 columns with four in a row to win.

The position is kept as two bitboards (one per seat) plus column heights, the layout many
Connect Four engines use: column `c` owns bits `c*(rows+1) .. c*(rows+1)+rows-1`, and the spare
bit on top of each column keeps shifted lines from wrapping into the next column. A win is then
a few shifts and ands on the mover's bitboard, which keeps random playouts fast.
"""

from __future__ import annotations

import re

from games.core import TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.parsing import format_moves, normalize, parse_from_legal

MARKS = ("X", "O")
MAX_SIZE = 12
_NUMBER_RE = re.compile(r"(?<![\w.])(-?\d+)(?![\w])")
_LETTER_RE = re.compile(r"^(?:column|col)? ?([a-z])$")
# A column named by itself, in any spelling: an item of a list of moves.
_COLUMN_RE = re.compile(r"(?:column|col\.?|column no\.|column #|column number|#)? ?(\d{1,3}|[a-z])")


def _is_column(text: str) -> bool:
    """Whether a normalized text names a column by itself (full, missing or legal)."""
    return len(text) <= 20 and _COLUMN_RE.fullmatch(text) is not None


RULES = """\
Connect Four on a board of {rows} rows and {columns} columns. Two players take turns: X moves
first, then O. On your turn, drop one of your discs into a column that is not full: it falls to
the lowest empty cell of that column.
The first player with {connect} discs in a row (horizontally, vertically or diagonally) wins.
If the board fills up with no such line, the game is a draw.
Columns are numbered 1 to {columns} from left to right (the numbers are printed under the board);
rows are numbered 1 (bottom) to {rows} (top).
A move is the number of a column that is not full, for example: {example}"""


class Geometry:
    """Everything about a board size that can be computed once per game."""

    __slots__ = (
        "rows",
        "columns",
        "connect",
        "height",
        "cells",
        "labels",
        "index",
        "bits",
        "shifts",
        "aliases",
        "letter_aliases",
        "order",
    )

    def __init__(self, rows: int, columns: int, connect: int) -> None:
        self.rows = rows
        self.columns = columns
        self.connect = connect
        self.height = rows + 1  # one spare bit per column
        self.cells = rows * columns
        self.labels = tuple(str(c + 1) for c in range(columns))
        self.index = {label: c for c, label in enumerate(self.labels)}
        # bits[c][r]: the bit of column c, row r (0 = bottom).
        self.bits = tuple(
            tuple(1 << (c * self.height + r) for r in range(rows)) for c in range(columns)
        )
        # Vertical, horizontal and the two diagonals.
        self.shifts = (1, self.height, self.height + 1, self.height - 1)
        aliases: dict[str, str] = {}
        for label in self.labels:
            for prefix in ("column", "col", "col.", "column no.", "column #", "column number"):
                aliases[f"{prefix} {label}"] = label
            aliases[f"#{label}"] = label
        self.aliases = aliases
        letters: dict[str, str] = {}
        for c, label in enumerate(self.labels[:26]):
            letter = chr(ord("a") + c)
            for prefix in ("", "column ", "col "):
                letters[prefix + letter] = label
        self.letter_aliases = letters
        # Centre columns first: the natural move order for search.
        mid = (columns - 1) / 2
        self.order = tuple(sorted(range(columns), key=lambda c: (abs(c - mid), c)))

    def is_win(self, board: int) -> bool:
        """Whether `board` (one seat's discs) holds `connect` in a row."""
        k = self.connect
        for s in self.shifts:
            m = board
            for i in range(1, k):
                m &= board >> (i * s)
                if not m:
                    break
            if m:
                return True
        return False


def is_win4(board: int, shifts: tuple[int, int, int, int]) -> bool:
    """Four in a row on `board`, by doubling: pairs, then pairs of pairs."""
    for s in shifts:
        m = board & (board >> s)
        if m & (m >> (s + s)):
            return True
    return False


class ConnectFourState(State):
    __slots__ = ("game", "geo", "boards", "heights", "player", "moves", "winner", "legal")

    def __init__(self, game: ConnectFour) -> None:
        self.game = game
        geo = game.geometry
        self.geo = geo
        self.boards = [0, 0]  # bitboard of each seat's discs
        self.heights = [0] * geo.columns  # discs in each column
        self.player = 0  # seat to move, or TERMINAL
        self.moves: list[str] = []
        self.winner = -1
        self.legal = list(geo.labels)  # columns not full, kept up to date by `apply`

    def current_player(self) -> int:
        return self.player

    def legal_actions(self) -> list[str]:
        if self.player < 0:
            return []
        return self.legal[:]

    def apply(self, action: str) -> None:
        geo = self.geo
        c = geo.index.get(action, -1) if isinstance(action, str) else -1
        player = self.player
        if c < 0 or player < 0:
            raise IllegalActionError(f"illegal connect_four move {action!r}")
        heights = self.heights
        h = heights[c]
        if h >= geo.rows:
            raise IllegalActionError(f"illegal connect_four move {action!r}: the column is full")
        heights[c] = h + 1
        board = self.boards[player] | geo.bits[c][h]
        self.boards[player] = board
        moves = self.moves
        moves.append(action)
        if len(moves) >= 2 * geo.connect - 1 and (
            is_win4(board, geo.shifts) if geo.connect == 4 else geo.is_win(board)
        ):
            self.winner = player
            self.player = TERMINAL
            return
        if h + 1 == geo.rows:
            self.legal.remove(action)
            if not self.legal:
                self.player = TERMINAL
                return
        self.player = 1 - player

    def returns(self) -> list[float]:
        if self.winner < 0:
            return [0.0, 0.0]
        return [1.0, -1.0] if self.winner == 0 else [-1.0, 1.0]

    def clone(self) -> ConnectFourState:
        other = ConnectFourState.__new__(ConnectFourState)
        other.game = self.game
        other.geo = self.geo
        other.boards = self.boards[:]
        other.heights = self.heights[:]
        other.player = self.player
        other.moves = self.moves[:]
        other.winner = self.winner
        other.legal = self.legal[:]
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def information_state(self, player: int) -> str:
        # Perfect information: the move list is all there is to know.
        return " ".join(self.moves) or "-"

    def cell(self, column: int, row: int) -> str:
        """'X', 'O' or '.' at a 0-based column and row (row 0 is the bottom)."""
        bit = self.geo.bits[column][row]
        if self.boards[0] & bit:
            return MARKS[0]
        if self.boards[1] & bit:
            return MARKS[1]
        return "."

    def grid(self) -> list[list[str]]:
        """The board as rows of "X", "O" or "" (empty), top row first, columns left to right:
        what a board widget draws (public, like the whole position)."""
        geo = self.geo
        return [
            [mark if (mark := self.cell(c, r)) != "." else "" for c in range(geo.columns)]
            for r in range(geo.rows - 1, -1, -1)
        ]

    def board_text(self) -> str:
        """The board as rows of cells, top row first, row numbers left, column numbers under."""
        geo = self.geo
        cw = len(str(geo.columns))  # cell width, so two-digit column numbers line up
        rw = len(str(geo.rows))
        lines = []
        for r in range(geo.rows - 1, -1, -1):
            cells = " ".join(self.cell(c, r).rjust(cw) for c in range(geo.columns))
            lines.append(f"{str(r + 1).rjust(rw)} | {cells} |")
        lines.append(" " * rw + " +-" + "-" * (len(cells) + 1) + "+")
        lines.append(" " * rw + "   " + " ".join(label.rjust(cw) for label in geo.labels))
        return "\n".join(lines)

    def observation(self, player: int) -> str:
        geo = self.geo
        lines = [
            f"You are {MARKS[player]} (player {player}); X moves first. "
            f"Connect {geo.connect} in a row to win.",
            "Board (row 1 is the bottom; column numbers are under the board):",
            self.board_text(),
        ]
        if self.moves:
            lines.append("Moves so far (columns): " + " ".join(self.moves))
            last = len(self.moves) - 1
            lines.append(f"Last move: {MARKS[last % 2]} in column {self.moves[-1]}.")
        if self.player == TERMINAL:
            if self.winner < 0:
                lines.append("The game is over: a draw (the board is full).")
            else:
                who = "You" if self.winner == player else "Your opponent"
                lines.append(f"The game is over: {who} ({MARKS[self.winner]}) won.")
        elif self.player == player:
            lines.append(f"It is your turn. Legal moves: {', '.join(self.legal)}")
        else:
            lines.append(f"It is {MARKS[self.player]}'s turn.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.board_text()


class ConnectFour(Game):
    id = "connect_four"
    name = "Connect Four"
    can_draw = True
    description = "Drop discs into a 6x7 grid; four in a row wins."
    PARAMS = {"rows": 6, "columns": 7, "connect": 4}
    BOTS = {"minimax": "games.bots.connect_four_minimax:ConnectFourMinimax"}

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.geometry = Geometry(
            self.params["rows"], self.params["columns"], self.params["connect"]
        )

    def validate_params(self) -> None:
        rows, columns, connect = self.params["rows"], self.params["columns"], self.params["connect"]
        for key, value in (("rows", rows), ("columns", columns)):
            if not 2 <= value <= MAX_SIZE:
                raise GameParamError(
                    f"{self.id}: {key} must be between 2 and {MAX_SIZE}, got {value}"
                )
        longest = max(rows, columns)
        if not 2 <= connect <= longest:
            raise GameParamError(
                f"{self.id}: connect must be between 2 and the longer side of the board "
                f"({longest}), got {connect}"
            )

    def seat_names(self) -> tuple[str, ...]:
        """The board marks the seats X and O; X drops first."""
        return MARKS

    def rules(self) -> str:
        geo = self.geometry
        return RULES.format(
            rows=geo.rows,
            columns=geo.columns,
            connect=geo.connect,
            example=geo.labels[geo.order[0]],
        )

    def new_initial_state(self) -> ConnectFourState:
        return ConnectFourState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        geo = self.geometry
        return parse_from_legal(
            text,
            state.legal_actions(),
            aliases=geo.aliases,
            explain=lambda c: self.explain_illegal(state, c),
            # A bare column letter ("d", "column d") names column 4, but only as the whole
            # answer: "a" inside a sentence is usually the article.
            exact_aliases=geo.letter_aliases,
            move_like=_is_column,
        )

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        letter = _LETTER_RE.match(normalize(candidate))
        if letter is not None:
            n = ord(letter.group(1)) - ord("a") + 1
            written = letter.group(1)  # "column h": say h, not 8
        else:
            numbers = _NUMBER_RE.findall(candidate)
            if not numbers or len(numbers[-1]) > 4:
                return None
            n = int(numbers[-1])
            written = str(n)
        legal = state.legal_actions()
        columns = self.geometry.columns
        if not 1 <= n <= columns:
            return (
                f"there is no column {written}: columns are numbered 1 to {columns}; "
                f"legal moves: {format_moves(legal)}"
            )
        if str(n) not in legal:
            return f"column {n} is full; legal moves: {format_moves(legal)}"
        return None
