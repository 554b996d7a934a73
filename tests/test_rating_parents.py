"""A checkpoint's ratings start from its parent's: the parent's mu with a widened sigma at the
child's first rated match in each scope, the default prior otherwise; the incremental update and
`recompute_ratings` agree exactly. Expected values come from the trueskill package."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

import games
from arena.match import play_match
from arena.players.bot import BotPlayer
from arena.ratings import Rating, outcome_ranks
from arena.specs import parse_spec
from arena.store import open_db
from arena.store.players import add_player, player_ids
from arena.store.ratings import (
    DEFAULT_PARAMS,
    OVERALL,
    WIDEN,
    RatingBook,
    Standing,
    player_standing,
    set_draw_probability,
)
from arena.store.recompute import recompute_ratings
from arena.store.records import record_match

trueskill = pytest.importorskip("trueskill")
pytest.importorskip("mpmath")

DRAW = {"tictactoe": 0.2, "kuhn_poker": 0.05}  # configured, so the expected values know them
DEFAULT_SIGMA = 25.0 / 3


def expected_after(priors: list[Rating], returns: list[float], draw: float) -> list[Rating]:
    """The trueskill package's ratings after one two-seat match (exact normal functions)."""
    env = trueskill.TrueSkill(
        mu=25.0,
        sigma=DEFAULT_SIGMA,
        beta=25.0 / 6,
        tau=25.0 / 300,
        draw_probability=draw,
        backend="mpmath",
    )
    _, ranks = outcome_ranks(returns)
    rated = env.rate([(env.create_rating(r.mu, r.sigma),) for r in priors], ranks=ranks)
    return [Rating(float(g[0].mu), float(g[0].sigma)) for g in rated]


def widened(sigma: float) -> float:
    """The formula of the issue, written out: the parent's sigma widened, capped at the default."""
    return min(math.sqrt(sigma * sigma + WIDEN * WIDEN), DEFAULT_SIGMA)


@pytest.fixture
def db(tmp_path: Path):
    db = open_db(tmp_path / "arena.db")
    for game_id, value in DRAW.items():
        set_draw_probability(db, game_id, value)
    return db


def register(db, name: str, bot: str, parent: str | None = None) -> None:
    add_player(db, parse_spec({"name": name, "kind": "bot", "bot": bot}), parent=parent)


def play(db, game_id: str, seats: list[tuple[str, str]], seed: int) -> list[float]:
    """Play and record one match between (name, bot) seats; returns the seats' returns."""
    players = [BotPlayer(name, bot) for name, bot in seats]
    result = asyncio.run(play_match(games.make(game_id), players, seed))
    record_match(db, result, player_ids(db, [name for name, _ in seats]))
    assert result.returns is not None
    return result.returns


def rating(db, name: str, scope: str) -> tuple[Rating, int] | None:
    row = db.conn.execute(
        "SELECT r.mu, r.sigma, r.games FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE p.name = ? AND r.scope = ?",
        (name, scope),
    ).fetchone()
    return None if row is None else (Rating(row[0], row[1]), row[2])


def assert_rating(actual: Rating, expected: Rating) -> None:
    assert actual.mu == pytest.approx(expected.mu, abs=1e-9)
    assert actual.sigma == pytest.approx(expected.sigma, abs=1e-9)


def snapshot(db) -> tuple[list, list]:
    ratings = db.conn.execute("SELECT * FROM ratings ORDER BY player_id, scope").fetchall()
    history = db.conn.execute(
        "SELECT * FROM rating_history ORDER BY match_id, player_id, scope"
    ).fetchall()
    return ratings, history


def test_widen_is_a_fraction_of_the_default_sigma():
    assert 0 < WIDEN < DEFAULT_PARAMS.sigma


def test_childs_first_match_starts_from_the_parents_mu_with_widened_sigma(db):
    register(db, "a@1", "minimax")
    register(db, "a@2", "minimax", parent="a@1")
    for seed in range(4):
        seats = [("a@1", "minimax"), ("random", "random")]
        play(db, "tictactoe", seats if seed % 2 == 0 else seats[::-1], seed)
    parent = {scope: rating(db, "a@1", scope)[0] for scope in ("tictactoe", OVERALL)}
    opponent = {scope: rating(db, "random", scope)[0] for scope in ("tictactoe", OVERALL)}
    assert widened(parent["tictactoe"].sigma) < DEFAULT_SIGMA  # the cap is not what is tested

    returns = play(db, "tictactoe", [("a@2", "minimax"), ("random", "random")], 11)

    for scope in ("tictactoe", OVERALL):
        prior = Rating(parent[scope].mu, widened(parent[scope].sigma))
        child, opp = expected_after([prior, opponent[scope]], returns, DRAW["tictactoe"])
        got, games_played = rating(db, "a@2", scope)
        assert_rating(got, child)
        assert games_played == 1  # the counters start at zero, only the rating is inherited
        assert_rating(rating(db, "random", scope)[0], opp)
    assert rating(db, "a@1", "tictactoe")[0] == parent["tictactoe"]  # the parent is untouched


def test_widened_sigma_is_capped_at_the_default_sigma():
    book = RatingBook(parents={2: 1, 3: 1})
    book.standings[(1, "g")] = Standing(mu=31.0, sigma=8.0, games=7)
    child = book.standing(2, "g")
    assert (child.mu, child.sigma, child.games) == (31.0, DEFAULT_SIGMA, 0)
    book.standings[(1, "g")] = Standing(mu=31.0, sigma=2.0, games=70)
    assert book.standing(3, "g").sigma == pytest.approx(math.sqrt(4.0 + WIDEN**2), abs=1e-12)


def test_no_parent_or_an_unrated_parent_gives_the_default_prior(db):
    register(db, "orphan", "minimax")
    register(db, "never-played", "minimax")
    register(db, "child", "minimax", parent="never-played")
    register(db, "gone", "minimax", parent="no-such-player")
    default = Rating(DEFAULT_PARAMS.mu, DEFAULT_PARAMS.sigma)
    for seed, name in enumerate(["orphan", "child", "gone"]):
        before = rating(db, "random", "tictactoe")
        opp = before[0] if before else default
        returns = play(db, "tictactoe", [(name, "minimax"), ("random", "random")], seed)
        expected, _ = expected_after([default, opp], returns, DRAW["tictactoe"])
        assert_rating(rating(db, name, "tictactoe")[0], expected)


def test_a_parent_rated_in_another_game_only_lends_its_overall_rating(db):
    register(db, "k@1", "minimax")
    register(db, "k@2", "cfr", parent="k@1")
    for seed in range(3):
        play(db, "tictactoe", [("k@1", "minimax"), ("random", "random")], seed)
    parent_overall = rating(db, "k@1", OVERALL)[0]
    opponent_overall = rating(db, "random", OVERALL)[0]
    default = Rating(DEFAULT_PARAMS.mu, DEFAULT_PARAMS.sigma)

    returns = play(db, "kuhn_poker", [("k@2", "cfr"), ("random", "random")], 5)

    in_game, _ = expected_after([default, default], returns, DRAW["kuhn_poker"])
    assert_rating(rating(db, "k@2", "kuhn_poker")[0], in_game)
    prior = Rating(parent_overall.mu, widened(parent_overall.sigma))
    overall, _ = expected_after([prior, opponent_overall], returns, DRAW["kuhn_poker"])
    assert_rating(rating(db, "k@2", OVERALL)[0], overall)


def test_a_chain_starts_each_checkpoint_from_the_previous_one_at_its_first_match(db):
    register(db, "a@1", "minimax")
    register(db, "a@2", "minimax", parent="a@1")
    register(db, "a@3", "random", parent="a@2")
    for seed in range(2):
        play(db, "tictactoe", [("a@1", "minimax"), ("random", "random")], seed)
    # a@2's first match is against its parent: both priors are taken before the update
    a1 = rating(db, "a@1", "tictactoe")[0]
    returns = play(db, "tictactoe", [("a@2", "minimax"), ("a@1", "minimax")], 2)
    a2, a1_after = expected_after(
        [Rating(a1.mu, widened(a1.sigma)), a1], returns, DRAW["tictactoe"]
    )
    assert_rating(rating(db, "a@2", "tictactoe")[0], a2)
    assert_rating(rating(db, "a@1", "tictactoe")[0], a1_after)
    # the parent keeps playing after its child's first match; the child keeps its own rating
    play(db, "tictactoe", [("a@1", "minimax"), ("random", "random")], 3)
    a2_now = rating(db, "a@2", "tictactoe")[0]
    random_now = rating(db, "random", "tictactoe")[0]
    returns = play(db, "tictactoe", [("random", "random"), ("a@2", "minimax")], 4)
    opp, a2_next = expected_after([random_now, a2_now], returns, DRAW["tictactoe"])
    assert_rating(rating(db, "a@2", "tictactoe")[0], a2_next)
    # a@3 starts from a@2 as it is now, not from a@1
    a2 = rating(db, "a@2", "tictactoe")[0]
    random_now = rating(db, "random", "tictactoe")[0]
    returns = play(db, "tictactoe", [("a@3", "random"), ("random", "random")], 5)
    a3, _ = expected_after(
        [Rating(a2.mu, widened(a2.sigma)), random_now], returns, DRAW["tictactoe"]
    )
    assert_rating(rating(db, "a@3", "tictactoe")[0], a3)


def test_player_standing_reports_the_prior_before_the_first_match(db):
    register(db, "a@1", "minimax")
    register(db, "a@2", "minimax", parent="a@1")
    play(db, "tictactoe", [("a@1", "minimax"), ("random", "random")], 0)
    a1 = rating(db, "a@1", "tictactoe")[0]
    a1_id, a2_id = player_ids(db, ["a@1", "a@2"])
    prior = player_standing(db, a2_id, "tictactoe")
    assert (prior.mu, prior.sigma, prior.games) == (a1.mu, widened(a1.sigma), 0)
    assert player_standing(db, a2_id, "kuhn_poker").rating == DEFAULT_PARAMS.initial()
    assert player_standing(db, a1_id, "tictactoe").games == 1


def test_recompute_gives_exactly_the_incremental_ratings_with_a_checkpoint_chain(db):
    register(db, "a@1", "minimax")
    register(db, "a@2", "minimax", parent="a@1")
    register(db, "a@3", "minimax", parent="a@2")
    register(db, "p@1", "cfr")
    register(db, "p@2", "cfr", parent="p@1")
    seed = 0
    plan = [
        ("tictactoe", "a@1", "random"),
        ("kuhn_poker", "p@1", "random"),
        ("tictactoe", "a@2", "a@1"),
        ("tictactoe", "a@1", "random"),
        ("kuhn_poker", "p@2", "p@1"),
        ("tictactoe", "a@3", "random"),
        ("kuhn_poker", "p@2", "random"),
        ("tictactoe", "a@3", "a@2"),
    ]
    bot = {"a@1": "minimax", "a@2": "minimax", "a@3": "minimax", "random": "random"}
    bot |= {"p@1": "cfr", "p@2": "cfr"}
    for game_id, first, second in plan:
        for flip in (False, True):
            seed += 1
            seats = [(first, bot[first]), (second, bot[second])]
            play(db, game_id, seats[::-1] if flip else seats, seed)
    incremental = snapshot(db)
    assert recompute_ratings(db) == 2 * len(plan)
    assert snapshot(db) == incremental  # exact floats, history included
    assert recompute_ratings(db, "kuhn_poker") == 6
    assert snapshot(db) == incremental
