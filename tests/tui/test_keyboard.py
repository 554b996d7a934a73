"""One keyboard model across the app, each section driven by keys alone: Enter in any field of a
form submits it (with the button's validation), Esc leaves the field and Esc again goes back,
letters typed in a text box never switch sections, every section opens from the command
palette, and Tab reaches a form's primary button right after its last visible field."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, Select, SelectionList, Static

from arena.store import open_db
from arena.store.queries import match_transcript
from arena.tui.app import SECTIONS, make_app

WIDE = (120, 36)


async def wait_until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def open_section(pilot: Pilot, key: str) -> object:
    await pilot.press(key)
    await pilot.pause()
    return pilot.app.screen


def focus_ids(pilot: Pilot) -> list[str | None]:
    return [w.id for w in pilot.app.screen.focus_chain]


# --- Play ---------------------------------------------------------------------------------------
async def test_play_by_keys_enter_in_the_name_field_starts_a_game(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "g")
        assert focus_ids(pilot)[:5] == ["game", "opponent", "seat", "name", "start"]
        assert app.focused is screen.query_one("#game", Select)
        await pilot.press("tab", "tab", "tab")
        name = screen.query_one("#name", Input)
        assert app.focused is name
        await pilot.press("end", *["backspace"] * 3, *"pat")  # p and t are section keys elsewhere
        assert app.current_mode == "play" and name.value == "pat"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.match is not None or screen.last_match_id)
        await pilot.press("f3")  # stop from anywhere
        await wait_until(pilot, lambda: screen.last_match_id is not None)
    db = open_db(empty_db)
    try:
        match = match_transcript(db, screen.last_match_id)
    finally:
        db.close()
    assert [s["player"] for s in match["seats"]] == ["pat", "random"]


async def test_esc_leaves_a_field_then_goes_back_to_the_leaderboard(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "g")
        screen.query_one("#name", Input).focus()
        await pilot.press("escape")
        assert app.current_mode == "play" and app.focused is None
        await pilot.press("escape")
        assert app.current_mode == "leaderboard"
        await pilot.press("escape")  # at home with nothing open: stays
        assert app.current_mode == "leaderboard"


async def test_a_rejected_chess_move_is_cleared_with_the_reason_shown(empty_db: Path) -> None:
    pytest.importorskip("chess")
    from arena.players.bot import BotPlayer

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "g")
        screen.start_match("chess", BotPlayer("random"), 0, "you", seed=1)
        await wait_until(pilot, lambda: screen.match.human.pending is not None)
        await pilot.pause()
        board = screen.board
        san = board.query_one("#san", Input)
        assert app.focused is san
        await pilot.press(*"Ke2", "enter")
        await pilot.pause()
        error = str(board.query_one("#error", Static).render())
        assert "Not accepted" in error and "Ke2" in error
        assert san.value == "" and app.focused is san
        await pilot.press(*"e4", "enter")  # the next try starts clean
        await wait_until(pilot, lambda: screen.match.state.history()[:1] == ["e4"])
        await pilot.press("f3")
        await wait_until(pilot, lambda: screen.last_match_id is not None)


# --- Players ------------------------------------------------------------------------------------
async def test_players_form_by_keys_tab_reaches_save_and_enter_saves(empty_db: Path) -> None:
    from arena.store.players import find_player

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "p")
        await pilot.press("a")
        await pilot.pause()
        # the form's own fields, then Save right after the last visible one
        chain = focus_ids(pilot)
        fields = ["f-kind", "f-name", "f-bot", "f-params", "f-extra"]
        assert chain[: chain.index("form-save") + 1] == [*fields, "form-save"]
        assert app.focused is screen.query_one("#f-name", Input)
        await pilot.press(*"keyed_tap")  # e, d, t, p: keys of this screen and the app
        assert app.current_mode == "players" and screen._mode() == "form"
        await pilot.press("tab")
        bot = screen.query_one("#f-bot", Select)
        assert app.focused is bot
        await pilot.press("enter", "down", "enter")  # open the list, take its first bot
        await pilot.pause()
        chosen = bot.value
        assert chosen is not Select.NULL
        await pilot.press("tab")
        assert app.focused is screen.query_one("#f-params", Input)
        await pilot.press("tab", "tab")
        assert app.focused is screen.query_one("#form-save", Button)
        await pilot.press("shift+tab", "enter")  # Enter in a field saves
        await pilot.pause()
        assert screen._mode() == "list"
        assert app.focused is screen.query_one("#players", DataTable)
    db = open_db(empty_db)
    try:
        row = find_player(db, "keyed_tap")
    finally:
        db.close()
    assert row is not None and row.kind == "bot" and row.spec.get("bot") == chosen


async def test_players_enter_runs_the_same_validation_as_save(empty_db: Path) -> None:
    from arena.store.players import find_player

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "p")
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"no good name", "enter")
        await pilot.pause()
        assert screen._mode() == "form"
        assert screen.query_one("#form").note_text("name")
    db = open_db(empty_db)
    try:
        assert find_player(db, "no good name") is None
    finally:
        db.close()


async def test_players_esc_leaves_the_field_then_closes_the_form_then_goes_back(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "p")
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("escape")
        assert screen._mode() == "form" and app.focused is None
        await pilot.press("escape")
        assert screen._mode() == "list"
        assert app.focused is screen.query_one("#players", DataTable)
        screen.query_one("#probe-game", Select).focus()
        await pilot.press("escape")  # out of the field, to the section's table
        assert app.focused is screen.query_one("#players", DataTable)
        await pilot.press("escape")
        assert app.current_mode == "leaderboard"


# --- Tournament ---------------------------------------------------------------------------------
async def test_tournament_form_by_keys_enter_in_a_field_runs_it(empty_db: Path) -> None:
    import games

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "t")
        chain = focus_ids(pilot)
        fields = [
            "games", "players", "format", "games-per-pair", "duplicate", "concurrency", "seed",
            "retries", "on-illegal", "move-time-limit-s", "max-reply-bytes", "max-error-tries",
            "executor", "address", "replicas", "model-cpus", "model-gpus", "name",
        ]  # fmt: skip
        assert chain[chain.index("games") : chain.index("start") + 1] == [*fields, "start"]
        assert "form" not in chain  # the scrolling form is no tab stop of its own
        screen.query_one("#games", SelectionList).focus()
        await pilot.press(*["down"] * list(games.game_ids()).index("tictactoe"), "space", "tab")
        players = screen.query_one("#players", SelectionList)
        assert app.focused is players
        names = [players.get_option_at_index(i).value for i in range(players.option_count)]
        for name in ("random", "minimax"):
            players.highlighted = names.index(name)
            await pilot.press("space")
        await pilot.press("tab", "tab")
        per_pair = screen.query_one("#games-per-pair", Input)
        assert app.focused is per_pair
        await pilot.press("backspace", "1", "tab", "tab", "tab")  # past duplicate deals
        seed = screen.query_one("#seed", Input)
        await pilot.press("p", "t")  # not numbers: the box refuses them, no section opens
        assert app.current_mode == "tournament" and seed.value == "0"
        await pilot.press(*["tab"] * 11, *"keyed", "enter")
        await wait_until(
            pilot, lambda: screen.run_task is not None and screen.run_task.done(), timeout=30
        )
    db = open_db(empty_db)
    try:
        rows = db.conn.execute("SELECT name, status FROM tournaments").fetchall()
        played = db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]
    finally:
        db.close()
    assert [tuple(r) for r in rows] == [("keyed", "finished")] and played >= 1


# --- Training -----------------------------------------------------------------------------------
async def test_training_form_by_keys_enter_with_a_bad_base_shows_why_and_creates_no_job(
    empty_db: Path, tmp_path: Path
) -> None:
    from arena.jobs import list_jobs

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "j")
        chain = focus_ids(pilot)
        form = ["games", "base", "steps", "name", "options", "start"]
        assert chain[chain.index("games") : chain.index("start") + 1] == form
        screen.query_one("#jobs", DataTable).focus()
        await pilot.press("tab")
        assert app.focused is screen.query_one("#games", Input)
        await pilot.press(*"kuhn_poker", "tab")  # u, p, k... typed, not acted on
        missing = tmp_path / "missing"
        await pilot.press(*str(missing), "enter")
        await pilot.pause()
        assert app.current_mode == "training"
        assert screen.query_one("#games", Input).value == "kuhn_poker"
        error = str(screen.query_one("#form-error", Label).render())
        assert "base: no model folder at" in error and "missing" in error
        assert screen.query_one("#jobs", DataTable).row_count == 0
        await pilot.press("escape")  # out of the field, to the jobs table
        assert app.focused is screen.query_one("#jobs", DataTable)
    db = open_db(empty_db)
    try:
        assert list_jobs(db) == []
    finally:
        db.close()


# --- Replays ------------------------------------------------------------------------------------
async def test_replays_by_keys_filter_enter_replay_and_esc_back(seeded_db: Path) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "r")
        table = screen.query_one("#matches", DataTable)
        assert app.focused is table and table.row_count == 6
        await pilot.press("shift+tab", "shift+tab")
        box = screen.query_one("#f-tournament", Input)
        assert app.focused is box
        await pilot.press("2")  # no such tournament
        await pilot.pause()
        assert table.row_count == 0
        await pilot.press("backspace", "1", "enter")  # the filter applies; Enter goes on
        await pilot.pause()
        assert app.focused is table and table.row_count == 6
        await pilot.press("enter")
        await pilot.pause()
        assert screen._mode() == "replay"
        await pilot.press("escape")
        assert screen._mode() == "browse" and app.focused is table
        box.focus()
        await pilot.press("escape")
        assert app.focused is table and app.current_mode == "replays"
        await pilot.press("escape")
        assert app.current_mode == "leaderboard"


# --- Leaderboard --------------------------------------------------------------------------------
async def test_leaderboard_by_keys_esc_leaves_the_scope_then_enter_opens_details(
    seeded_db: Path,
) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        screen = app.screen
        board = screen.query_one("#board", DataTable)
        screen.query_one("#scope", Select).focus()
        await pilot.press("escape")  # out of the field, to the board
        assert app.focused is board
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "PlayerDetailScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and app.current_mode == "leaderboard"


# --- the command palette ------------------------------------------------------------------------
async def test_every_section_opens_from_the_command_palette_even_while_typing(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_section(pilot, "g")
        screen.query_one("#name", Input).focus()
        for mode, (_, _, _, title) in SECTIONS.items():
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*title)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause()
            assert app.current_mode == mode, title
