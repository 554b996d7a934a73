"""A player's move quality sits next to its rating: the share of its moves that were best (where
the game has a ground truth and `arena eval move-quality` scored them)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from arena.cli import cli


def _cli(db: Path, *args: str):
    out = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert out.exit_code == 0, out.output
    return out.output


def test_the_share_of_best_moves_shows_next_to_the_rating(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    _cli(db, "tournament", "run", "--game", "tictactoe", "--player", "minimax",
         "--player", "random", "--games-per-pair", "6", "--quiet")  # fmt: skip
    before = {p["name"]: p for p in json.loads(_cli(db, "leaderboard", "--json"))["players"]}
    assert before["minimax"]["best_move_share"] is None  # not scored yet: shown as "-"
    table = _cli(db, "leaderboard", "--game", "tictactoe")
    assert "best mv" in table.splitlines()[1] and " - " in table
    _cli(db, "eval", "move-quality")
    board = json.loads(_cli(db, "leaderboard", "--game", "tictactoe", "--json"))
    by_name = {p["name"]: p for p in board["players"]}
    assert by_name["minimax"]["best_move_share"] == 1.0
    assert by_name["minimax"]["mean_move_loss"] == 0.0
    assert 0.0 <= by_name["random"]["best_move_share"] < 1.0
    assert by_name["random"]["mean_move_loss"] > 0.0
    assert by_name["random"]["scored_decisions"] > 0
    row = next(line for line in _cli(db, "leaderboard").splitlines() if "minimax" in line)
    assert "100%" in row


def test_players_show_gives_the_quality_of_the_moves_per_game(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    _cli(db, "tournament", "run", "--game", "tictactoe", "--player", "minimax",
         "--player", "random", "--games-per-pair", "4", "--quiet")  # fmt: skip
    assert json.loads(_cli(db, "players", "show", "minimax", "--json"))["move_quality"] == {}
    _cli(db, "eval", "move-quality")
    shown = json.loads(_cli(db, "players", "show", "random", "--json"))["move_quality"]
    assert set(shown) == {"tictactoe"} and shown["tictactoe"]["decisions"] > 0
    text = _cli(db, "players", "show", "minimax")
    assert "moves in tictactoe: 100% best of" in text and "mean loss 0 game value" in text
