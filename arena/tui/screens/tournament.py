"""The tournament section: a form to start one, the live view of the run (progress, matches in
flight, a spectator pane, results, standings), pause/resume/stop, and every tournament in the
database, where one run by another process (`arena tournament run`) can be watched.

The run is `run_tournament` itself, as an async worker on the app's loop (the CLI's core, not a
copy). Its callbacks only update a `LiveRun` (plain data); a timer draws it every 80 ms, so a
stream of tokens costs one repaint per tick. Leaving the app stops the run cleanly: matches in
flight end at their next move and are stored as aborted, the tournament as interrupted."""

from __future__ import annotations

import asyncio
import os
import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, TabbedContent, TabPane

from arena.tui.safe import literal, show_error
from arena.tui.widgets.key_bar import KeyBar
from arena.tui.widgets.tournament_form import TournamentForm
from arena.tui.widgets.tournament_live import LiveRun
from arena.tui.widgets.tournament_view import TournamentView
from arena.tui.widgets.tournament_watch import WatchedTournament, tournament_rows

TICK_S = 0.08  # how often the live view is redrawn (token streams coalesce in between)
POLL_S = 1.0  # how often the list and a watched tournament are re-read from the database
STANDINGS_EVERY_S = 0.5  # the standings query runs at most this often during a run
DEALS_EVERY_S = 2.0  # and the duplicate deals' (it reads every finished match)
QUIT_GRACE_S = 15.0  # on quit, how long matches in flight get to reach their next move
LIST_COLUMNS = ("id", "name", "format", "status", "played/scheduled", "created")


class TournamentScreen(Screen):
    """Start, follow, pause and stop tournaments; watch those run by other processes."""

    DEFAULT_CSS = """
    TournamentScreen TabbedContent { height: 1fr; }
    TournamentScreen TabPane { padding: 0; }
    TournamentScreen #tournaments { height: 1fr; }
    """
    BINDINGS = [
        Binding(
            "space",
            "pause",
            "Pause/Resume",
            id="tournament.pause",
            tooltip="Pause the run (matches in flight finish) or resume it",
        ),
        Binding(
            "x",
            "stop",
            "Stop",
            id="tournament.stop",
            tooltip="Stop the run: matches in flight end at their next move (resume later)",
        ),
        # the tabs are clickable too: keep the footer for the section keys at 80 columns
        Binding("n", "tab('new')", "New", id="tournament.new", tooltip="The form", show=False),
        Binding(
            "v", "tab('live')", "Live", id="tournament.live", tooltip="This app's run", show=False
        ),
        Binding(
            "a",
            "tab('all')",
            "All",
            id="tournament.all",
            tooltip="Every tournament in the database",
            show=False,
        ),
        Binding(
            "u",
            "resume",
            "Resume",
            id="tournament.resume",
            tooltip="Play the pending matches of the watched (interrupted) tournament here",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.live_run: LiveRun | None = None
        self.run_task: asyncio.Task | None = None  # run_tournament itself (outlives its worker)
        self.stop_event = asyncio.Event()
        self.go_event = asyncio.Event()
        self.watching: WatchedTournament | None = None
        self._drawn = -1  # the run's version on screen
        self._run_games: list[str] = []
        self._standings_at = 0.0
        self._standings_due = False
        self._deals_at = 0.0

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        from games.registry import game_ids

        yield Header()
        with TabbedContent(initial="new"):
            with TabPane("New", id="new"):
                yield TournamentForm(list(game_ids()), self._player_names(), id="form")
            with TabPane("Live", id="live"):
                yield TournamentView(id="live-view")
            with TabPane("Watch", id="watch"):
                yield TournamentView(elsewhere=True, id="watch-view")
            with TabPane("Tournaments", id="all"):
                yield DataTable(id="tournaments", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#tournaments", DataTable)
        for label in LIST_COLUMNS:
            table.add_column(label, key=label)
        self.query_one("#live-view", TournamentView).show_status(
            "Nothing running here: start a tournament in New (n)."
        )
        self.query_one("#watch-view", TournamentView).show_status(
            "Pick a tournament in All (a) to watch it."
        )
        self.refresh_list()
        self.set_interval(TICK_S, self._tick)
        self.set_interval(POLL_S, self._poll)

    def on_screen_resume(self) -> None:
        # players may have been registered in the Players section meanwhile
        self.query_one(TournamentForm).set_players(self._player_names())

    def _player_names(self) -> list[str]:
        from arena.store.players import list_players

        return [p.name for p in list_players(self.app.db) if p.kind != "human"]

    @property
    def running(self) -> bool:
        """Whether this app is playing a tournament now."""
        return self.run_task is not None and not self.run_task.done()

    # --- starting a run ------------------------------------------------------------------
    def on_tournament_form_submitted(self, event: TournamentForm.Submitted) -> None:
        from arena.tournament.config import ConfigError, parse_config
        from arena.tournament.setup import create_tournament

        event.stop()
        form = self.query_one(TournamentForm)
        if self.running:
            form.show_error("A tournament is running here: stop it (x) before starting another.")
            return
        try:
            config = parse_config(event.data)
            tournament_id = create_tournament(self.app.db, config)
        except ConfigError as exc:
            if exc.problems:
                form.show_problems(exc.problems)
            else:
                form.show_error(str(exc))
            return
        form.show_error("")
        self.start_run(tournament_id)

    def start_run(self, tournament_id: int) -> None:
        """Play (or resume) a stored tournament in this app and show it live."""
        from arena.tournament.runner import load_tournament, run_tournament

        row, config = load_tournament(self.app.db, tournament_id)
        run = self.live_run = LiveRun(tournament_id, row["name"])
        self._run_games = [g.id for g in config.games]
        self.stop_event, self.go_event = asyncio.Event(), asyncio.Event()
        self.go_event.set()
        self._drawn = -1
        self._standings_due = True
        self.query_one("#live-view", TournamentView).reset()
        # the run is its own task (so `running` holds from now on); the worker follows it
        self.run_task = asyncio.ensure_future(
            run_tournament(
                self.app.db,
                tournament_id,
                stop=self.stop_event,
                go=self.go_event,
                on_progress=run.on_progress,
                on_match_event=run.on_match_event,
            )
        )
        self.run_worker(
            self._follow(run, self.run_task), name=f"tournament {tournament_id}", group="tournament"
        )
        self.action_tab("live")
        self.refresh_bindings()

    async def _follow(self, run: LiveRun, task: asyncio.Task) -> None:
        try:
            # shielded: when the worker is cancelled (the app quits), the run itself goes on
            # until `on_unmount` has stopped it cleanly
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stop_event.set()
            raise
        except Exception as exc:  # TournamentError, a model that fails to load, ...
            run.state, run.error = "failed", str(exc)
            show_error(self, exc, title="tournament failed")
        else:
            run.state = result["status"]
        finally:
            run.version += 1
            self._standings_due = True
            if self.is_attached:
                self.refresh_bindings()

    async def on_unmount(self) -> None:
        """Quitting: stop the run and let it store the matches in flight as aborted."""
        task = self.run_task
        if task is None or task.done():
            return
        self.stop_event.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), QUIT_GRACE_S)
        except asyncio.TimeoutError:
            task.cancel()  # in-flight matches are dropped; their slots stay pending
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # the run's own failure is shown elsewhere; quitting goes on
            pass

    # --- drawing the run -----------------------------------------------------------------
    def _tick(self) -> None:
        run = self.live_run
        if run is None:
            return
        view = self.query_one("#live-view", TournamentView)
        if run.version != self._drawn:
            self._drawn = run.version
            rows, gone = run.take_ended()
            head = f"#{run.tournament_id} {run.name} · {run.status_line()}"
            view.show_status(head, run.done + run.failed, run.total)
            view.sync_in_flight(run.matches, gone)
            if rows:
                view.add_results(rows)
                self._standings_due = True
        if self._standings_due and time.monotonic() - self._standings_at >= STANDINGS_EVERY_S:
            self._standings_due = False
            self._standings_at = time.monotonic()
            self._draw_standings(view, run.tournament_id, self._run_games)

    def _draw_standings(self, view: TournamentView, tournament_id: int, games: list[str]) -> None:
        from arena.leaderboard import leaderboard
        from arena.tournament.config import duplicate_deals
        from arena.tournament.runner import (
            TournamentError,
            deal_lines,
            deal_results,
            load_tournament,
            standings,
        )

        db = self.app.db
        scope = games[0] if len(games) == 1 else None
        ratings = {p["name"]: p["conservative"] for p in leaderboard(db, scope)["players"]}
        view.set_standings(standings(db, tournament_id), ratings)
        try:
            _, config = load_tournament(db, tournament_id)
        except TournamentError:  # gone (deleted meanwhile): nothing more to show of it
            return
        # Deals are read whole (every finished match): at most every DEALS_EVERY_S, and at
        # the end of a run.
        now = time.monotonic()
        ended = self.live_run is None or not self.running
        if duplicate_deals(config) and (ended or now - self._deals_at >= DEALS_EVERY_S):
            self._deals_at = now
            view.set_deals(deal_lines(deal_results(db, tournament_id)))

    # --- the list and the watch view -----------------------------------------------------
    def _poll(self) -> None:
        if not self.is_current:
            return
        active = self.query_one(TabbedContent).active
        if active == "all":
            self.refresh_list()
        elif active == "watch" and self.watching is not None:
            self.refresh_watch()

    def refresh_list(self) -> None:
        """Re-read every tournament (and who is running it)."""
        table = self.query_one("#tournaments", DataTable)
        selected = table.cursor_row
        table.clear()
        for row in tournament_rows(self.app.db):
            status = row["shown_status"]
            if (
                self.live_run is not None
                and row["id"] == self.live_run.tournament_id
                and self.running
            ):
                status = f"{self.live_run.state} here"
            elif status == "running" and row["pid"] != os.getpid():
                status = "running elsewhere"
            table.add_row(
                str(row["id"]),
                literal(row["name"]),
                row["format"],
                status,
                f"{row['played']}/{row['scheduled']}",
                (row["created_at"] or "")[:16],
                key=str(row["id"]),
            )
        if table.row_count:
            table.move_cursor(row=min(max(selected, 0), table.row_count - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "tournaments" and event.row_key.value is not None:
            event.stop()
            self.open_tournament(int(event.row_key.value))

    def open_tournament(self, tournament_id: int) -> None:
        """This app's run opens the live view; any other one the watch view."""
        if (
            self.live_run is not None
            and self.live_run.tournament_id == tournament_id
            and self.running
        ):
            self.action_tab("live")
            return
        self.watching = WatchedTournament(tournament_id, POLL_S)
        self.query_one("#watch-view", TournamentView).reset()
        self.refresh_watch()
        self.action_tab("watch")

    def refresh_watch(self) -> None:
        """Re-read the watched tournament: progress, new results, standings."""
        from arena.tournament.runner import TournamentError

        watched, view = self.watching, self.query_one("#watch-view", TournamentView)
        if watched is None:
            return
        try:
            reading = watched.poll(self.app.db)
        except TournamentError as exc:
            view.show_status(str(exc))
            return
        if reading.changed:
            view.add_results(reading.rows)
            self._draw_standings(view, watched.tournament_id, reading.summary["games"])
            view.show_note(watched.note(reading.summary))
            self.refresh_bindings()
        view.show_status(reading.status_line, reading.done, reading.total)

    # --- actions -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # keys that do nothing now leave the footer (room for the section keys)
        if action in ("pause", "stop"):
            return self.running
        if action == "resume":
            return self.watching is not None and self.watching.resumable and not self.running
        return True

    def action_pause(self) -> None:
        run = self.live_run
        if not self.running or run is None or self.stop_event.is_set():
            return
        if self.go_event.is_set():
            self.go_event.clear()  # no new match starts; those in flight finish
            run.state, run.paused = "paused", True
        else:
            self.go_event.set()
            run.state, run.paused = "running", False
        run.version += 1

    def action_stop(self) -> None:
        run = self.live_run
        if not self.running or run is None:
            return
        self.stop_event.set()
        run.state = "stopping"
        run.version += 1

    def action_resume(self) -> None:
        if self.watching is not None and not self.running:
            self.start_run(self.watching.tournament_id)

    def action_tab(self, pane: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == pane:
            self._entered(pane)
        else:
            tabs.active = pane  # TabActivated follows

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._entered(self.query_one(TabbedContent).active)

    def _entered(self, pane: str) -> None:
        """A tab was opened: fresh data and the focus where its keys act."""
        if pane == "new":
            self.query_one("#form #games").focus()
        elif pane == "all":
            self.refresh_list()
            self.query_one("#tournaments", DataTable).focus()
        elif pane == "live":
            self.query_one("#live-view #inflight", DataTable).focus()
        elif pane == "watch":
            if self.watching is not None:
                self.refresh_watch()
            self.query_one("#watch-view #results", DataTable).focus()
        self.refresh_bindings()
