"""The live view of one tournament: progress and ETA, matches in flight, a spectator pane,
finished results and the standings.

The screen hands data down (`show_status`, `sync_in_flight`, `add_results`, `set_standings`);
the view keeps which match is selected (the in-flight table's cursor) and draws it in the
spectator pane. With `elsewhere=True` (a tournament run by another process) the in-flight table
and the spectator are replaced by a note: another process's moves never reach this one."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, ProgressBar, Static

from arena.tui.safe import literal
from arena.tui.widgets.tournament_live import FinishedRow, LiveMatch, row_cells
from arena.tui.widgets.tournament_spectator import SpectatorPane

RESULT_COLUMNS = ("#", "result", "players", "moves", "game")
STANDING_COLUMNS = ("player", "pts", "W", "D", "L", "rating")


class TournamentView(Vertical):
    """Progress, in flight + spectator, results + standings."""

    DEFAULT_CSS = """
    TournamentView { height: 1fr; }
    TournamentView #view-status { height: 1; margin: 0 1; }
    TournamentView ProgressBar { height: 1; margin: 0 1; }
    TournamentView .view-row { height: 1fr; }
    TournamentView DataTable { height: 1fr; border: round $panel; }
    TournamentView DataTable:focus { border: round $accent; }
    TournamentView #inflight { width: 1fr; }
    TournamentView SpectatorPane { width: 1fr; }
    TournamentView #results { width: 3fr; }
    TournamentView #standings-col { width: 2fr; }
    TournamentView #deals { height: auto; max-height: 8; border: round $panel; display: none; }
    TournamentView #deals.-shown { display: block; }
    TournamentView #watch-note { width: 1fr; color: $text-muted; border: round $panel; }
    """

    def __init__(self, *, elsewhere: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.elsewhere = elsewhere
        self.selected: int | None = None  # slot id under the in-flight cursor
        self.result_keys: set[str] = set()
        self._matches: dict[int, LiveMatch] = {}
        self.shown_match: LiveMatch | None = None  # in the spectator (kept after it ends)

    def compose(self) -> ComposeResult:
        yield Static("", id="view-status")
        yield ProgressBar(total=None, show_eta=False, id="view-progress")
        with Horizontal(classes="view-row"):
            if self.elsewhere:
                yield Static("", id="watch-note")
            else:
                yield DataTable(id="inflight", cursor_type="row", zebra_stripes=True)
                yield SpectatorPane(id="spectator")
        with Horizontal(classes="view-row"):
            yield DataTable(id="results", cursor_type="row", zebra_stripes=True)
            with Vertical(id="standings-col"):
                yield DataTable(id="standings", cursor_type="row", show_cursor=False)
                yield Static("", id="deals")  # duplicate deals' results, when there are any

    def on_mount(self) -> None:
        if not self.elsewhere:
            inflight = self.query_one("#inflight", DataTable)
            inflight.border_title = "in flight"
            for label in ("#", "players", "moves", "game"):
                inflight.add_column(label, key=label)
        results = self.query_one("#results", DataTable)
        results.border_title = "finished"
        for label in RESULT_COLUMNS:
            results.add_column(label, key=label)
        standings = self.query_one("#standings", DataTable)
        standings.border_title = "standings"
        self.query_one("#deals", Static).border_title = "duplicate deals (W-D-L, mean return)"
        for label in STANDING_COLUMNS:
            standings.add_column(label, key=label)

    # --- attributes down ---------------------------------------------------------------
    def reset(self, note: str = "") -> None:
        """Empty every table (a new tournament is shown)."""
        self.selected = None
        self.result_keys.clear()
        self._matches = {}
        self.shown_match = None
        for table in self.query(DataTable):
            table.clear()
        self.set_deals([])
        if self.elsewhere:
            self.query_one("#watch-note", Static).update(literal(note))
        else:
            self.query_one(SpectatorPane).show(None)
        self.query_one("#view-progress", ProgressBar).update(total=None, progress=0)
        self.show_status("")

    def show_note(self, text: str) -> None:
        """The text in place of the in-flight table (a tournament run elsewhere)."""
        if self.elsewhere:
            self.query_one("#watch-note", Static).update(literal(text))

    def show_status(self, text: str, done: int | None = None, total: int | None = None) -> None:
        """The status line and, with `done`/`total`, the progress bar."""
        self.query_one("#view-status", Static).update(literal(text))
        if done is not None:
            bar = self.query_one("#view-progress", ProgressBar)
            bar.update(total=total or None, progress=done)

    def sync_in_flight(
        self, matches: dict[int, LiveMatch], gone: dict[int, LiveMatch] | None = None
    ) -> None:
        """Bring the in-flight table in line with `matches` (`gone`: those that just ended)
        and redraw the spectator."""
        if self.elsewhere:
            return
        gone = gone or {}
        table = self.query_one("#inflight", DataTable)
        for slot_id in gone:
            if str(slot_id) in table.rows:
                table.remove_row(str(slot_id))
        for slot_id, match in matches.items():
            key = str(slot_id)
            if key in table.rows:
                if table.get_cell(key, "moves") != str(match.moves):
                    table.update_cell(key, "moves", str(match.moves))
            else:
                table.add_row(
                    str(match.number),
                    literal(" vs ".join(match.players)),
                    str(match.moves),
                    match.game,
                    key=key,
                )
        self._matches = matches
        if self.selected not in matches:
            ended = gone.get(self.selected) if self.selected is not None else None
            # the watched match ended: follow the match now under the cursor, or, with none
            # in flight, leave the last one on screen as it ended (fast matches end unseen)
            self.selected = self._cursor_slot(table)
            if self.selected is None:
                latest = list(gone.values())[-1] if gone else None
                self.shown_match = ended or latest or self.shown_match
                self.query_one(SpectatorPane).show(self.shown_match)
                return
        self._show(matches.get(self.selected))

    def _show(self, match: LiveMatch | None) -> None:
        if match is not None:
            self.shown_match = match
        self.query_one(SpectatorPane).show(match)

    def add_results(self, rows: list[FinishedRow]) -> None:
        """Append finished matches (newest at the bottom, the cursor follows if at the end)."""
        table = self.query_one("#results", DataTable)
        at_end = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        for row in rows:
            key = f"{row.number}:{row.status}:{len(self.result_keys)}"
            self.result_keys.add(key)
            cells: list[Any] = row_cells(row)
            cells[1] = literal(cells[1])  # names (and error text) are shown as typed
            cells[2] = literal(cells[2])
            table.add_row(*cells, key=key)
        if rows and at_end:
            table.move_cursor(row=table.row_count - 1)

    def set_standings(self, rows: list[dict[str, Any]], ratings: dict[str, float]) -> None:
        """The tournament's standings (best first) with each player's conservative rating."""
        table = self.query_one("#standings", DataTable)
        table.clear()
        for r in rows:
            rating = ratings.get(r["name"])
            table.add_row(
                literal(r["name"]),
                f"{r['points']:g}",
                r["wins"],
                r["draws"],
                r["losses"],
                "" if rating is None else f"{rating:.1f}",
                key=r["name"],
            )

    def set_deals(self, lines: list[str]) -> None:
        """The duplicate deals' results (`arena.tournament.runner.deal_lines`); hidden when
        no deal has been played."""
        deals = self.query_one("#deals", Static)
        deals.update(literal("\n".join(lines)))
        deals.set_class(bool(lines), "-shown")

    # --- the in-flight cursor picks the match to watch -----------------------------------
    def _cursor_slot(self, table: DataTable) -> int | None:
        if not table.row_count:
            return None
        row = min(max(table.cursor_row, 0), table.row_count - 1)
        key = table.coordinate_to_cell_key((row, 0)).row_key.value
        return int(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "inflight" or event.row_key.value is None:
            return
        event.stop()
        self.selected = int(event.row_key.value)
        if self.selected in self._matches:
            self._show(self._matches[self.selected])
