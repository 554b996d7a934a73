"""Evaluation games: a real tiny checkpoint plays gauntlets against anchors (the games' bots and
its parent checkpoint) in a real SQLite file; matches are recorded with their moves, seats
alternate, ratings move like any match's, and bad calls write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.ratings import Rating, outcome_ranks
from arena.specs import PromptSpec, SamplingSpec, TransformersSpec, parse_spec
from arena.store import open_db
from arena.store.players import add_player, get_player
from arena.store.ratings import (
    DEFAULT_PARAMS,
    WIDEN,
    set_draw_probability,
)
from arena.store.recompute import recompute_ratings
from trainer.evaluate import default_anchors, evaluate_checkpoint

GAMES = ["tictactoe", "kuhn_poker"]
PER_ANCHOR = 2
DRAW = 0.2  # tictactoe's draw probability, configured so expected ratings can be computed


def register_checkpoint(db, name: str, folder: Path, parent: str | None) -> None:
    """As trainer/run.py registers a checkpoint: scored play over the legal actions."""
    spec = TransformersSpec(
        name=name,
        model=str(folder),
        decode="score",
        prompt=PromptSpec(reasoning="direct"),
        sampling=SamplingSpec(temperature=1.0),
        device="cpu",
        threads=1,
    )
    add_player(db, spec, parent=parent)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model_dir):
    """job@1 evaluated against random on tictactoe, then job@2 (its child) against the default
    anchors on both games."""
    path = tmp_path_factory.mktemp("eval") / "arena.db"
    db = open_db(path)
    set_draw_probability(db, "tictactoe", DRAW)
    register_checkpoint(db, "job@1", tiny_model_dir, None)
    register_checkpoint(db, "job@2", tiny_model_dir, "job@1")
    evaluate_checkpoint(
        path, "job@1", games=["tictactoe"], anchors=["random"], games_per_anchor=2, seed=1
    )
    anchors = default_anchors(db, GAMES, "job@2")
    metrics = evaluate_checkpoint(
        path, "job@2", games=GAMES, anchors=anchors, games_per_anchor=PER_ANCHOR, seed=7
    )
    yield db, metrics, anchors
    db.conn.close()


def job2_matches(db) -> list[tuple]:
    """(match id, game, anchor, the checkpoint's seat, its outcome, status, rated, moves)."""
    pid = get_player(db, "job@2").id
    return db.conn.execute(
        "SELECT m.id, m.game, p.name, mine.seat, mine.outcome, m.status, m.rated, m.num_moves "
        "FROM matches m JOIN results mine ON mine.match_id = m.id AND mine.player_id = ? "
        "JOIN results other ON other.match_id = m.id AND other.player_id != ? "
        "JOIN players p ON p.id = other.player_id ORDER BY m.id",
        (pid, pid),
    ).fetchall()


def test_default_anchors_are_random_the_games_bots_and_the_previous_checkpoint(evaluated):
    db, _, anchors = evaluated
    assert anchors == ["random", "minimax", "cfr", "job@1"]
    assert default_anchors(db, ["kuhn_poker"], "job@2") == ["random", "cfr", "job@1"]
    assert default_anchors(db, GAMES, "job@1") == ["random", "minimax", "cfr"]  # no parent


def test_every_playable_pair_plays_its_games_recorded_with_moves_and_rated(evaluated):
    db, _, _ = evaluated
    rows = job2_matches(db)
    pairs: dict[tuple[str, str], int] = {}
    for match_id, game, anchor, _, _, status, rated, num_moves in rows:
        pairs[(game, anchor)] = pairs.get((game, anchor), 0) + 1
        assert (status, rated) == ("finished", 1)
        stored = db.conn.execute(
            "SELECT COUNT(*) FROM moves WHERE match_id = ?", (match_id,)
        ).fetchone()[0]
        assert num_moves > 0 and stored >= num_moves  # every move, chance deals included
    # minimax has no kuhn_poker bot and cfr no tictactoe bot: those pairs are skipped
    assert pairs == {
        (game, anchor): PER_ANCHOR
        for game, anchor in [
            ("tictactoe", "random"),
            ("tictactoe", "minimax"),
            ("tictactoe", "job@1"),
            ("kuhn_poker", "random"),
            ("kuhn_poker", "cfr"),
            ("kuhn_poker", "job@1"),
        ]
    }
    tournaments = [r[0] for r in db.conn.execute("SELECT name FROM tournaments ORDER BY id")]
    assert len(set(tournaments)) == len(tournaments) == 3


def test_the_checkpoint_alternates_seats_against_each_anchor(evaluated):
    db, _, _ = evaluated
    seats: dict[tuple[str, str], list[int]] = {}
    for _, game, anchor, seat, *_ in job2_matches(db):
        seats.setdefault((game, anchor), []).append(seat)
    assert seats and all(sorted(s) == [0, 1] for s in seats.values())


def test_metrics_are_the_checkpoints_scores_and_its_ratings_after_the_games(evaluated):
    db, metrics, _ = evaluated
    points: dict[tuple[str, str], list[str]] = {}
    for _, game, anchor, _, outcome, *_ in job2_matches(db):
        points.setdefault((game, anchor), []).append(outcome)
    for (game, anchor), outcomes in points.items():
        wins, draws = outcomes.count("win"), outcomes.count("draw")
        prefix = f"eval/{game}/{anchor}"
        assert metrics[f"{prefix}/score"] == pytest.approx((wins + draws / 2) / len(outcomes))
        assert metrics[f"{prefix}/not_lose"] == pytest.approx((wins + draws) / len(outcomes))
        assert metrics[f"{prefix}/games"] == len(outcomes)
    by_seat: dict[tuple[str, str, int], list[str]] = {}
    for _, game, anchor, seat, outcome, *_ in job2_matches(db):
        by_seat.setdefault((game, anchor, seat), []).append(outcome)
    for (game, anchor, seat), outcomes in by_seat.items():
        not_lost = sum(o != "loss" for o in outcomes) / len(outcomes)
        assert metrics[f"eval/{game}/{anchor}/not_lose/seat{seat}"] == pytest.approx(not_lost)
    assert "eval/kuhn_poker/minimax/score" not in metrics
    assert "eval/tictactoe/cfr/score" not in metrics
    pid = get_player(db, "job@2").id
    for game in GAMES:
        mu, sigma, played = db.conn.execute(
            "SELECT mu, sigma, games FROM ratings WHERE player_id = ? AND scope = ?", (pid, game)
        ).fetchone()
        assert played == 3 * PER_ANCHOR
        assert metrics[f"rating/{game}/mu"] == mu
        assert metrics[f"rating/{game}/sigma"] == sigma
        assert metrics[f"rating/{game}/conservative"] == pytest.approx(mu - 3 * sigma)
    overall = db.conn.execute(
        "SELECT games FROM ratings WHERE player_id = ? AND scope = '*'", (pid,)
    ).fetchone()[0]
    assert overall == 6 * PER_ANCHOR


def test_the_checkpoints_first_match_starts_from_its_parents_rating(evaluated):
    trueskill = pytest.importorskip("trueskill")
    pytest.importorskip("mpmath")
    db, _, _ = evaluated
    first = next(r for r in job2_matches(db) if r[1] == "tictactoe")
    match_id, seat = first[0], first[3]
    seated = db.conn.execute(
        "SELECT player_id, return FROM results WHERE match_id = ? ORDER BY seat", (match_id,)
    ).fetchall()

    def before(player_id: int) -> Rating:
        row = db.conn.execute(
            "SELECT mu, sigma FROM rating_history WHERE player_id = ? AND scope = 'tictactoe' "
            "AND match_id < ? ORDER BY match_id DESC LIMIT 1",
            (player_id, match_id),
        ).fetchone()
        return Rating(*row) if row else DEFAULT_PARAMS.initial()

    parent = before(get_player(db, "job@1").id)
    assert parent != DEFAULT_PARAMS.initial()  # job@1 was rated by its own evaluation
    priors = [before(pid) for pid, _ in seated]
    priors[seat] = Rating(parent.mu, min((parent.sigma**2 + WIDEN**2) ** 0.5, 25 / 3))
    env = trueskill.TrueSkill(
        mu=25.0, sigma=25 / 3, beta=25 / 6, tau=25 / 300, draw_probability=DRAW, backend="mpmath"
    )
    _, ranks = outcome_ranks([ret for _, ret in seated])
    rated = env.rate([(env.create_rating(r.mu, r.sigma),) for r in priors], ranks=ranks)
    mu, sigma = db.conn.execute(
        "SELECT mu, sigma FROM rating_history WHERE match_id = ? AND player_id = ? "
        "AND scope = 'tictactoe'",
        (match_id, seated[seat][0]),
    ).fetchone()
    assert mu == pytest.approx(float(rated[seat][0].mu), abs=1e-9)
    assert sigma == pytest.approx(float(rated[seat][0].sigma), abs=1e-9)


def test_recompute_after_evaluations_gives_the_same_ratings(evaluated):
    db, _, _ = evaluated
    before = db.conn.execute("SELECT * FROM ratings ORDER BY player_id, scope").fetchall()
    recompute_ratings(db)
    assert db.conn.execute("SELECT * FROM ratings ORDER BY player_id, scope").fetchall() == before


TABLES = ("tournaments", "schedule", "matches", "moves", "results", "ratings", "rating_history")


def counts(db) -> dict[str, int]:
    return {t: db.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture
def fresh(tmp_path: Path, tiny_model_dir):
    path = tmp_path / "arena.db"
    db = open_db(path)
    register_checkpoint(db, "job@1", tiny_model_dir, None)
    yield path, db
    db.conn.close()


@pytest.mark.parametrize(
    "anchors, message",
    [
        (["random", "nobody"], "unknown anchor 'nobody'"),
        (["random", "random"], "listed twice"),
        (["job@1"], "its own anchor"),
        (["cfr"], "can play any of"),  # cfr plays only the poker games
    ],
)
def test_a_bad_anchor_list_is_a_clear_error_and_writes_nothing(fresh, anchors, message):
    path, db = fresh
    before = counts(db)
    with pytest.raises(ValueError, match=message):
        evaluate_checkpoint(
            path, "job@1", games=["tictactoe"], anchors=anchors, games_per_anchor=2, seed=0
        )
    assert counts(db) == before


def test_an_unknown_checkpoint_or_game_is_a_clear_error(fresh):
    path, db = fresh
    with pytest.raises(ValueError, match="unknown checkpoint player 'job@9'"):
        evaluate_checkpoint(
            path, "job@9", games=["tictactoe"], anchors=["random"], games_per_anchor=1, seed=0
        )
    with pytest.raises(ValueError, match="unknown game 'go'"):
        evaluate_checkpoint(
            path, "job@1", games=["go"], anchors=["random"], games_per_anchor=1, seed=0
        )
    assert counts(db)["tournaments"] == 0


def test_a_second_evaluation_gets_its_own_tournament_and_the_same_seeds(tmp_path: Path):
    path = tmp_path / "arena.db"
    db = open_db(path)
    add_player(db, parse_spec({"name": "bot@1", "kind": "bot", "bot": "random"}))
    for _ in range(2):
        metrics = evaluate_checkpoint(
            path, "bot@1", games=["tictactoe"], anchors=["minimax"], games_per_anchor=2, seed=5
        )
        assert metrics["eval/tictactoe/minimax/games"] == 2
    names = [r[0] for r in db.conn.execute("SELECT name FROM tournaments ORDER BY id")]
    assert names == ["eval bot@1 on tictactoe", "eval bot@1 on tictactoe (2)"]
    seeds = db.conn.execute(
        "SELECT tournament_id, seed, seats FROM schedule ORDER BY tournament_id, idx"
    ).fetchall()
    assert [s[1:] for s in seeds[:2]] == [s[1:] for s in seeds[2:]]
    assert metrics["eval/tictactoe/minimax/score"] <= 0.5  # minimax never loses at tictactoe
