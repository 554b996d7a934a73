"""Replays: browse stored matches (filter by game, player, tournament, status), Enter opens one
and steps through it move by move with the board, each model's prompt and raw reply, illegal
attempts highlighted. The list is read with `list_matches`; the replay is rebuilt from
`match_transcript` by the game's rules (`widgets/replay_steps.py`)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Header, Input, Select, Static

from arena.outcomes import outcome
from arena.tui.safe import literal, tell
from arena.tui.widgets.key_bar import KeyBar
from arena.tui.widgets.replay_view import ReplayView

STATUSES = ("finished", "error", "aborted")
SHOWN = 500  # newest matches listed; the filters narrow the rest down
COLUMNS = ("id", "finished (UTC)", "game", "players", "status", "result")


def format_match(m: dict[str, Any]) -> list[Any]:
    """A `list_matches` row as table cells (names are untrusted text)."""
    finished = (m["finished_at"] or "")[:19].replace("T", " ")
    result = ""
    if m["returns"] is not None and None not in m["returns"]:
        said = outcome(m["game"], m["returns"], m["forfeit_seat"], m["teams"], params=m["params"])
        result = said.sentence()
    return [
        m["id"],
        finished,
        m["game"],
        literal(" v ".join(m["players"])),
        m["status"],
        result,
    ]


class ReplaysScreen(Screen):
    """Matches, newest first; Enter replays the selected one, Escape goes back to the list."""

    DEFAULT_CSS = """
    ReplaysScreen #filters { height: 1; margin: 0 1; }
    ReplaysScreen #filters > * { margin-right: 1; }
    ReplaysScreen #f-game { width: 22; }
    ReplaysScreen #f-player { width: 22; }
    ReplaysScreen #f-tournament { width: 14; }
    ReplaysScreen #f-status { width: 14; }
    ReplaysScreen #matches { height: 1fr; }
    ReplaysScreen #browse { height: 1fr; }
    ReplaysScreen #hint { color: $text-muted; margin: 0 1; height: 1; }
    ReplaysScreen ContentSwitcher { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "List", id="replays.back", tooltip="Back to the match list"),
        Binding("f5", "reload", "Refresh", id="replays.refresh", tooltip="Read the matches again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.matches: list[dict[str, Any]] = []
        self.total = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with ContentSwitcher(initial="browse"):
            with Vertical(id="browse"):
                with Horizontal(id="filters"):
                    yield Select([], prompt="game: all", id="f-game", compact=True)
                    yield Select([], prompt="player: all", id="f-player", compact=True)
                    yield Input(
                        placeholder="tournament #",
                        type="integer",
                        id="f-tournament",
                        compact=True,
                    )
                    yield Select(
                        [(s, s) for s in STATUSES],
                        prompt="status: all",
                        id="f-status",
                        compact=True,
                    )
                yield DataTable(id="matches", cursor_type="row", zebra_stripes=True)
                yield Static("", id="hint")
            yield ReplayView(id="replay")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#matches", DataTable)
        for label in COLUMNS:
            table.add_column(label, key=label)
        self._fill_options()
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        # Matches played elsewhere (Play, a tournament, another process) show up on return.
        if self.is_mounted and self._mode() == "browse":
            self._fill_options()
            self.reload()

    # --- filters ------------------------------------------------------------------------
    def _fill_options(self) -> None:
        import games
        from arena.store.players import list_players

        self._set_options("#f-game", [(g, g) for g in games.game_ids()])
        names = [p.name for p in list_players(self.app.db, include_retired=True)]
        self._set_options("#f-player", [(literal(n), n) for n in names])

    def _set_options(self, selector: str, options: list[tuple[Any, str]]) -> None:
        select = self.query_one(selector, Select)
        if [v for _, v in options] == [v for _, v in select._options if v is not Select.NULL]:
            return
        value = select.value
        with select.prevent(Select.Changed):
            select.set_options(options)
            if value in {v for _, v in options}:
                select.value = value

    def filters(self) -> dict[str, Any]:
        """The `list_matches` keyword arguments the filter bar asks for."""
        out: dict[str, Any] = {}
        for key, selector in (
            ("game", "#f-game"),
            ("player", "#f-player"),
            ("status", "#f-status"),
        ):
            value = self.query_one(selector, Select).value
            if value is not Select.NULL:
                out[key] = str(value)
        tournament = self.query_one("#f-tournament", Input).value.strip()
        if tournament.lstrip("-").isdigit():
            out["tournament"] = int(tournament)
        return out

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.reload()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # The filter applies as it is typed: Enter goes on to the matches it selected.
        event.stop()
        self.query_one("#matches", DataTable).focus()

    # --- the list -----------------------------------------------------------------------
    def reload(self) -> None:
        """Read the matches the filters select (newest first) into the table."""
        from arena.store.queries import count_matches, list_matches

        filters = self.filters()
        self.total = count_matches(self.app.db, **filters)
        self.matches = list_matches(self.app.db, **filters, newest_first=True, limit=SHOWN)
        table = self.query_one("#matches", DataTable)
        selected = table.cursor_row
        table.clear()
        for m in self.matches:
            table.add_row(*format_match(m), key=str(m["id"]))
        if self.matches:
            table.move_cursor(row=min(selected, len(self.matches) - 1))
        shown = f"{len(self.matches)} of {self.total}" if self.total > SHOWN else str(self.total)
        hint = f"{shown} matches · enter: replay · n/b: next/previous move · esc: back"
        if not self.total:
            hint = "No matches here: play one (g), start a tournament (t), or change the filters."
        self.query_one("#hint", Static).update(hint)

    def action_reload(self) -> None:
        if self._mode() == "browse":
            self._fill_options()
            self.reload()

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        await self.open_replay(int(str(event.row_key.value)))

    async def open_replay(self, match_id: int, index: int = 0) -> None:
        """Show match `match_id` from move `index` in the replay view."""
        from arena.store.queries import match_transcript
        from arena.tui.widgets.replay_steps import build_replay

        transcript = match_transcript(self.app.db, match_id)
        if transcript is None:
            tell(self, f"match {match_id} is not in the database", severity="error")
            return
        view = self.query_one(ReplayView)
        await view.load(build_replay(transcript), index)
        self.query_one(ContentSwitcher).current = "replay"
        view.focus()
        self.refresh_bindings()

    # --- back ---------------------------------------------------------------------------
    def _mode(self) -> str | None:
        return self.query_one(ContentSwitcher).current

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            try:
                return self._mode() == "replay"
            except Exception:  # not composed yet
                return False
        return True

    def action_back(self) -> None:
        # Shown in the footer while a replay is open; the app's Esc does the rest.
        self.app.action_back()  # type: ignore[attr-defined]

    def step_back(self) -> bool:
        """From a replay back to the match list (Esc, once no field has focus)."""
        if self._mode() != "replay":
            return False
        self.query_one(ContentSwitcher).current = "browse"
        self.query_one("#matches", DataTable).focus()
        self.refresh_bindings()
        return True
