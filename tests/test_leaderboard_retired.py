"""Removed (retired) players leave the leaderboard a user reads, `arena leaderboard` text and
JSON, unless asked for with --all; their ratings and history stay in the database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import games
from arena.cli import cli
from arena.match import play_match
from arena.players.bot import BotPlayer
from arena.specs import parse_spec
from arena.store import open_db
from arena.store.players import add_player, get_player, player_ids, remove_player
from arena.store.records import record_match
from arena.store.standings import rating_history, standing_rows


def record(db, names: list[str], seed: int) -> None:
    players = [BotPlayer(n, "minimax" if n == "minimax" else "random") for n in names]
    result = asyncio.run(play_match(games.make("tictactoe"), players, seed))
    record_match(db, result, player_ids(db, names))


def build_db_with_a_retired_player(path: Path) -> Path:
    """'gone' and 'kept' (random bots) each played minimax 3 times; then 'gone' was removed,
    which retires a player with matches."""
    db = open_db(path)
    for name in ("gone", "kept"):
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    for seed in range(3):
        record(db, ["gone", "minimax"], seed)
        record(db, ["minimax", "kept"], seed)
    assert remove_player(db, "gone") == "retired"
    db.close()
    return path


@pytest.fixture()
def retired_db(tmp_path: Path) -> Path:
    return build_db_with_a_retired_player(tmp_path / "arena.db")


def run(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), "leaderboard", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_retired_player_hidden_from_the_text_leaderboard_unless_all(retired_db: Path) -> None:
    default = run(retired_db, "--game", "tictactoe")
    assert "kept" in default and "minimax" in default
    assert "gone" not in default and "(retired)" not in default

    everyone = run(retired_db, "--game", "tictactoe", "--all")
    (gone,) = [line for line in everyone.splitlines() if "gone" in line]
    assert "(retired)" in gone
    assert not any("(retired)" in line for line in everyone.splitlines() if "gone" not in line)
    # overall scope too
    assert "gone" not in run(retired_db) and "gone" in run(retired_db, "--all")


def test_retired_player_hidden_from_the_json_leaderboard_unless_all(retired_db: Path) -> None:
    default = json.loads(run(retired_db, "--game", "tictactoe", "--json"))
    assert [p["name"] for p in default["players"]] == ["minimax", "kept"]
    assert [p["rank"] for p in default["players"]] == [1, 2]  # ranks among those listed
    assert default["include_retired"] is False

    everyone = json.loads(run(retired_db, "--game", "tictactoe", "--json", "--all"))
    marks = {p["name"]: p["retired"] for p in everyone["players"]}
    assert marks == {"minimax": False, "kept": False, "gone": True}
    assert sorted(p["rank"] for p in everyone["players"]) == [1, 2, 3]


def test_hiding_a_retired_player_keeps_its_ratings_and_history(retired_db: Path) -> None:
    db = open_db(retired_db)
    before = {r["name"]: (r["mu"], r["sigma"], r["games"]) for r in standing_rows(db, "tictactoe")}
    gone = get_player(db, "gone").id
    history = rating_history(db, gone, "tictactoe")
    db.close()
    run(retired_db, "--game", "tictactoe")
    run(retired_db, "--game", "tictactoe", "--json")
    db = open_db(retired_db)
    after = {r["name"]: (r["mu"], r["sigma"], r["games"]) for r in standing_rows(db, "tictactoe")}
    assert after == before and before["gone"][2] == 3
    assert rating_history(db, gone, "tictactoe") == history and len(history) == 3
    db.close()


def test_all_flag_is_documented_in_help() -> None:
    result = CliRunner().invoke(cli, ["leaderboard", "--help"])
    assert "--all" in result.output and "retired" in result.output
