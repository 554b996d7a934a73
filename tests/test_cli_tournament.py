"""The headless mode from the command line, in a temporary directory with a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def arena(tmp_path: Path):
    """Invoke `arena --db tmp/arena.db ...` in-process; returns (exit code, stdout, stderr)."""
    db = tmp_path / "arena.db"

    def call(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    call.db = db  # type: ignore[attr-defined]
    return call


def test_players_add_list_show_remove(arena) -> None:
    code, out, _ = arena("players", "add", "deep", "--kind", "bot", "--bot", "minimax")
    assert code == 0 and "added deep" in out
    code, out, _ = arena("players", "list", "--json")
    names = {p["name"]: p for p in json.loads(out)}
    assert names["deep"]["spec"]["bot"] == "minimax" and names["random"]["builtin"]
    code, out, _ = arena("players", "show", "deep")
    assert "bot: minimax" in out
    code, out, err = arena("players", "add", "deep", "--kind", "bot")
    assert code != 0 and "already exists" in err
    code, out, err = arena("players", "add", "x", "--kind", "llamacpp", "--path", "/nope.gguf")
    assert code != 0 and "does not exist" in err
    code, out, err = arena("players", "add", "x", "--kind", "bot", "--path", "a.gguf")
    assert code != 0 and "--path does not apply" in err
    code, out, _ = arena("players", "remove", "deep")
    assert code == 0 and "removed deep" in out


def test_players_import_from_toml(arena, tmp_path: Path) -> None:
    path = tmp_path / "players.toml"
    path.write_text(
        '[[players]]\nname = "a"\nkind = "bot"\nbot = "random"\n\n'
        '[[players]]\nname = "b"\nkind = "bot"\nbot = "minimax"\n'
    )
    code, out, _ = arena("players", "import", str(path))
    assert code == 0 and "imported 2 players" in out
    path.write_text("[[players]\nname=")
    code, _, err = arena("players", "import", str(path))
    assert code != 0 and "not valid TOML" in err


def test_tournament_run_json_leaderboard_matches_and_export(arena, tmp_path: Path) -> None:
    code, out, err = arena(
        "tournament",
        "run",
        "--game",
        "tictactoe",
        "--player",
        "random",
        "--player",
        "minimax",
        "--games-per-pair",
        "6",
        "--seed",
        "3",
        "--json",
        "--quiet",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["id"] == 1 and data["matches_played"] == 6 and data["status"] == "finished"
    code, out, _ = arena(
        "leaderboard", "--game", "tictactoe", "--json", "--matrix", "--bt", "--samples", "20"
    )
    board = json.loads(out)
    assert board["game"] == "tictactoe"
    assert set(board["trueskill"]) >= {"mu", "sigma", "beta", "tau", "draw_probability"}
    top = board["players"][0]
    assert top["name"] == "minimax" and top["losses"] == 0
    assert {"name", "mu", "sigma", "conservative", "games", "wins", "draws", "losses"} <= set(top)
    assert top["games"] == 6 and top["provisional"]
    assert board["win_rates"]["minimax"]["random"]["games"] == 6
    code, out, _ = arena("tournament", "list", "--json")
    assert json.loads(out)[0]["matches_played"] == 6
    code, out, _ = arena("tournament", "show", "1")
    assert "finished" in out
    code, out, _ = arena("matches", "list", "--tournament", "1", "--json")
    rows = json.loads(out)
    assert len(rows) == 6 and rows[0]["game"] == "tictactoe" and rows[0]["id"] < rows[-1]["id"]
    code, out, _ = arena("matches", "show", str(rows[0]["id"]))
    assert "X: " in out and "seat 0" not in out and "finished" in out
    export = tmp_path / "moves.jsonl"
    code, _, _ = arena("export", "matches", "--format", "jsonl", "--out", str(export))
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    assert lines and {"prompt", "reply", "action", "legal", "final_return"} <= set(lines[0])
    code, out, _ = arena("ratings", "recompute")
    assert code == 0 and "replayed 6" in out
    code, out2, _ = arena("leaderboard", "--game", "tictactoe", "--json")
    assert json.loads(out2)["players"] == board["players"]


def test_tournament_from_the_shipped_example_config(arena) -> None:
    code, out, err = arena(
        "tournament",
        "run",
        "--config",
        str(ROOT / "assets" / "tournament.toml"),
        "--games-per-pair",
        "2",
        "--json",
        "--quiet",
    )
    assert code == 0, err
    assert json.loads(out)["matches_played"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--game", "nosuch", "--player", "random", "--player", "minimax"], "unknown game"),
        (["--game", "tictactoe", "--player", "random", "--player", "ghost"], "unknown player"),
        (["--game", "kuhn_poker", "--player", "random", "--player", "minimax"], "cannot play"),
    ],
)
def test_bad_tournament_input_is_one_line_nonzero_and_writes_nothing(arena, args, message) -> None:
    code, out, err = arena("tournament", "run", *args)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1
    code, out, _ = arena("tournament", "list", "--json")
    assert json.loads(out) == []


def test_malformed_toml_config(arena, tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text("games = [tictactoe\n")
    code, _, err = arena("tournament", "run", "--config", str(bad))
    assert code != 0 and "not valid TOML" in err and len(err.strip().splitlines()) == 1


def test_db_flag_and_env_variable_choose_the_file(tmp_path: Path) -> None:
    env = dict(os.environ, ARENA_DB=str(tmp_path / "env.db"))
    subprocess.run(
        [sys.executable, "-m", "arena.cli", "players", "list"],
        env=env,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "env.db").exists()
    subprocess.run(
        [sys.executable, "-m", "arena.cli", "--db", str(tmp_path / "flag.db"), "players", "list"],
        env=env,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "flag.db").exists()


def test_newer_schema_is_a_clear_error(arena) -> None:
    import sqlite3

    arena("players", "list")
    conn = sqlite3.connect(arena.db)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    code, _, err = arena("players", "list")
    assert code != 0 and "newer arena" in err


@pytest.mark.parametrize(
    "player, message",
    [
        ('kind = "llamacpp"\npath = "/nowhere/model.gguf"', "does not exist"),
        (
            'kind = "openai"\nmodel = "m"\napi_key_env = "ARENA_TEST_NO_SUCH_KEY"',
            "ARENA_TEST_NO_SUCH_KEY is not set",
        ),
    ],
)
def test_missing_model_file_or_key_is_one_line_before_any_match(
    arena, tmp_path: Path, player, message
) -> None:
    os.environ.pop("ARENA_TEST_NO_SUCH_KEY", None)
    config = tmp_path / "t.toml"
    config.write_text(
        'games = ["tictactoe"]\nplayers = ["random", "m"]\n\n[[player]]\nname = "m"\n'
        + player
        + "\n"
    )
    code, _, err = arena("tournament", "run", "--config", str(config))
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    code, out, _ = arena("players", "list", "--json")
    assert [p["name"] for p in json.loads(out) if not p["builtin"]] == []
    code, out, _ = arena("tournament", "list", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize("command", ["run", "resume"])
@pytest.mark.parametrize("value", ["-1", "0", "2000"])
def test_a_concurrency_out_of_range_is_refused_before_anything_runs(arena, command, value) -> None:
    args = ["--game", "tictactoe", "--player", "random", "--player", "minimax"]
    argv = ["tournament", "run", *args] if command == "run" else ["tournament", "resume", "1"]
    code, _, err = arena(*argv, "--concurrency", value)
    # the config's own words, naming the option, on `run` and `resume` alike
    bound = "at most 1024" if int(value) > 1 else "at least 1"
    assert code == 2 and f"--concurrency must be {bound} (got {value})" in err, err
    code, out, _ = arena("tournament", "list", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    "option, value", [("--games-per-pair", "0"), ("--rounds", "0"), ("--matches", "-3")]
)
def test_non_positive_counts_are_refused_with_the_option_named(arena, option, value) -> None:
    code, _, err = arena(
        "tournament", "run", "--game", "tictactoe", "--player", "random", "--player", "minimax",
        option, value,
    )  # fmt: skip
    assert code == 2 and f"{option} must be at least 1 (got {value})" in err, err


def test_matches_that_end_in_error_make_run_and_resume_exit_non_zero(
    arena, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("ARENA_TEST_DEAD_KEY", "sk-test")
    config = tmp_path / "t.toml"
    config.write_text(
        'games = ["tictactoe"]\nplayers = ["random", "dead-api"]\ngames_per_pair = 2\n'
        "max_error_tries = 2\n\n"
        '[[player]]\nname = "dead-api"\nkind = "openai"\nmodel = "m"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmax_retries = 0\ntimeout_s = 2\n'
        'api_key_env = "ARENA_TEST_DEAD_KEY"\n'
    )
    code, out, err = arena("tournament", "run", "--config", str(config), "--json", "--quiet")
    assert code == 1, err
    data = json.loads(out)  # the summary is still printed
    assert data["status"] == "interrupted" and data["errors_this_run"] == 2
    assert "ended in error" in err and len(err.strip().splitlines()) == 1
    code, out, err = arena("tournament", "resume", "1", "--json", "--quiet")
    assert code == 1 and json.loads(out)["failed"] == 2  # finished, with matches failed for good
    assert "2 failed for good" in err
