"""The home screen: TrueSkill standings per game and overall, next to what each player costs
(prompt and completion tokens, mean latency per decision, cost in all and per game), sortable,
provisional players marked; Enter opens a player's detail; `h` shows or hides the removed (retired) players,
marked. It re-reads the database every few seconds, so matches
stored by other processes (a headless tournament) show up."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Select, Static

from arena.tui.safe import literal, tell
from arena.tui.widgets.key_bar import KeyBar

OVERALL = "(overall)"
COLUMNS: list[tuple[str, str]] = [
    ("#", "rank"),
    ("player", "name"),
    ("rating", "conservative"),
    ("best mv", "best_move_share"),
    ("mu", "mu"),
    ("sigma", "sigma"),
    ("games", "games"),
    ("W", "wins"),
    ("D", "draws"),
    ("L", "losses"),
    ("invalid", "invalid_rate"),
    ("latency", "mean_latency_s"),
    ("cost $", "cost_usd"),
    ("$/game", "cost_per_game_usd"),
    ("prompt tok", "prompt_tokens"),
    ("compl tok", "completion_tokens"),
]


def format_row(p: dict[str, Any]) -> list[Any]:
    name = literal(p["name"] + (" ?" if p["provisional"] else ""))
    if p.get("retired"):
        name.stylize("dim")
        name.append(" (retired)", style="italic dim")
    return [
        p["rank"],
        name,
        f"{p['conservative']:.2f}",
        "-" if p["best_move_share"] is None else f"{p['best_move_share']:.0%}",
        f"{p['mu']:.2f}",
        f"{p['sigma']:.2f}",
        p["games"],
        p["wins"],
        p["draws"],
        p["losses"],
        f"{p['invalid_rate']:.1%}",
        f"{p['mean_latency_s']:.3f}s",
        f"{p['cost_usd']:.4f}",
        f"{p['cost_per_game_usd']:.4f}",
        p["prompt_tokens"],
        p["completion_tokens"],
    ]


class LeaderboardScreen(Screen):
    """Standings; `s` sorts by the next column, Enter shows the player."""

    DEFAULT_CSS = """
    LeaderboardScreen #scope { width: 40; margin: 0 1; }
    LeaderboardScreen #board { height: 1fr; }
    LeaderboardScreen #hint { color: $text-muted; margin: 0 1; height: 1; }
    """
    BINDINGS = [
        Binding("s", "sort_next", "Sort", id="leaderboard.sort", tooltip="Sort by the next column"),
        Binding("enter", "details", "Details", id="leaderboard.details", show=False),
        Binding("f5", "refresh_board", "Refresh", id="leaderboard.refresh"),
        Binding(
            "h",
            "toggle_retired",
            "Retired",
            id="leaderboard.retired",
            tooltip="Show or hide the removed (retired) players; their ratings are kept",
        ),
    ]
    REFRESH_S = 3.0

    def __init__(self) -> None:
        super().__init__()
        self.scope: str | None = None  # a game id, None = overall
        self.sort_key = "conservative"
        self.players: list[dict[str, Any]] = []
        self.include_retired = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Select([(OVERALL, OVERALL)], value=OVERALL, allow_blank=False, id="scope")
        yield DataTable(id="board", cursor_type="row", zebra_stripes=True)
        yield Static("", id="hint")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        self.refresh_board()
        self.set_interval(self.REFRESH_S, self.refresh_board)

    def _games(self) -> list[str]:
        from arena.store.standings import rated_scopes

        return rated_scopes(self.app.db)

    def refresh_board(self) -> None:
        from arena.leaderboard import leaderboard

        select = self.query_one(Select)
        options = [(OVERALL, OVERALL)] + [(g, g) for g in self._games()]
        if [o[0] for o in options] != [o[0] for o in select._options if o[0] != ""]:
            with select.prevent(Select.Changed):
                select.set_options(options)
                select.value = self.scope or OVERALL
        board = leaderboard(self.app.db, self.scope, include_retired=self.include_retired)
        self.players = board["players"]
        self._fill()
        retired = "h: hide retired" if self.include_retired else "h: show retired"
        hint = f"? = provisional (< 10 games)   s: sort   enter: details   {retired}"
        if not self.players:
            hint = "No rated matches yet: play one (g) or start a tournament (t)."
        self.query_one("#hint", Static).update(hint)

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        reverse = self.sort_key not in (
            "rank",
            "name",
            "invalid_rate",
            "mean_latency_s",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "cost_per_game_usd",
        )

        def key(p: dict[str, Any]) -> Any:
            value = p[self.sort_key]
            return -1.0 if value is None else value  # unscored moves sort last

        rows = sorted(self.players, key=key, reverse=reverse)
        selected = table.cursor_row
        table.clear()
        for p in rows:
            table.add_row(*format_row(p), key=p["name"])
        if rows:
            table.move_cursor(row=min(selected, len(rows) - 1))

    def on_select_changed(self, event: Select.Changed) -> None:
        self.scope = None if event.value == OVERALL else str(event.value)
        self.refresh_board()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_key = str(event.column_key.value)
        self._fill()

    def action_sort_next(self) -> None:
        keys = [k for _, k in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._fill()
        tell(self, f"sorted by {dict((k, label) for label, k in COLUMNS)[self.sort_key]}")

    def action_toggle_retired(self) -> None:
        self.include_retired = not self.include_retired
        self.refresh_board()

    def action_refresh_board(self) -> None:
        self.refresh_board()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(str(event.row_key.value))

    def action_details(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self._open(str(key.value))

    def _open(self, name: str) -> None:
        from arena.tui.screens.player_detail import PlayerDetailScreen

        self.app.push_screen(PlayerDetailScreen(name, self.scope))
