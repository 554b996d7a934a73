"""The Replays and Players sections, driven by Pilot on real database files: real bot matches,
a scripted model's match recorded through the real store, a real tiny llama.cpp model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import DataTable, Input, Select, Static

import games
from arena.backends.scripted import ScriptedBackend
from arena.player_fields import build_spec_dict, form_values, spec_errors
from arena.players.bot import BotPlayer
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions
from arena.sessions import play_recorded
from arena.specs import SpecError, parse_spec, spec_to_dict
from arena.store import open_db
from arena.store.players import add_player, find_player
from arena.store.queries import list_matches, match_transcript
from arena.tui.app import make_app
from arena.tui.widgets.player_form import PlayerForm
from arena.tui.widgets.replay_steps import build_replay
from arena.tui.widgets.replay_view import AttemptPanel, ReplayView

MARKUP_REPLY = "[bold]x[/bold] \x1b[2J"  # illegal at tictactoe, and hostile to a terminal


def record_scripted_match(path: Path, gguf: Path) -> int:
    """Store a match whose model (seat 0) first replies with markup and an escape sequence
    (illegal), then "b2"; its second move repeats both and forfeits."""
    db = open_db(path)
    add_player(db, parse_spec({"name": "scripted", "kind": "llamacpp", "path": str(gguf)}))
    model = LLMPlayer(
        "scripted",
        ScriptedBackend([MARKUP_REPLY, "Final answer: b2"]),
        prompt=PromptOptions(reasoning="think"),
    )
    match_id, _ = asyncio.run(
        play_recorded(db, games.make("tictactoe"), [model, BotPlayer("random")], seed=3)
    )
    db.close()
    return match_id


@pytest.fixture()
def scripted_db(seeded_db: Path, tiny_gguf: Path) -> tuple[Path, int]:
    return seeded_db, record_scripted_match(seeded_db, tiny_gguf)


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (through its rendered lines)."""
    width, height = widget.size
    lines = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(line.text.rstrip() for line in lines)


def plain(widget: Static) -> str:
    return str(widget.visual)


async def open_section(pilot, key: str) -> None:
    await pilot.press(key)
    await pilot.pause()


# --- Replays ---------------------------------------------------------------------------------
async def test_replay_steps_move_by_move_and_ends_on_the_final_board(seeded_db: Path) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_section(pilot, "r")
        table = app.screen.query_one("#matches", DataTable)
        assert table.row_count == 6
        newest = int(str(table.coordinate_to_cell_key((0, 0)).row_key.value))
        await pilot.press("enter")
        await pilot.pause()
        view = app.screen.query_one(ReplayView)
        assert app.focused is view

        # Independently of the view: the stored history replayed by the game's rules.
        db = open_db(seeded_db)
        moves = match_transcript(db, newest)["moves"]
        db.close()
        history = [m["action"] for m in moves if m["attempt"] == 0]
        total = len(history)
        tictactoe = games.make("tictactoe")
        board = app.screen.query_one("#replay-board", Static)
        counter = app.screen.query_one("#replay-move", Static)
        assert plain(board) == str(tictactoe.new_initial_state())
        assert plain(counter).startswith(f"move 0/{total}")

        await pilot.press("n")
        assert plain(board) == str(games.replay(tictactoe, history[:1]))
        assert plain(counter).startswith(f"move 1/{total}")
        assert history[0] in plain(counter)
        await pilot.press("right", "right")
        assert plain(counter).startswith(f"move 3/{total}")
        await pilot.press("b")
        assert plain(board) == str(games.replay(tictactoe, history[:2]))
        await pilot.press("left", "left", "left")  # clamped at the start
        assert plain(counter).startswith(f"move 0/{total}")
        await pilot.press("end")
        final = games.replay(tictactoe, history)
        assert final is not None and final.is_terminal()
        assert plain(board) == str(final)
        assert plain(counter).startswith(f"move {total}/{total}")
        await pilot.press("n")  # clamped at the end
        assert plain(counter).startswith(f"move {total}/{total}")
        await pilot.press("home")
        assert plain(counter).startswith(f"move 0/{total}")

        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is table


async def test_replay_filters_narrow_the_match_list(scripted_db: tuple[Path, int]) -> None:
    path, match_id = scripted_db
    app = make_app(path, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_section(pilot, "r")
        screen = app.screen
        table = screen.query_one("#matches", DataTable)
        assert table.row_count == 7

        screen.query_one("#f-player", Select).value = "scripted"
        await pilot.pause()
        assert table.row_count == 1
        assert str(table.coordinate_to_cell_key((0, 0)).row_key.value) == str(match_id)

        screen.query_one("#f-player", Select).clear()
        screen.query_one("#f-tournament", Input).value = "1"
        await pilot.pause()
        assert table.row_count == 6  # the scripted match is in no tournament

        screen.query_one("#f-status", Select).value = "error"
        await pilot.pause()
        assert table.row_count == 0

        screen.query_one("#f-status", Select).clear()
        screen.query_one("#f-tournament", Input).value = ""
        screen.query_one("#f-game", Select).value = "connect_four"
        await pilot.pause()
        assert table.row_count == 0
        screen.query_one("#f-game", Select).value = "tictactoe"
        await pilot.pause()
        assert table.row_count == 7


def test_build_replay_keeps_a_forfeit_off_the_board(scripted_db: tuple[Path, int]) -> None:
    path, match_id = scripted_db
    db = open_db(path)
    replay = build_replay(match_transcript(db, match_id))
    row = list_matches(db, player="scripted")[0]
    db.close()
    assert row["returns"] == [-1.0, 1.0]  # the model forfeited its second move
    last = replay.steps[-1]
    assert last.action == "(forfeit)" and last.seat == 0
    assert [a.legal for a in last.attempts] == [False, False]
    assert last.board == replay.steps[-2].board  # a forfeit is no move on the board
    assert replay.rebuild_error is None


async def test_replay_shows_markup_and_escapes_literally_and_highlights_illegal_attempts(
    scripted_db: tuple[Path, int],
) -> None:
    path, match_id = scripted_db
    app = make_app(path, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_section(pilot, "r")
        await app.screen.open_replay(match_id)
        await pilot.press("n")  # the model's first move: an illegal attempt, then b2
        await pilot.pause()
        panels = list(app.screen.query(AttemptPanel))
        assert len(panels) == 2
        bad, good = panels
        assert bad.has_class("illegal") and not bad.has_class("legal")
        assert good.has_class("legal") and not good.has_class("illegal")
        assert "ILLEGAL" in plain(bad.query_one(".attempt-header", Static))
        assert "not a legal move" in plain(bad.query_one(".attempt-error", Static))
        assert not good.query(".attempt-error")
        assert "b2" in plain(good.query_one(".attempt-header", Static))

        reply = bad.query_one(".attempt-reply", Static)
        shown = text_of(reply)
        assert "[bold]x[/bold]" in shown  # markup not interpreted
        assert "\\x1b[2J" in shown  # the escape sequence made visible
        assert "\x1b" not in shown
        # The prompt (the messages sent) is shown with the reply.
        prompt = plain(bad.query_one(".attempt-prompt", Static))
        assert "[user]" in prompt and "a1" in prompt

        await pilot.press("v")  # prompts can be hidden to read the replies
        await pilot.pause()
        assert app.screen.query_one(ReplayView).has_class("-hide-prompts")
        assert not bad.query_one(".attempt-prompt", Static).display


# --- Players ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bot", "llamacpp", "transformers", "openai", "human"])
def test_form_values_round_trip_every_kind_of_spec(kind: str, tiny_gguf: Path) -> None:
    data = {
        "bot": {"bot": "minimax", "params": {"depth": 3}},
        "llamacpp": {"path": str(tiny_gguf), "n_ctx": 512, "sampling": {"stop": ["\n\n"]}},
        "transformers": {"model": "some/folder", "dtype": "float16", "threads": 2},
        "openai": {"model": "m", "api_key_env": None, "price_input_per_mtok": 0.5},
        "human": {},
    }[kind]
    spec = parse_spec({"name": f"x-{kind}", "kind": kind, **data})
    values = form_values(spec_to_dict(spec), kind)
    rebuilt, errors = build_spec_dict(kind, values)
    assert errors == {}
    assert parse_spec(rebuilt) == spec


def test_spec_errors_land_on_the_field_that_owns_them(tmp_path) -> None:
    bad = {
        "name": "x",
        "kind": "llamacpp",
        "path": str(tmp_path / "missing.gguf"),
        "n_ctx": "8",
        "sampling": {"stop": [3]},
        "colour": "red",
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(bad)
    by_field, general = spec_errors(caught.value, "llamacpp", {"colour"})
    missing = str(tmp_path / "missing.gguf")
    assert by_field == {
        "sampling.stop": "stop strings (sampling.stop.0) must be text",
        "path": f"GGUF file: GGUF file {missing!r} does not exist",
        "n_ctx": "context must be at least 128 (got 8)",
        "extra": "colour is not a known setting",
    }
    assert general == []
    # A problem of the whole spec, not of one field, goes above the buttons.
    whole = {"name": "x", "kind": "openai", "model": "m", "decode": "free"}
    with pytest.raises(SpecError) as caught:
        parse_spec({**whole, "prompt": {"reasoning": "think-then-constrained"}})
    by_field, general = spec_errors(caught.value, "openai", set())
    assert by_field == {}
    assert general == [
        "the settings: reasoning think-then-constrained needs decode constrained or score, not free"
    ]


async def open_add_form(pilot) -> PlayerForm:
    await open_section(pilot, "p")
    await pilot.press("a")
    await pilot.pause()
    form = pilot.app.screen.query_one(PlayerForm)
    assert pilot.app.focused is form.query_one("#f-name", Input)
    return form


async def test_bad_gguf_path_is_shown_at_the_path_field_and_nothing_is_added(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_add_form(pilot)
        await pilot.press(*"tiny-bad")
        form.query_one("#f-kind", Select).value = "llamacpp"
        await pilot.pause()
        form.query_one("#f-path", Input).value = "/nowhere/model.gguf"
        await pilot.click("#form-save")
        await pilot.pause()
        assert "does not exist" in form.note_text("path")
        assert form.note_text("name") == ""
        assert app.screen.query_one("ContentSwitcher").current == "form"
    db = open_db(empty_db)
    assert find_player(db, "tiny-bad") is None
    db.close()


async def test_an_unknown_field_and_a_bad_value_are_shown_at_their_fields(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_add_form(pilot)
        await pilot.press(*"m1")
        form.query_one("#f-kind", Select).value = "openai"
        await pilot.pause()
        form.query_one("#f-model", Input).value = "gpt"
        form.query_one("#f-sampling-temperature", Input).value = "hot"
        form.query_one("#f-extra", Input).value = json.dumps({"colour": "red"})
        await pilot.click("#form-save")
        await pilot.pause()
        assert "colour is not a known setting" in form.note_text("extra")
        assert "colour" in form.note_text("extra")
        assert "number" in form.note_text("sampling.temperature")
        assert form.note_text("model") == ""
    db = open_db(empty_db)
    assert find_player(db, "m1") is None
    db.close()


async def test_a_missing_key_variable_is_a_warning_at_its_field_not_a_block(
    empty_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARENA_TEST_UNSET_KEY", raising=False)
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_add_form(pilot)
        await pilot.press(*"remote")
        form.query_one("#f-kind", Select).value = "openai"
        await pilot.pause()
        form.query_one("#f-model", Input).value = "gpt"
        form.query_one("#f-api_key_env", Input).value = "ARENA_TEST_UNSET_KEY"
        await pilot.pause()
        note = form.query_one("#note-f-api_key_env", Static)
        assert "ARENA_TEST_UNSET_KEY" in form.note_text("api_key_env")
        assert note.has_class("-warning") and not note.has_class("-error")
        await pilot.click("#form-save")
        await pilot.pause()
        assert app.screen.query_one("ContentSwitcher").current == "list"
    db = open_db(empty_db)
    row = find_player(db, "remote")
    db.close()
    assert row is not None and row.spec["api_key_env"] == "ARENA_TEST_UNSET_KEY"


async def test_a_bot_added_through_the_form_is_listed_and_stored(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_add_form(pilot)
        await pilot.press(*"mm-2")
        form.query_one("#f-bot", Select).value = "minimax"
        await pilot.click("#form-save")
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("ContentSwitcher").current == "list"
        table = screen.query_one("#players", DataTable)
        row = table.get_row("mm-2")
        assert row[1] == "bot" and "minimax" in str(row[2])
        assert screen.selected_name() == "mm-2"
    db = open_db(empty_db)
    stored = find_player(db, "mm-2")
    db.close()
    assert stored is not None and stored.kind == "bot" and stored.spec["bot"] == "minimax"


async def test_editing_a_player_with_matches_keeps_it_and_needs_a_new_name(
    scripted_db: tuple[Path, int],
) -> None:
    path, _ = scripted_db
    app = make_app(path, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_section(pilot, "p")
        screen = app.screen
        table = screen.query_one("#players", DataTable)
        table.move_cursor(row=table.get_row_index("scripted"))
        await pilot.press("e")
        await pilot.pause()
        form = screen.query_one(PlayerForm)
        assert form.query_one("#f-name", Input).value == "scripted"
        form.query_one("#f-sampling-max_tokens", Input).value = "32"
        await pilot.click("#form-save")
        await pilot.pause()
        assert "played matches" in form.note_text("name")
        form.query_one("#f-name", Input).value = "scripted-32"
        await pilot.click("#form-save")
        await pilot.pause()
        assert screen.query_one("ContentSwitcher").current == "list"
    db = open_db(path)
    old, new = find_player(db, "scripted"), find_player(db, "scripted-32")
    db.close()
    assert old is not None and old.spec["sampling"]["max_tokens"] == 256 and not old.retired_at
    assert new is not None and new.spec["sampling"]["max_tokens"] == 32


async def test_editing_a_player_without_matches_replaces_it(empty_db: Path) -> None:
    db = open_db(empty_db)
    add_player(db, parse_spec({"name": "b1", "kind": "bot", "bot": "random"}))
    db.close()
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_section(pilot, "p")
        table = app.screen.query_one("#players", DataTable)
        table.move_cursor(row=table.get_row_index("b1"))
        await pilot.press("e")
        await pilot.pause()
        form = app.screen.query_one(PlayerForm)
        form.query_one("#f-bot", Select).value = "minimax"
        await pilot.click("#form-save")
        await pilot.pause()
        assert table.get_row_index("b1") >= 0
    db = open_db(empty_db)
    row = find_player(db, "b1")
    db.close()
    assert row is not None and row.spec["bot"] == "minimax"


async def test_remove_asks_first_then_retires_a_player_with_matches(
    scripted_db: tuple[Path, int],
) -> None:
    path, _ = scripted_db
    app = make_app(path, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_section(pilot, "p")
        screen = app.screen
        table = screen.query_one("#players", DataTable)
        table.move_cursor(row=table.get_row_index("scripted"))
        await pilot.press("d")
        await pilot.pause()
        assert screen.query_one("#confirm").has_class("-shown")
        assert "retired" in plain(screen.query_one("#confirm-text", Static))
        await pilot.press("escape")  # no
        await pilot.pause()
        assert not screen.query_one("#confirm").has_class("-shown")
        assert "scripted" in screen.rows
        await pilot.press("d")
        await pilot.press("y")
        await pilot.pause()
        assert "scripted" not in screen.rows  # retired players are hidden...
        await pilot.press("h")
        await pilot.pause()
        assert "retired" in str(table.get_row("scripted")[4])  # ...until asked for
    db = open_db(path)
    row = find_player(db, "scripted")
    db.close()
    assert row is not None and row.retired_at is not None


async def test_probe_of_a_tiny_llamacpp_player_shows_its_reply_and_latency(
    empty_db: Path, tiny_gguf: Path
) -> None:
    db = open_db(empty_db)
    spec = {
        "name": "tiny",
        "kind": "llamacpp",
        "path": str(tiny_gguf),
        "decode": "constrained",
        "prompt": {"reasoning": "direct"},
        "sampling": {"max_tokens": 8},
    }
    add_player(db, parse_spec(spec))
    db.close()
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_section(pilot, "p")
        screen = app.screen
        table = screen.query_one("#players", DataTable)
        table.move_cursor(row=table.get_row_index("tiny"))
        await pilot.press("T")
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = screen.query_one("#probe-pane")
        result = plain(screen.query_one("#probe-result", Static))
        assert pane.has_class("-shown") and not pane.has_class("-error")
        assert result.startswith("tiny at tictactoe: ")
        latency = float(result.split(": ", 1)[1].split(" s", 1)[0])
        assert latency > 0
        legal = games.make("tictactoe").new_initial_state().legal_actions()
        assert "legal move" in result and any(f"legal move {a}" in result for a in legal)
        assert "\nreply: " in result and result.split("\nreply: ", 1)[1].strip()


async def test_probe_of_a_dead_endpoint_shows_an_error(empty_db: Path) -> None:
    db = open_db(empty_db)
    spec = {
        "name": "dead",
        "kind": "openai",
        "model": "m",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": None,
        "max_retries": 0,
        "timeout_s": 2,
    }
    add_player(db, parse_spec(spec))
    db.close()
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_section(pilot, "p")
        screen = app.screen
        table = screen.query_one("#players", DataTable)
        table.move_cursor(row=table.get_row_index("dead"))
        await pilot.press("T")
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = screen.query_one("#probe-pane")
        assert pane.has_class("-shown") and pane.has_class("-error")
        assert "dead: backend error" in plain(screen.query_one("#probe-result", Static))
        assert type(app.screen).__name__ == "PlayersScreen"  # no crash


async def test_the_forms_test_button_asks_the_unsaved_spec_and_shows_an_error(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_add_form(pilot)
        await pilot.press(*"dead2")
        form.query_one("#f-kind", Select).value = "openai"
        await pilot.pause()
        form.query_one("#f-model", Input).value = "m"
        form.query_one("#f-base_url", Input).value = "http://127.0.0.1:9/v1"
        form.query_one("#f-api_key_env", Input).value = ""  # a local server needs no key
        form.query_one("#f-max_retries", Input).value = "0"
        form.query_one("#f-timeout_s", Input).value = "2"
        await pilot.click("#form-test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#probe-pane").has_class("-error")
        assert "dead2: backend error" in plain(screen.query_one("#probe-result", Static))
        assert screen.query_one("ContentSwitcher").current == "form"  # still editing
    db = open_db(empty_db)
    assert find_player(db, "dead2") is None  # testing saves nothing
    db.close()


# --- small terminals ---------------------------------------------------------------------------
def inside(widget, width: int = 80, height: int = 24) -> bool:
    r = widget.region
    return r.width > 0 and r.height > 0 and r.right <= width and r.bottom <= height


async def test_both_screens_work_at_80x24(scripted_db: tuple[Path, int]) -> None:
    path, match_id = scripted_db
    app = make_app(path, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "r")
        screen = app.screen
        assert inside(screen.query_one("#matches"))
        assert inside(screen.query_one("#f-status"))
        await screen.open_replay(match_id)
        await pilot.press("n")
        await pilot.pause()
        for selector in ("#replay-board-pane", "#replay-attempts", "#replay-move"):
            assert inside(screen.query_one(selector))
        assert screen.query_one("#replay-attempts").region.width >= 30

        await open_section(pilot, "p")
        screen = app.screen
        assert inside(screen.query_one("#players"))
        await pilot.press("a")
        await pilot.pause()
        for selector in ("#f-name", "#form-save", "#form-test", "#form-cancel", "#probe-game"):
            assert inside(screen.query_one(selector))
        screen.query_one("#f-kind", Select).value = "openai"
        await pilot.pause()
        # A field far down the form scrolls into view when it has an error.
        screen.query_one("#f-extra", Input).value = "{oops"
        await pilot.click("#form-save")
        await pilot.pause()
        assert "not valid JSON" in screen.query_one(PlayerForm).note_text("extra")
        assert inside(screen.query_one("#row-f-extra"))
