"""Move quality: every stored decision's loss against the best move, where a solver (minimax),
an equilibrium (CFR) or an engine (Stockfish) gives ground truth; stored incrementally and
summarised per player. Real matches played by arena's own loop, real SQLite files."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

import games
from arena.backends.scripted import ScriptedBackend
from arena.match import MatchRules, play_match
from arena.move_quality import (
    ChessScorer,
    ConnectFourScorer,
    PokerScorer,
    TicTacToeScorer,
    make_scorer,
    move_quality_summary,
    score_decisions,
    score_stored_matches,
)
from arena.players.bot import BotPlayer
from arena.players.llm import LLMPlayer
from arena.specs import parse_spec
from arena.store import open_db
from arena.store.players import add_player, player_ids
from arena.store.records import record_match
from games.chess_game import find_engine

ROOT = Path(__file__).resolve().parents[1]


def _play_and_store(db, game_id: str, names: list[str], seeds, **params) -> None:
    """Bots `names` play `game_id` once per seed, seats swapped on odd seeds, each stored."""
    game = games.make(game_id, **params)
    for seed in seeds:
        seats = names if seed % 2 == 0 else names[::-1]
        result = asyncio.run(play_match(game, [BotPlayer(n) for n in seats], seed))
        record_match(db, result, player_ids(db, seats))


def _losses(db, player: str, game: str) -> list[float | None]:
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT q.loss FROM move_quality q JOIN players p ON p.id = q.player_id "
            "WHERE p.name = ? AND q.game = ?",
            (player, game),
        )
    ]


def _decisions_stored(db) -> int:
    return db.conn.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT match_id, idx FROM moves WHERE seat >= 0)"
    ).fetchone()[0]


def _moves(actions: list[str], seats: list[int]) -> list[tuple[int, int, int, str]]:
    return [(i, 0, seat, a) for i, (a, seat) in enumerate(zip(actions, seats, strict=True))]


# --- what is computed, on known positions -------------------------------------------------------
def test_tictactoe_loss_is_the_exact_game_value_given_away():
    # X a1, O b2, X b1 threatens c1; O plays a3 instead of blocking and X wins at c1.
    moves = _moves(["a1", "b2", "b1", "a3", "c1"], [0, 1, 0, 1, 0])
    scored = score_decisions(games.make("tictactoe"), TicTacToeScorer(), moves)
    assert [d.loss for d in scored] == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert scored[3].best == "c1" and scored[4].best == "c1"
    assert all(d.method == "minimax" for d in scored)


def test_kuhn_folding_a_king_to_a_bet_loses_three_chips():
    game = games.make("kuhn_poker")
    moves = [(0, 0, -1, "deal J"), (1, 0, -1, "deal K"), (2, 0, 0, "bet"), (3, 0, 1, "fold")]
    scored = score_decisions(game, PokerScorer(game), moves)
    assert [d.idx for d in scored] == [2, 3]
    assert scored[1].loss == pytest.approx(3.0) and scored[1].best == "call"  # +2 vs -1
    # Betting a jack first is in the equilibrium's support: (almost) as good as checking.
    assert scored[0].loss == pytest.approx(0.0, abs=0.01)
    # A queen facing a bet: the bettor's card is weighted by how often CFR bets it (a bluffing
    # jack, a value-betting king), which makes calling and folding worth the same; weighting by
    # chance alone would make folding a 1-chip mistake.
    for reply in ("call", "fold"):
        moves = [(0, 0, -1, "deal K"), (1, 0, -1, "deal Q"), (2, 0, 0, "bet"), (3, 0, 1, reply)]
        assert score_decisions(game, PokerScorer(game), moves)[1].loss < 0.01


def test_connect_four_missed_wins_and_blocks_are_found_by_the_depth_limited_search():
    game = games.make("connect_four")
    # X stacks column 1; O stacks column 2 without blocking; X then plays 3, missing its win in
    # one and leaving O's; O wins in column 2.
    moves = _moves(["1", "2", "1", "2", "1", "2", "3", "2"], [0, 1, 0, 1, 0, 1, 0, 1])
    scored = score_decisions(game, ConnectFourScorer(game), moves)
    assert len(scored) == 8 and scored[0].method == "minimax-depth5"
    assert scored[5].loss == 1.0 and scored[5].best == "1"  # did not block: draw-ish to lost
    assert scored[6].loss == 2.0 and scored[6].best == "1"  # a won game thrown away
    assert scored[7].loss == 0.0


# --- stored matches ---------------------------------------------------------------------------
def test_minimax_never_gives_value_away_and_random_does(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "tictactoe", ["minimax", "random"], range(20))
    report = score_stored_matches(db)
    assert report.matches == 20 and report.decisions == _decisions_stored(db)
    assert db.conn.execute("SELECT COUNT(*) FROM move_quality").fetchone()[0] == report.decisions
    minimax, rand = _losses(db, "minimax", "tictactoe"), _losses(db, "random", "tictactoe")
    assert minimax and set(minimax) == {0.0}
    assert sum(rand) / len(rand) > 0.05 and set(rand) <= {0.0, 1.0, 2.0}
    summary = move_quality_summary(db, "tictactoe")
    assert summary["minimax"]["mean_loss"] == 0.0 and summary["minimax"]["best_share"] == 1.0
    assert summary["random"]["decisions"] == len(rand)
    assert summary["random"]["mean_loss"] == pytest.approx(sum(rand) / len(rand))
    assert summary["random"]["best_share"] == pytest.approx(rand.count(0.0) / len(rand))
    assert summary["random"]["unit"] == "game value"


@pytest.mark.parametrize(("game_id", "matches"), [("kuhn_poker", 120), ("leduc_poker", 30)])
def test_the_cfr_bot_loses_almost_nothing_and_random_loses_chips(
    tmp_path: Path, game_id: str, matches: int
) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, game_id, ["cfr", "random"], range(matches))
    score_stored_matches(db, game=game_id)
    summary = move_quality_summary(db, game_id)
    cfr, rand = summary["cfr"], summary["random"]
    assert cfr["unit"] == rand["unit"] == "chips"
    assert cfr["decisions"] > 0 and rand["decisions"] > 0
    assert cfr["decisions"] + rand["decisions"] == _decisions_stored(db)
    assert cfr["mean_loss"] < 0.01
    assert rand["mean_loss"] > 0.05 and rand["mean_loss"] > 10 * cfr["mean_loss"]
    assert cfr["best_share"] > 0.9 > rand["best_share"]


def test_a_rerun_scores_nothing_new_and_then_only_the_new_match(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "tictactoe", ["minimax", "random"], range(6))
    first = score_stored_matches(db)
    rows = db.conn.execute("SELECT * FROM move_quality ORDER BY match_id, idx").fetchall()
    again = score_stored_matches(db)
    assert (again.matches, again.decisions) == (0, 0)
    assert db.conn.execute("SELECT * FROM move_quality ORDER BY match_id, idx").fetchall() == rows
    _play_and_store(db, "tictactoe", ["minimax", "random"], [99])
    new = score_stored_matches(db)
    newest = db.conn.execute("SELECT MAX(id) FROM matches").fetchone()[0]
    assert (
        new.matches == 1
        and new.decisions
        == db.conn.execute(
            "SELECT COUNT(*) FROM move_quality WHERE match_id = ?", (newest,)
        ).fetchone()[0]
    )
    assert first.decisions + new.decisions == _decisions_stored(db)


def test_an_interrupted_run_keeps_its_batches_and_the_next_one_finishes(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "kuhn_poker", ["cfr", "random"], range(12))

    def stop_after_five(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_stored_matches(db, batch_size=2, on_progress=stop_after_five)
    kept = db.conn.execute("SELECT COUNT(DISTINCT match_id) FROM move_quality").fetchone()[0]
    assert kept == 4  # two batches of two committed; the fifth match's batch was not
    rest = score_stored_matches(db, batch_size=2)
    assert rest.matches == 8
    done = db.conn.execute("SELECT COUNT(*) FROM move_quality").fetchone()[0]
    assert done == _decisions_stored(db)


def test_forfeits_and_forced_moves(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    add_player(db, parse_spec({"name": "typo", "kind": "human"}))
    game = games.make("tictactoe")
    ids = player_ids(db, ["typo", "minimax"])

    def typo() -> LLMPlayer:  # a legal first move, then replies that are no move at all
        return LLMPlayer("typo", ScriptedBackend(["Final answer: b2", "banana", "banana"]))

    forfeit = asyncio.run(
        play_match(game, [typo(), BotPlayer("minimax")], 1, rules=MatchRules(retries=1))
    )
    assert forfeit.forfeit_seat == 0
    forfeit_id = record_match(db, forfeit, ids)
    rules = MatchRules(retries=1, on_exhausted="random")
    forced = asyncio.run(play_match(game, [typo(), BotPlayer("minimax")], 2, rules=rules))
    assert any(m.forced for m in forced.moves)
    forced_id = record_match(db, forced, ids)

    score_stored_matches(db)
    rows = db.conn.execute(
        "SELECT idx, attempt, loss, best FROM move_quality WHERE match_id = ? ORDER BY idx",
        (forfeit_id,),
    ).fetchall()
    assert [r[:3] for r in rows] == [(0, 0, 0.0), (1, 0, 0.0), (2, 1, None)]
    assert rows[2][3] in game.new_initial_state().legal_actions()  # a best move is named
    # A forced (random) move is the seat's move: scored, on the attempt that was played.
    forced_moves = [m for m in forced.moves if m.forced]
    played = db.conn.execute(
        "SELECT idx, attempt, loss FROM move_quality WHERE match_id = ? AND idx = ?",
        (forced_id, forced_moves[0].index),
    ).fetchone()
    assert played[1] == 1 and played[2] is not None and played[2] >= 0
    summary = move_quality_summary(db, "tictactoe")["typo"]
    assert summary["forfeits"] == 1
    assert (
        summary["decisions"]
        == db.conn.execute(
            "SELECT COUNT(*) FROM move_quality q JOIN players p ON p.id = q.player_id "
            "WHERE p.name = 'typo' AND q.loss IS NOT NULL"
        ).fetchone()[0]
    )
    assert (score_stored_matches(db).matches, score_stored_matches(db).decisions) == (0, 0)


def test_games_without_ground_truth_store_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "prisoners_dilemma", ["tit_for_tat", "random"], range(2))
    _play_and_store(db, "tictactoe", ["minimax", "random"], [0])
    report = score_stored_matches(db)
    assert report.matches == 1
    stored = {r[0] for r in db.conn.execute("SELECT DISTINCT game FROM move_quality")}
    assert stored == {"tictactoe"}
    assert make_scorer(games.make("prisoners_dilemma")) is None


def test_the_summary_pools_games_only_where_units_agree(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "tictactoe", ["minimax", "random"], range(4))
    _play_and_store(db, "kuhn_poker", ["cfr", "random"], range(4))
    score_stored_matches(db)
    rand = move_quality_summary(db)["random"]
    assert set(rand["by_game"]) == {"tictactoe", "kuhn_poker"}
    assert rand["mean_loss"] is None and rand["unit"] is None  # game values vs chips
    per_game = rand["by_game"].values()
    assert rand["decisions"] == sum(g["decisions"] for g in per_game)
    assert rand["best_moves"] == sum(g["best_moves"] for g in per_game)
    assert move_quality_summary(db)["minimax"]["mean_loss"] == 0.0  # one game: its own unit
    assert set(move_quality_summary(db, player="cfr")) == {"cfr"}


def test_the_migration_adds_the_move_quality_table(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    info = db.conn.execute("PRAGMA table_info(move_quality)").fetchall()
    columns = [r[1] for r in info]
    assert columns == ["match_id", "idx", "attempt", "player_id", "game", "loss", "best", "method"]
    assert [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] == [
        "match_id",
        "idx",
        "attempt",
    ]


# --- chess -------------------------------------------------------------------------------------
def test_chess_is_skipped_without_an_engine(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "chess", ["random", "search"], [0], max_moves=4)
    report = score_stored_matches(db, engine_path=str(tmp_path / "no-such-engine"))
    assert report.matches == 0 and "chess" in report.skipped
    assert db.conn.execute("SELECT COUNT(*) FROM move_quality").fetchone()[0] == 0


@pytest.mark.skipif(find_engine() is None, reason="no stockfish installed")
def test_stockfish_centipawn_loss(tmp_path: Path) -> None:
    game = games.make("chess")
    # Scholar's mate: 3...Nf6?? allows Qxf7#.
    actions = ["e4", "e5", "Qh5", "Nc6", "Bc4", "Nf6", "Qxf7#"]
    scorer = ChessScorer(find_engine())
    try:
        scored = score_decisions(game, scorer, _moves(actions, [0, 1] * 3 + [0]))
    finally:
        scorer.close()
    assert scored[5].loss > 500 and scored[5].best != "Nf6"
    assert scored[6].loss == 0.0 and scored[6].best == "Qxf7#"
    assert all(0 <= d.loss <= 2000 for d in scored) and scored[0].method == "stockfish-depth8"

    db = open_db(tmp_path / "arena.db")
    _play_and_store(db, "chess", ["random", "search"], [1], max_moves=10)
    report = score_stored_matches(db)
    assert report.matches == 1 and report.decisions == _decisions_stored(db)


# --- the command line ---------------------------------------------------------------------------
def arena(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arena.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_command_scores_once_and_prints_per_player(tmp_path: Path) -> None:
    path = tmp_path / "arena.db"
    db = open_db(path)
    _play_and_store(db, "tictactoe", ["minimax", "random"], range(6))
    decisions = _decisions_stored(db)
    db.close()

    out = arena("eval", "move-quality", "--json", db=path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["scored"]["matches"] == 6 and data["scored"]["decisions"] == decisions
    rows = {(r["player"], r["game"]): r for r in data["players"]}
    assert set(rows) == {("minimax", "tictactoe"), ("random", "tictactoe")}
    assert rows[("minimax", "tictactoe")]["mean_loss"] == 0.0
    assert rows[("minimax", "tictactoe")]["best_share"] == 1.0
    assert sum(r["decisions"] for r in rows.values()) == decisions

    out = arena("eval", "move-quality", "--game", "tictactoe", "--player", "minimax", db=path)
    assert out.returncode == 0, out.stderr
    assert "scored 0 new decisions in 0 matches" in out.stdout
    lines = out.stdout.splitlines()
    assert any(line.startswith("minimax ") and "100.0%" in line for line in lines)
    assert not any(line.startswith("random ") for line in lines)

    out = arena("eval", "move-quality", "--game", "prisoners_dilemma", db=path)
    assert out.returncode == 2 and "no solver or engine" in out.stderr
    out = arena("eval", "move-quality", "--player", "nobody", db=path)
    assert out.returncode != 0 and "unknown player 'nobody'" in out.stderr


def test_a_chess_engine_that_will_not_start_is_a_clear_error(tmp_path) -> None:
    from arena.errors import ArenaError
    from arena.move_quality import ChessScorer

    fake = tmp_path / "stockfish"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    for path in (str(fake), str(tmp_path / "missing-engine")):
        with pytest.raises(ArenaError, match="would not start as a UCI engine"):
            ChessScorer(path)
