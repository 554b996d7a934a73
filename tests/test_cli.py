"""End-to-end runs of the `arena` command in a subprocess, as a user would type them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import games

ROOT = Path(__file__).resolve().parents[1]


def arena(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("arena", path=str(Path(sys.executable).parent)) or shutil.which("arena")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "arena.cli", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_help_lists_the_commands():
    out = arena("--help")
    assert "games" in out.stdout
    assert "Usage" in out.stdout


def test_games_table_lists_every_game():
    out = arena("games").stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "name", "players"]
    for gid in games.game_ids():
        assert any(line.startswith(gid + " ") for line in lines), gid
    assert "3-6" in out  # spy's player range


def test_games_json_has_the_documented_fields():
    data = json.loads(arena("games", "--json").stdout)
    assert [d["id"] for d in data] == games.game_ids()
    for d in data:
        for key in ("id", "name", "min_players", "max_players", "chance", "hidden_info"):
            assert key in d
        assert d["min_players"] <= d["max_players"]
    kuhn = next(d for d in data if d["id"] == "kuhn_poker")
    assert kuhn["chance"] is True and kuhn["hidden_info"] is True and "cfr" in kuhn["bots"]
    ttt = next(d for d in data if d["id"] == "tictactoe")
    assert ttt["chance"] is False and ttt["hidden_info"] is False


@pytest.mark.parametrize("game_id", ["tictactoe", "kuhn_poker", "spy", "chess"])
def test_games_show_prints_the_rules(game_id):
    out = arena("games", "show", game_id).stdout
    assert games.make(game_id).rules() in out
    assert "bots:" in out


def test_games_show_json():
    data = json.loads(arena("games", "show", "leduc_poker", "--json").stdout)
    assert data["id"] == "leduc_poker" and "rules" in data and len(data["rules"]) > 80


def test_unknown_game_is_a_clear_error():
    out = arena("games", "show", "go", check=False)
    assert out.returncode == 2
    assert "unknown game 'go'" in out.stderr and "tictactoe" in out.stderr
