"""Games with nobody to beat: one-player games and cooperative ones (every seat on one team).
They are played and stored like any match, never rated, and their result reads as a score."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import cli
from arena.match import MatchResult, forfeit_returns
from arena.outcomes import outcome
from arena.store.records import is_rated

needs_openspiel = pytest.mark.skipif(
    importlib.util.find_spec("pyspiel") is None,
    reason="open_spiel is not installed: pip install 'arena-games[openspiel]'",
)


def _result(n: int, teams: list[int] | None) -> MatchResult:
    return MatchResult(
        "g", {}, 1, [f"p{i}" for i in range(n)], "finished", [1.0] * n, [], teams=teams
    )


def test_only_matches_with_two_sides_are_rated() -> None:
    assert not is_rated(_result(1, None), [1])
    assert not is_rated(_result(2, [0, 0]), [1, 2])  # cooperative: one team
    assert is_rated(_result(2, None), [1, 2])
    assert is_rated(_result(3, [0, 0, 1]), [1, 2, 3])  # spy: civilians against the spy


def test_a_lone_player_that_forfeits_just_loses() -> None:
    assert forfeit_returns(1, 0) == [-1.0]
    assert forfeit_returns(3, 1) == [0.5, -1.0, 0.5]


def test_a_score_not_a_draw_when_nobody_could_win() -> None:
    one = outcome("tictactoe", [7.0], teams=[0])
    assert one.sentence(players=["ann"]) == "ann (Player 0) scored 7"
    assert one.sentence(viewer=0) == "You scored 7 as Player 0"
    two = outcome("tictactoe", [10.0, 10.0], teams=[0, 0])
    assert two.sentence() == "X and O scored 10 together"
    assert outcome("tictactoe", [0.0, 0.0]).sentence() == "Draw"  # two sides: a real draw


@needs_openspiel
@pytest.mark.parametrize(
    ("game", "players"),
    [("openspiel/catch", ["random"]), ("openspiel/tiny_hanabi", ["random", "random"])],
)
def test_they_play_and_are_stored_unrated(tmp_path: Path, game: str, players: list[str]) -> None:
    db = str(tmp_path / "a.db")
    out = CliRunner().invoke(cli, ["--db", db, "match", game, *players, "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert "scored" in out.output and "Traceback" not in out.output
    from arena.store import open_db

    rows = open_db(db).conn.execute("SELECT status, rated FROM matches").fetchall()
    assert rows == [("finished", 0)]
    board = CliRunner().invoke(cli, ["--db", db, "leaderboard"])
    assert "no rated matches yet" in board.output
