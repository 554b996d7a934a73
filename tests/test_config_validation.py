"""A tournament config, and the numeric options of `arena match` and `arena eval`, are checked
up front: a bad file or value is a clear error naming the field (and the file), never a
traceback, and nothing is stored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import cli
from arena.errors import ArenaError
from arena.tournament.config import ConfigError, load_config, parse_config

GOOD = 'games = ["tictactoe"]\nplayers = ["random", "minimax"]\n'
BIG = str(2**70)


def _config(tmp_path: Path, text: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_config_error_is_an_arena_error_and_still_a_value_error() -> None:
    assert issubclass(ConfigError, ArenaError) and issubclass(ConfigError, ValueError)


def test_a_good_config_loads(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, GOOD + "seed = -7\n"))
    assert config.players == ["random", "minimax"] and config.seed == -7


def test_a_config_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.encode() + 'name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "UTF-8" in str(err.value)


def test_invalid_toml_and_a_missing_file_are_named(tmp_path: Path) -> None:
    path = _config(tmp_path, "games = [\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "not valid TOML" in str(err.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a folder


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("surprise = 1", "surprise"),
        ('format = "knockout"', "format"),
        ("games_per_pair = 0", "games_per_pair"),
        ("games_per_pair = -3", "games_per_pair"),
        ("games_per_pair = nan", "games_per_pair"),
        (f"games_per_pair = {BIG}", "games_per_pair"),
        ("concurrency = 0", "concurrency"),
        ("concurrency = inf", "concurrency"),
        (f"seed = {BIG}", "seed"),
        (f"seed = -{BIG}", "seed"),
        ("seed = nan", "seed"),
        ("seed = 1.5", "seed"),
        ("rounds = -1", "rounds"),
        (f"rounds = {BIG}", "rounds"),
        ("matches = 0", "matches"),
        (f"matches = {BIG}", "matches"),
        ("min_games = -1", "min_games"),
        ("retries = -1", "retries"),
        ("move_time_limit_s = nan", "move_time_limit_s"),
        ("move_time_limit_s = inf", "move_time_limit_s"),
        ("move_time_limit_s = -1.0", "move_time_limit_s"),
        ("max_reply_bytes = 1", "max_reply_bytes"),
        ("max_error_tries = 0", "max_error_tries"),
        ('on_illegal = "shrug"', "on_illegal"),
    ],
)
def test_each_bad_setting_is_named_with_the_file(tmp_path: Path, line: str, field: str) -> None:
    path = _config(tmp_path, GOOD + line + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    # A sentence that names the field ("rounds must be at least 1 (got -1)"), not pydantic's.
    assert re.search(rf": {field}[: ]", message), message
    assert "Input should" not in message
    assert str(path) in message


def test_game_params_that_cannot_be_stored_are_named() -> None:
    for value in (2**70, float("nan"), float("inf")):
        with pytest.raises(ConfigError) as err:
            parse_config(
                {"games": [{"id": "tictactoe", "params": {"depth": value}}], "players": ["a", "b"]}
            )
        assert "games.0.params" in str(err.value) and "depth" in str(err.value)


def test_an_inline_player_error_names_the_player_and_the_file(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        GOOD + '[[player]]\nname = "hot"\nkind = "openai"\nmodel = "m"\n'
        "[player.sampling]\ntemperature = nan\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "player[0]" in str(err.value) and "sampling.temperature" in str(err.value)
    assert str(path) in str(err.value)


# --- `arena tournament run CONFIG` through the CLI, on a real database ----------------------


def _run(tmp_path: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(tmp_path / "arena.db"), *args])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("games = [\n", "not valid TOML"),
        (GOOD + "surprise = 1\n", "surprise is not a known setting"),
        (GOOD + 'format = "knockout"\n', "format must be one of 'round_robin', 'gauntlet'"),
        (GOOD + f"seed = {BIG}\n", "seed:"),
        (GOOD + "games_per_pair = nan\n", "games_per_pair must be a finite number (got nan)"),
        (GOOD + "concurrency = -4\n", "concurrency must be at least 1 (got -4)"),
        ('games = ["tictactoe"]\nplayers = ["random", "nobody-here"]\n', "nobody-here"),
        ('games = ["no_such_game"]\nplayers = ["random", "minimax"]\n', "no_such_game"),
    ],
)
def test_tournament_run_refuses_a_bad_config_clearly(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _config(tmp_path, text)
    result = _run(tmp_path, "tournament", "run", "--config", str(path), "--quiet")
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    listed = _run(tmp_path, "tournament", "list", "--json")
    assert listed.exit_code == 0 and listed.output.strip() == "[]"


def test_tournament_run_refuses_a_config_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(b"\xff\xfe" + GOOD.encode("utf-16-le"))
    result = _run(tmp_path, "tournament", "run", "--config", str(path))
    assert result.exit_code == 1
    assert "UTF-8" in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_tournament_flags_over_64_bits_are_refused(tmp_path: Path) -> None:
    result = _run(
        tmp_path, "tournament", "run", "--game", "tictactoe", "--player", "random",
        "--player", "minimax", "--seed", BIG,
    )  # fmt: skip
    assert result.exit_code == 2 and "--seed: a whole number beyond 64 bits" in result.output
    assert "Traceback" not in result.output
