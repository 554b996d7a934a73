"""Grid boards (tictactoe, connect_four): clickable cells, a keyboard cursor (arrows move it,
enter or space plays), cells that are not legal moves now are disabled.

Each cell stands for one action string (a square like "b2", or a column like "4"); the marks
come from the state's `grid()` (rows of "X", "O" or ""), so the widget keeps no game rules."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Static

from arena.tui.widgets.boards.base import Board, BoardView

MARKS = ("X", "O")


@dataclass(frozen=True)
class GridLayout:
    """How a grid game maps onto cells: rows of action labels and the marks in them."""

    rows: int
    columns: int
    actions: list[str]  # row-major, top row first: the action each cell plays
    marks: list[str]  # row-major: "X", "O" or ""
    cell_width: int
    cell_height: int
    column_cursor: bool  # the cursor marks a whole column (connect_four drops in a column)
    footer: list[str]  # labels under the columns (empty: none)


def _marks(view: BoardView) -> list[list[str]]:
    return view.state.grid()  # type: ignore[attr-defined]


def tictactoe_layout(view: BoardView) -> GridLayout:
    actions = [f"{c}{r}" for r in (3, 2, 1) for c in "abc"]
    marks = [mark for row in _marks(view) for mark in row]
    return GridLayout(3, 3, actions, marks, 7, 3, False, [])


def connect_four_layout(view: BoardView) -> GridLayout:
    grid = _marks(view)
    rows, columns = len(grid), len(grid[0])
    labels = [str(c + 1) for c in range(columns)]
    actions = labels * rows  # every cell of a column drops into that column
    marks = [mark for row in grid for mark in row]
    return GridLayout(rows, columns, actions, marks, 4, 1, True, labels)


LAYOUTS = {"tictactoe": tictactoe_layout, "connect_four": connect_four_layout}


class Cell(Static):
    """One square; a click asks the board to play it."""

    class Pressed(Message):
        def __init__(self, cell: Cell) -> None:
            super().__init__()
            self.cell = cell

    def __init__(self, index: int, action: str) -> None:
        super().__init__("", classes="cell")
        self.index = index
        self.action = action

    def on_click(self) -> None:
        if not self.disabled:
            self.post_message(self.Pressed(self))


class GridBoard(Board, can_focus=True):
    """A grid of cells for tictactoe and connect_four."""

    DEFAULT_CSS = """
    GridBoard { height: auto; width: auto; padding: 0 1; }
    GridBoard:focus-within .-cursor, GridBoard:focus .-cursor { background: $accent 40%; }
    GridBoard #cells { height: auto; width: auto; grid-gutter: 0 0; }
    GridBoard .cell {
        content-align: center middle; text-style: bold; background: $boost;
        border: none;
    }
    GridBoard .cell.-odd { background: $panel; }
    GridBoard .cell:disabled { color: $text-muted; opacity: 1; }
    GridBoard .cell.-x { color: $warning; }
    GridBoard .cell.-o { color: $secondary; }
    GridBoard .cell.-cursor { background: $accent 25%; }
    GridBoard .cell:hover { background: $accent 50%; }
    GridBoard .cell:disabled:hover { background: $boost; }
    GridBoard #footer { color: $text-muted; height: 1; }
    GridBoard #caption { height: auto; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False, id="board.up", tooltip="Cursor up"),
        Binding("down", "move(1, 0)", "Down", show=False, id="board.down", tooltip="Cursor down"),
        Binding("left", "move(0, -1)", "Left", show=False, id="board.left", tooltip="Cursor left"),
        Binding(
            "right", "move(0, 1)", "Right", show=False, id="board.right", tooltip="Cursor right"
        ),
        Binding(
            "enter,space", "play", "Play", id="board.play", tooltip="Play the cell under the cursor"
        ),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.layout_info: GridLayout | None = None
        self.cursor = 0  # index of the cell under the cursor

    def compose(self) -> ComposeResult:
        yield Static("", id="caption")
        yield Grid(id="cells")
        yield Static("", id="footer")

    def update_view(self) -> None:
        if self.view is None:
            return
        layout = LAYOUTS[self.view.game.id](self.view)
        grid = self.query_one("#cells", Grid)
        if self.layout_info is None or (layout.rows, layout.columns) != (
            self.layout_info.rows,
            self.layout_info.columns,
        ):
            grid.remove_children()
            grid.styles.grid_size_columns = layout.columns
            grid.styles.grid_size_rows = layout.rows
            grid.styles.grid_columns = str(layout.cell_width)
            grid.styles.grid_rows = str(layout.cell_height)
            grid.styles.width = layout.cell_width * layout.columns
            cells = [Cell(i, a) for i, a in enumerate(layout.actions)]
            for cell in cells:
                row, col = divmod(cell.index, layout.columns)
                cell.set_class((row + col) % 2 == 1, "-odd")
            grid.mount_all(cells)
            self.cursor = min(self.cursor, len(cells) - 1)
        self.layout_info = layout
        self.call_after_refresh(self._paint)
        self._paint()
        if self.view.my_turn:
            self.focus()

    def _paint(self) -> None:
        """Marks, enabled cells and the cursor, from the current layout and view."""
        layout, view = self.layout_info, self.view
        if layout is None or view is None:
            return
        cells = list(self.query(Cell))
        if len(cells) != len(layout.actions):
            return  # still mounting; painted again after the refresh
        cursor_col = self.cursor % layout.columns
        for cell, mark in zip(cells, layout.marks, strict=True):
            legal = cell.action in view.legal
            cell.disabled = not legal
            cell.set_class(mark == "X", "-x")
            cell.set_class(mark == "O", "-o")
            if layout.column_cursor:
                on_cursor = cell.index % layout.columns == cursor_col
            else:
                on_cursor = cell.index == self.cursor
            cell.set_class(on_cursor, "-cursor")
            if mark:
                cell.update(Text(mark))
            elif not layout.column_cursor and legal:
                cell.update(Text(cell.action, style="dim"))  # the square's name helps
            else:
                cell.update(Text("·", style="dim"))
        you = MARKS[view.seat] if view.seat < len(MARKS) else "?"
        caption = Text.assemble(("You are ", ""), (you, "bold"), (f" ({self.turn_text()})", "dim"))
        if view.feedback:
            caption.append("\n")
            caption.append_text(self.feedback_text())
        self.query_one("#caption", Static).update(caption)
        footer = "".join(label.center(layout.cell_width) for label in layout.footer)
        self.query_one("#footer", Static).update(Text(footer))
        self.query_one("#footer", Static).display = bool(layout.footer)

    # --- input -------------------------------------------------------------------------
    def action_move(self, rows: int, columns: int) -> None:
        layout = self.layout_info
        if layout is None:
            return
        row, col = divmod(self.cursor, layout.columns)
        row = (row + rows) % layout.rows
        col = (col + columns) % layout.columns
        self.cursor = row * layout.columns + col
        self._paint()

    def action_play(self) -> None:
        layout = self.layout_info
        if layout is not None:
            self.choose(layout.actions[self.cursor])

    def on_cell_pressed(self, message: Cell.Pressed) -> None:
        message.stop()
        self.cursor = message.cell.index
        self.focus()
        self.choose(message.cell.action)

    def focus_controls(self) -> None:
        self.focus()

    def cell_at(self, action: str) -> Cell:
        """The (first) cell that plays `action` (for tests and the screen)."""
        return next(c for c in self.query(Cell) if c.action == action)
