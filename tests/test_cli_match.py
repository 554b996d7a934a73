"""`arena match` end to end, in a subprocess, as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def arena(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arena.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        input=input,
        timeout=120,
    )


def test_a_bot_match_prints_moves_and_the_result():
    out = arena("match", "tictactoe", "minimax", "random", "--seed", "4")
    assert out.returncode == 0, out.stderr
    assert "minimax (X):" in out.stdout and "seat 0" not in out.stdout
    assert "X: minimax +1" in out.stdout or "result: Draw" in out.stdout
    assert "result: minimax (X) won" in out.stdout or "result: Draw" in out.stdout


def test_json_record_has_moves_and_returns():
    out = arena("match", "kuhn_poker", "cfr", "cfr", "--seed", "9", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "finished" and record["players"] == ["cfr#0", "cfr#1"]
    assert record["moves"][0]["seat"] == -1  # the deal
    assert sum(record["returns"]) == 0


def test_game_parameters_and_player_count():
    out = arena("match", "spy", "heuristic", "random", "random", "--param", "num_players=3")
    assert out.returncode == 0, out.stderr
    bad = arena("match", "spy", "heuristic", "random")
    assert bad.returncode == 2 and "played by 4 players" in bad.stderr


def test_unknown_players_games_and_bad_specs_are_clear_errors(tmp_path):
    out = arena("match", "tictactoe", "minimax", "deep-blue")
    assert out.returncode == 2 and "unknown player 'deep-blue'" in out.stderr
    out = arena("match", "go", "random", "random")
    assert out.returncode == 2 and "unknown game" in out.stderr
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\nkind = "llamacpp"\npath = "/nowhere/model.gguf"\ncolour = "red"\n')
    out = arena("match", "tictactoe", str(spec), "random")
    assert out.returncode == 2
    assert "path: GGUF file" in out.stderr and "colour is not a known setting" in out.stderr


def test_a_person_plays_at_the_terminal():
    # Free text with a retry: "middle" is not a square, then "b2", then whatever is left.
    moves = "middle\nb2\n" + "\n".join(["a3", "c3", "a1", "c1", "b3", "b1", "a2", "c2"] * 2) + "\n"
    out = arena("match", "tictactoe", "human", "random", "--seed", "1", input=moves)
    assert out.returncode == 0, out.stderr
    assert "Not accepted:" in out.stdout and "Board:" in out.stdout
    assert "result:" in out.stdout


def test_a_model_from_a_spec_file_plays_through_the_cli(tmp_path, tiny_gguf):
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        f'name = "tiny"\nkind = "llamacpp"\npath = "{tiny_gguf}"\n'
        '[prompt]\nreasoning = "direct"\ninclude_rules = false\n'
        "[sampling]\nmax_tokens = 8\n"
    )
    out = arena(
        "match", "tictactoe", str(spec), "random", "--on-illegal", "random", "--seed", "2", "--json"
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "finished" and record["players"] == ["tiny", "random"]
    model_attempts = [a for m in record["moves"] if m["seat"] == 0 for a in m["attempts"]]
    assert model_attempts and all(a["messages"] and a["prompt_tokens"] for a in model_attempts)


# --- numeric options are checked up front (click's runner, a real database) -----------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--seed", str(2**70)], "--seed"),
        (["--seed", str(-(2**70))], "--seed"),
        (["--seed", "nan"], "--seed"),
        (["--retries", "-1"], "--retries"),
        (["--retries", str(2**70)], "--retries"),
        (["--move-time-limit", "nan"], "--move-time-limit"),
        (["--move-time-limit", "inf"], "--move-time-limit"),
        (["--move-time-limit", "-2"], "--move-time-limit"),
        (["--max-reply-bytes", "-5"], "--max-reply-bytes"),
        (["--param", "rows=NaN"], "--param"),
        (["--param", f"rows={2**70}"], "--param"),
    ],
)
def test_match_options_that_make_no_sense_are_refused_before_playing(
    tmp_path: Path, args: list[str], option: str
) -> None:
    db = tmp_path / "arena.db"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "match", "tictactoe", "random", "random", *args]
    )
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
    assert not db.exists()  # refused before the database was opened


def test_a_seed_at_the_64_bit_limit_plays_and_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "arena.db"
    result = CliRunner().invoke(
        cli,
        ["--db", str(db), "match", "tictactoe", "random", "minimax", "--seed", str(2**63 - 1)],
    )
    assert result.exit_code == 0, result.output
    assert "stored as match" in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--seed", str(2**70)], "--seed"),
        (["--samples", "-1"], "--samples"),
        (["--samples", "0"], "--samples"),
        (["--samples", str(2**70)], "--samples"),
    ],
)
def test_eval_options_that_make_no_sense_are_refused(
    tmp_path: Path, args: list[str], option: str
) -> None:
    db = tmp_path / "arena.db"
    result = CliRunner().invoke(
        cli,
        ["--db", str(db), "eval", "exploitability", "random", "--game", "kuhn_poker", *args],
    )
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
