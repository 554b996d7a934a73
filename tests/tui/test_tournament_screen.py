"""The tournament section, driven by Textual's Pilot on real database files with real bots
(and a real tiny llama.cpp model for streaming)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, ProgressBar, SelectionList, Static, TabbedContent

from arena.match import MatchEnded, MatchStarted, MovePlayed, MoveRecord, ReplyText, TurnStarted
from arena.store import open_db
from arena.tournament.runner import Slot
from arena.tui.app import make_app
from arena.tui.widgets.tournament_form import TournamentForm
from arena.tui.widgets.tournament_live import LiveRun
from arena.tui.widgets.tournament_spectator import SpectatorPane

ROOT = Path(__file__).resolve().parents[2]


# --- helpers ------------------------------------------------------------------------------
async def open_section(pilot: Pilot) -> Any:
    await pilot.press("t")
    await pilot.pause()
    screen = pilot.app.screen
    assert type(screen).__name__ == "TournamentScreen"
    return screen


async def fill_form(
    pilot: Pilot, games: list[str], players: list[str], **fields: str
) -> TournamentForm:
    screen = pilot.app.screen
    form = screen.query_one(TournamentForm)
    for game in games:
        form.query_one("#games", SelectionList).select(game)
    for player in players:
        form.query_one("#players", SelectionList).select(player)
    for input_id, value in fields.items():
        form.query_one(f"#{input_id.replace('_', '-')}").value = value
    await pilot.pause()
    return form


async def press_start(pilot: Pilot) -> None:
    start = pilot.app.screen.query_one("#start")
    start.scroll_visible(animate=False)  # at 80x24 the form scrolls
    await pilot.pause()
    await pilot.click("#start")
    await pilot.pause()


async def tap(pilot: Pilot, key: str, char: str | None = None) -> None:
    """Press a key without waiting for the CPU to go idle (`pilot.press` waits up to a second
    for that, and bot matches keep the CPU busy until the tournament is over)."""
    pilot.app.post_message(events.Key(key, char))
    await asyncio.sleep(0.02)


async def start_by_keyboard(pilot: Pilot) -> None:
    """Enter in a field of the form starts the tournament (no idle wait, see `tap`)."""
    pilot.app.screen.query_one("#games-per-pair").focus()
    await asyncio.sleep(0.02)
    await tap(pilot, "enter")


async def wait_for(
    pilot: Pilot, cond: Callable[[], bool], timeout: float = 20.0, step: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(step)


def db_rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    db = open_db(path)
    try:
        return db.conn.execute(sql, args).fetchall()
    finally:
        db.close()


def finished_count(path: Path, tournament_id: int = 1) -> int:
    sql = "SELECT COUNT(*) FROM matches WHERE tournament_id = ? AND status = 'finished'"
    return db_rows(path, sql, (tournament_id,))[0][0]


def cell_text(table: DataTable, row: int, col: int) -> str:
    return str(table.get_row_at(row)[col])


def run_done(screen: Any) -> bool:
    """The run's task has ended and the screen's follower has recorded how (a turn of the
    event loop later)."""
    task, run = screen.run_task, screen.live_run
    ended = run is None or run.state not in ("starting", "running", "paused", "stopping")
    return task is not None and task.done() and ended


# --- starting from the form and watching it finish -----------------------------------------
async def test_bot_tournament_started_from_the_form_finishes_in_the_live_view(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_section(pilot)
        await fill_form(pilot, ["tictactoe"], ["random", "minimax"], games_per_pair="4")
        await press_start(pilot)
        assert screen.query_one(TabbedContent).active == "live"
        await wait_for(pilot, lambda: run_done(screen))
        await pilot.pause(0.7)  # a tick or two, and the throttled standings
        view = screen.query_one("#live-view")
        bar = view.query_one(ProgressBar)
        assert bar.total == 4 and bar.percentage == 1.0
        assert "4/4 done" in str(view.query_one("#view-status", Static).content)
        assert screen.live_run.state == "finished"
        results = view.query_one("#results", DataTable)
        assert results.row_count == 4
        assert {cell_text(results, i, 1) for i in range(4)} <= {"minimax wins", "draw"}
        standings = view.query_one("#standings", DataTable)
        assert standings.row_count == 2 and cell_text(standings, 0, 0) == "minimax"
        assert view.query_one("#inflight", DataTable).row_count == 0
    assert finished_count(empty_db) == 4
    status, pid = db_rows(empty_db, "SELECT status, pid FROM tournaments WHERE id = 1")[0]
    assert status == "finished" and pid is None


async def test_pause_stops_new_matches_and_resume_continues(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_section(pilot)
        await fill_form(
            pilot, ["tictactoe"], ["random", "minimax"], games_per_pair="400", concurrency="2"
        )
        await start_by_keyboard(pilot)
        await wait_for(pilot, lambda: screen.live_run is not None and screen.live_run.done >= 5)
        run = screen.live_run
        await tap(pilot, "space")
        # matches in flight finish; none start
        await wait_for(pilot, lambda: run.paused and run.in_flight_count == 0)
        paused_at = finished_count(empty_db)
        await pilot.pause(0.5)
        assert finished_count(empty_db) == paused_at < 400
        assert run.state == "paused" and not run_done(screen)
        assert "paused" in str(screen.query_one("#live-view #view-status", Static).content)
        await tap(pilot, "space")
        await wait_for(pilot, lambda: run.done >= paused_at + 10)
        assert run.state == "running"
        await tap(pilot, "x")  # no need to play all 400
        await wait_for(pilot, lambda: run_done(screen))
    assert finished_count(empty_db) >= paused_at + 10


async def test_stop_leaves_the_tournament_interrupted_and_resume_finishes_it(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_section(pilot)
        await fill_form(pilot, ["tictactoe"], ["random", "minimax"], games_per_pair="150")
        await start_by_keyboard(pilot)
        await wait_for(pilot, lambda: screen.live_run is not None and screen.live_run.done >= 3)
        await tap(pilot, "x")
        await wait_for(pilot, lambda: run_done(screen))
        assert screen.live_run.state == "interrupted"
        status, pid = db_rows(empty_db, "SELECT status, pid FROM tournaments WHERE id = 1")[0]
        assert status == "interrupted" and pid is None
        pending = db_rows(empty_db, "SELECT COUNT(*) FROM schedule WHERE state = 'pending'")[0][0]
        assert 0 < pending < 150
        stopped_at = finished_count(empty_db)
        assert stopped_at + pending == 150
        # the list shows it; the watch view offers resume (u), which plays the rest here
        await pilot.press("a")
        await pilot.pause()
        table = screen.query_one("#tournaments", DataTable)
        assert cell_text(table, 0, 3) == "interrupted"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "watch"
        watch = screen.query_one("#watch-view")
        assert watch.query_one("#results", DataTable).row_count >= stopped_at
        await pilot.press("u")
        await wait_for(pilot, lambda: run_done(screen))
        assert screen.live_run.state == "finished"
    assert finished_count(empty_db) == 150


@pytest.mark.parametrize(
    ("players", "expected"),
    [
        ([], "at least 2 players"),
        (["random", "cfr"], "'cfr' cannot play tictactoe"),
    ],
)
async def test_a_config_error_shows_in_the_form_and_creates_nothing(
    empty_db: Path, players: list[str], expected: str
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_section(pilot)
        form = await fill_form(pilot, ["tictactoe"], players)
        await press_start(pilot)
        assert expected in form.error_text
        assert screen.query_one(TabbedContent).active == "new"
        assert screen.run_task is None and screen.live_run is None
    assert db_rows(empty_db, "SELECT COUNT(*) FROM tournaments")[0][0] == 0
    assert db_rows(empty_db, "SELECT COUNT(*) FROM schedule")[0][0] == 0


async def test_form_gathers_a_gauntlet_without_the_challenger_in_the_field(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_section(pilot)
        form = await fill_form(pilot, ["tictactoe"], ["random", "minimax"], seed="7")
        form.query_one("#format").value = "gauntlet"
        await pilot.pause()
        assert not form.query_one("#challenger-box").has_class("hidden")
        form.query_one("#challenger").value = "minimax"
        data = form.data()
        assert data["format"] == "gauntlet" and data["challenger"] == "minimax"
        assert data["players"] == ["random"] and data["seed"] == "7"  # text, for the config
        form.query_one("#seed").value = "+"
        await press_start(pilot)
        assert form.error_text == "seed must be a whole number (got '+')"
        assert screen.live_run is None


# --- a tournament run by another process --------------------------------------------------
async def test_a_tournament_run_by_another_process_can_be_watched_until_it_finishes(
    empty_db: Path,
) -> None:
    open_db(empty_db).close()  # schema in place before two processes share the file
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_section(pilot)
        await pilot.press("a")
        proc = subprocess.Popen(
            [sys.executable, "-m", "arena.cli", "--db", str(empty_db), "tournament", "run"]
            + ["--game", "tictactoe", "--player", "random", "--player", "minimax"]
            # long enough (some seconds) to be seen moving: 800 matches took 1.5 s, under two polls
            + ["--games-per-pair", "6000", "--concurrency", "1", "--quiet", "--name", "far"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            table = screen.query_one("#tournaments", DataTable)

            def listed() -> bool:
                screen.refresh_list()  # what the 1 s timer does, sooner
                return table.row_count == 1 and cell_text(table, 0, 3) == "running elsewhere"

            await wait_for(pilot, listed, timeout=30, step=0.05)
            assert cell_text(table, 0, 1) == "far"
            table.focus()
            await asyncio.sleep(0.02)
            await tap(pilot, "enter")  # no idle wait: the other process is still playing
            await wait_for(pilot, lambda: screen.query_one(TabbedContent).active == "watch")
            view = screen.query_one("#watch-view")
            status = view.query_one("#view-status", Static)
            seen: list[str] = []

            def finished() -> bool:
                seen.append(str(status.content))
                return "finished" in seen[-1]

            await wait_for(pilot, finished, timeout=60, step=0.05)
            assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # it was followed while it ran: progress moved on screen before it finished
        running = [line for line in seen if "running elsewhere" in line]
        assert running and len(set(running)) >= 2
        assert "6000/6000 played" in str(status.content)
        assert view.query_one(ProgressBar).percentage == 1.0
        assert view.query_one("#results", DataTable).row_count == 6000
        standings = view.query_one("#standings", DataTable)
        assert cell_text(standings, 0, 0) == "minimax"
        assert not screen.check_action("resume", ())  # a finished one has nothing to resume


# --- quitting -----------------------------------------------------------------------------
async def test_quitting_while_a_tournament_runs_stops_it_cleanly(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_section(pilot)
        await fill_form(pilot, ["tictactoe"], ["random", "minimax"], games_per_pair="300")
        await start_by_keyboard(pilot)
        await wait_for(pilot, lambda: screen.live_run is not None and screen.live_run.done >= 3)
        await tap(pilot, "q")
        await wait_for(pilot, lambda: not app.is_running)
    status, pid = db_rows(empty_db, "SELECT status, pid FROM tournaments WHERE id = 1")[0]
    assert status == "interrupted" and pid is None
    by_status = dict(db_rows(empty_db, "SELECT status, COUNT(*) FROM matches GROUP BY status"))
    assert set(by_status) <= {"finished", "aborted"}
    pending = db_rows(empty_db, "SELECT COUNT(*) FROM schedule WHERE state = 'pending'")[0][0]
    assert pending > 0 and by_status["finished"] + pending == 300


# --- the spectator pane -------------------------------------------------------------------
def feed_markup_match(run: LiveRun, pieces: int = 400) -> tuple[Slot, str]:
    """A match whose model replies with markup and an escape sequence, in many pieces."""
    slot = Slot(id=7, idx=0, round=0, game="tictactoe", params={}, seats=["m", "random"], seed=1)
    run.on_match_event(slot, MatchStarted("tictactoe", 1, ["m", "random"]))
    run.on_match_event(slot, TurnStarted(0, 0, "m", 0))
    reply = "[bold]x[/bold] \x1b[31mred" + "".join(f" t{i}" for i in range(pieces))
    run.on_match_event(slot, ReplyText(0, "[bold]x[/bold] "))
    run.on_match_event(slot, ReplyText(0, "\x1b[31mred"))
    for i in range(pieces):
        run.on_match_event(slot, ReplyText(0, f" t{i}"))
    record = MoveRecord(0, 0, "m", "b2")
    run.on_match_event(slot, MovePlayed(record, "[red]board[/red]\n. X ."))
    return slot, reply


async def test_a_models_reply_streams_into_the_spectator_literally_and_coalesced(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_section(pilot)
        pane = screen.query_one("#live-view").query_one(SpectatorPane)
        reply_widget = pane.query_one("#spec-reply", Static)
        draws: list[str] = []
        original = reply_widget.update

        def counting_update(content: Any = "", **kw: Any) -> None:
            draws.append(str(content))
            original(content, **kw)

        reply_widget.update = counting_update  # type: ignore[method-assign]
        screen.live_run = run = LiveRun(1, "spectated")
        slot, reply = feed_markup_match(run)
        await pilot.pause(0.4)  # several ticks
        table = screen.query_one("#live-view #inflight", DataTable)
        assert table.row_count == 1 and cell_text(table, 0, 2) == "1"  # moves so far
        # 400+ pieces arrived between two ticks: drawn once, not once per piece
        assert 1 <= len(draws) <= 2
        shown = reply_widget.content
        assert str(shown) == reply.replace("\x1b", "\\x1b")
        assert "[bold]x[/bold]" in str(shown) and "\\x1b[31m" in str(shown)
        assert not shown.spans and not shown.style  # no markup was interpreted
        board = pane.query_one("#spec-board", Static).content
        assert str(board).startswith("[red]board[/red]") and not board.spans
        # the match ends: it leaves the in-flight table and lands in the results
        run.on_match_event(slot, MatchEnded(_aborted(slot)))
        await pilot.pause(0.3)
        assert table.row_count == 0
        results = screen.query_one("#live-view #results", DataTable)
        assert results.row_count == 1 and cell_text(results, 0, 1) == "aborted"
        # with nothing else in flight the pane keeps the match as it ended
        title = str(pane.query_one("#spec-title", Static).content)
        assert title.endswith("ended: aborted")
        assert str(reply_widget.content) == reply.replace("\x1b", "\\x1b")


def _aborted(slot: Slot) -> Any:
    from arena.match import MatchResult

    return MatchResult("tictactoe", {}, slot.seed, list(slot.seats), "aborted", None, [])


async def test_a_tiny_models_reply_streams_into_the_spectator_during_a_tournament(
    empty_db: Path, tiny_gguf: Path
) -> None:
    from arena.specs import parse_spec
    from arena.store.players import add_player

    db = open_db(empty_db)
    spec = {
        "name": "tiny",
        "kind": "llamacpp",
        "path": str(tiny_gguf),
        "decode": "free",  # free text streams in; a constrained answer comes whole
        "prompt": {"reasoning": "direct", "include_rules": False},
        "sampling": {"max_tokens": 8},
    }
    add_player(db, parse_spec(spec))
    db.close()
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_section(pilot)
        await fill_form(pilot, ["tictactoe"], ["tiny", "random"], games_per_pair="1")
        await press_start(pilot)
        await wait_for(pilot, lambda: run_done(screen), timeout=120)
        assert screen.live_run.state == "finished", screen.live_run.error
        await pilot.pause(0.3)
        view = screen.query_one("#live-view")
        match = view.shown_match  # the one match, kept on screen as it ended
        assert match is not None and match.outcome and "· tiny" in match.reply_title
        assert len(match.reply) >= 2  # it arrived in pieces (streamed), not in one block
        pane = view.query_one(SpectatorPane)
        shown = str(pane.query_one("#spec-reply", Static).content)
    sql = (
        "SELECT mv.reply FROM moves mv JOIN players p ON p.id = mv.player_id "
        "WHERE p.name = 'tiny' ORDER BY mv.idx DESC, mv.attempt DESC LIMIT 1"
    )
    last_reply = db_rows(empty_db, sql)[0][0]
    # the pane shows the model's last reply exactly as the store recorded it
    assert shown == last_reply and shown


async def test_the_live_view_fits_an_80x24_terminal(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_section(pilot)
        await pilot.press("v")
        await pilot.pause()
        view = screen.query_one("#live-view")
        for selector in ("#inflight", "SpectatorPane", "#results", "#standings"):
            region = view.query_one(selector).region
            assert region.height >= 5 and region.width >= 20, selector
            assert region.right <= 80 and region.bottom <= 24, selector


async def test_quitting_during_a_models_move_stores_the_match_as_aborted(
    empty_db: Path, tiny_gguf: Path
) -> None:
    from arena.specs import parse_spec
    from arena.store.players import add_player

    db = open_db(empty_db)
    spec = {
        "name": "slow",
        "kind": "llamacpp",
        "path": str(tiny_gguf),
        "sampling": {"max_tokens": 512},
    }
    add_player(db, parse_spec(spec))
    db.close()
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_section(pilot)
        # Many matches one at a time: whenever the quit lands (a tiny model's reply may end
        # first on a busy machine), a match is in flight, not between two.
        await fill_form(
            pilot, ["tictactoe"], ["slow", "random"], games_per_pair="20", concurrency="1"
        )
        await start_by_keyboard(pilot)

        def thinking() -> bool:  # a model has written, in a match not over (an ended match
            # stays in `matches` until the view's next tick)
            run = screen.live_run
            return run is not None and any(
                m.reply_chars and not m.outcome for m in run.matches.values()
            )

        await wait_for(pilot, thinking, timeout=120, step=0.01)
        await tap(pilot, "q")
        await wait_for(pilot, lambda: not app.is_running, timeout=60)
    status, pid = db_rows(empty_db, "SELECT status, pid FROM tournaments WHERE id = 1")[0]
    assert status == "interrupted" and pid is None
    by_status = dict(db_rows(empty_db, "SELECT status, COUNT(*) FROM matches GROUP BY status"))
    assert by_status.get("aborted") == 1  # the one in flight; the finished ones stay finished
    assert set(by_status) <= {"aborted", "finished"} and sum(by_status.values()) < 20


def test_verdicts_and_eta_read_as_written_by_hand() -> None:
    from arena.tui.widgets.tournament_live import format_eta, result_text

    assert result_text(["a", "b"], ["loss", "win"], "finished") == "b wins"
    assert result_text(["a", "b"], ["draw", "draw"], "finished") == "draw"
    assert result_text(["a", "b", "c", "d"], ["win", "loss", "win", "loss"], "finished") == (
        "a & c win"
    )
    assert result_text(["a", "b"], None, "aborted") == "aborted"
    assert format_eta(None) == "--"
    assert format_eta(65.4) == "1:05"
    assert format_eta(2 * 3600 + 3 * 60 + 9) == "2:03:09"


async def test_the_watch_view_shows_duplicate_deals_as_show_prints_them(empty_db: Path) -> None:
    from arena.tournament.config import parse_config
    from arena.tournament.runner import deal_lines, deal_results, run_tournament
    from arena.tournament.setup import create_tournament

    db = open_db(empty_db)
    config = {"games": ["kuhn_poker"], "players": ["cfr", "random"], "games_per_pair": 8}
    dup = create_tournament(db, parse_config({**config, "duplicate": True, "seed": 3}))
    plain = create_tournament(db, parse_config({**config, "duplicate": False, "seed": 3}))
    for tid in (dup, plain):
        assert (await run_tournament(db, tid))["status"] == "finished"
    expected = deal_lines(deal_results(db, dup))
    db.close()
    assert len(expected) == 1 and "4 deals" in expected[0]
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_section(pilot)
        await pilot.press("a")
        await pilot.pause()
        for tid, shown in ((dup, True), (plain, False)):
            screen.open_tournament(tid)
            await pilot.pause()
            deals = screen.query_one("#watch-view").query_one("#deals", Static)
            await wait_for(pilot, lambda d=deals, s=shown: d.display == s)
            if shown:
                assert str(deals.render()).strip() == expected[0].strip()
                assert deals.region.height > 0  # on screen, under the standings
