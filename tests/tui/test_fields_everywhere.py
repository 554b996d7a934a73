"""One description per setting (`arena.player_fields`, `arena.tournament.fields`): every field
appears in the app's form and as a CLI option, with the model's docstring as help, and a bad
value gets the same words in both, naming the field the way each one names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import Input, Select

from arena.cli import cli
from arena.player_fields import EXTRA
from arena.player_fields import FIELDS as PLAYER_FIELDS
from arena.specs import LlamaCppSpec
from arena.tournament.fields import FIELDS as TOURNAMENT_FIELDS
from arena.tui.app import make_app
from arena.tui.widgets.player_form import PlayerForm
from arena.tui.widgets.tournament_form import TournamentForm
from tests.tui.test_tournament_screen import fill_form, press_start
from tests.tui.test_tournament_screen import open_section as open_tournaments

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "models"
GGUF = next(ASSETS.glob("*.gguf"))


def _cli(tmp_path: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(tmp_path / "a.db"), *args])


def _error_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Error: "))


async def open_player_form(pilot, kind: str | None = None) -> PlayerForm:
    """The Players section's add form, of `kind` when given."""
    await pilot.press("p")
    await pilot.pause()
    await pilot.press("a")
    await pilot.pause()
    form = pilot.app.screen.query_one(PlayerForm)
    if kind is not None:
        form.query_one("#f-kind", Select).value = kind
        await pilot.pause()
    return form


def test_every_field_is_an_option_with_its_models_help(tmp_path: Path) -> None:
    players = _cli(tmp_path, "players", "add", "--help").output
    for f in PLAYER_FIELDS:
        if f.key in ("name", EXTRA):
            continue
        assert f.option in players, f.key
    tournament = _cli(tmp_path, "tournament", "run", "--help").output
    for f in TOURNAMENT_FIELDS:
        assert f.option in tournament, f.key
    # the help is the spec class's docstring, not a second copy of it
    doc = LlamaCppSpec.model_fields["n_ctx"].description
    assert doc and " ".join(doc.split()[:4]) in " ".join(players.split())


async def test_every_field_has_an_input_in_its_form(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_player_form(pilot)
        for f in PLAYER_FIELDS:
            assert form.query_one(f"#{f.widget_id}"), f.key
        await pilot.press("escape", "escape")
        await open_tournaments(pilot)
        tform = app.screen.query_one(TournamentForm)
        for f in TOURNAMENT_FIELDS:
            assert tform.query_one(f"#{f.key.replace('_', '-')}"), f.key


@pytest.mark.parametrize(
    ("option", "key", "text", "words"),
    [
        ("--n-ctx", "n_ctx", "8", "must be at least 128 (got 8)"),
        ("--temperature", "sampling.temperature", "9", "must be at most 5.0 (got 9)"),
        ("--n-threads", "n_threads", "two", "must be a whole number (got 'two')"),
        ("--stop", "sampling.stop", '["a"', "is not valid JSON: Expecting ',' delimiter"),
    ],
)
async def test_a_bad_player_value_gets_the_same_words_in_the_cli_and_the_form(
    empty_db: Path, tmp_path: Path, option: str, key: str, text: str, words: str
) -> None:
    out = _cli(
        tmp_path, "players", "add", "p1", "--kind", "llamacpp", "--path", str(GGUF), option, text
    )
    assert out.exit_code == 2
    assert _error_line(out.output).startswith(f"Error: {option} {words}"), out.output

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_player_form(pilot, "llamacpp")
        form.query_one("#f-name", Input).value = "p1"
        form.query_one("#f-path", Input).value = str(GGUF)
        field = next(f for f in PLAYER_FIELDS if f.key == key)
        form.query_one(f"#{field.widget_id}", Input).value = text
        assert form.validate() is None
        assert form.note_text(key).startswith(f"{field.label} {words}"), form.note_text(key)


async def test_a_bad_tournament_value_gets_the_same_words_in_the_cli_and_the_form(
    empty_db: Path, tmp_path: Path
) -> None:
    base = ["tournament", "run", "--game", "tictactoe", "--player", "random", "--player", "minimax"]
    out = _cli(tmp_path, *base, "--games-per-pair", "0", "--quiet")
    assert out.exit_code == 2
    assert _error_line(out.output) == "Error: --games-per-pair must be at least 1 (got 0)"

    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_tournaments(pilot)
        form = await fill_form(pilot, ["tictactoe"], ["random", "minimax"], games_per_pair="0")
        await press_start(pilot)
        assert form.error_text == "games per pair must be at least 1 (got 0)"
        assert screen.live_run is None


async def test_a_blank_means_what_the_form_says(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tournaments(pilot)
        form = await fill_form(pilot, ["tictactoe"], ["random", "minimax"], games_per_pair="")
        per_pair = form.query_one("#games-per-pair", Input)
        assert per_pair.placeholder == "blank: 2"  # says what a blank means
        form.query_one("#format", Select).value = "swiss"
        await pilot.pause()
        rounds = form.query_one("#rounds", Input)
        assert rounds.value == "" and rounds.placeholder.startswith("blank: auto")
        data = form.data()
        assert "games_per_pair" not in data and "rounds" not in data

        from arena.tournament.config import parse_config

        config = parse_config(data)
        assert config.games_per_pair == 2 and config.rounds is None

    # A player's required field left blank is named, never silently defaulted.
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_player_form(pilot, "llamacpp")
        form.query_one("#f-name", Input).value = "p2"
        form.query_one("#f-path", Input).value = ""
        form.query_one("#f-n_threads", Input).value = ""  # blank: the default, as shown
        assert form.validate() is None
        assert form.note_text("path") == "GGUF file is required"
        form.query_one("#f-path", Input).value = str(GGUF)
        spec = form.validate()
        assert spec is not None and spec.n_threads == 1
