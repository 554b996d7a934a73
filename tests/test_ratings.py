"""Ratings core: TrueSkill per match (checked against the trueskill package), Bradley-Terry over a
history (checked against known strengths and a hand-derived fit), head-to-head tables."""

from __future__ import annotations

import math
import random

import pytest

import arena.ratings.trueskill_rating as ts_module
from arena.ratings import (
    Rating,
    TrueSkillParams,
    bootstrap_intervals,
    draw_probability,
    fit_bradley_terry,
    outcome_ranks,
    pairwise_counts,
    rate_match,
    win_rate_matrix,
)

trueskill = pytest.importorskip("trueskill")

# trueskill's own algorithm fed the same normal functions as ours: any difference left is a
# difference in the algorithm, not in how erfc is approximated.
SAME_NORMAL = (ts_module._cdf, ts_module._pdf, ts_module._ppf)


def reference(
    params: TrueSkillParams,
    ratings: list[Rating],
    returns: list[float],
    teams: list[int] | None = None,
    backend: object = SAME_NORMAL,
) -> list[Rating]:
    """The trueskill package's ratings per seat for one match."""
    env = trueskill.TrueSkill(**params.to_dict(), backend=backend)
    groups, ranks = outcome_ranks(returns, teams)
    rating_groups = [
        tuple(env.create_rating(ratings[s].mu, ratings[s].sigma) for s in g) for g in groups
    ]
    out: list[Rating | None] = [None] * len(ratings)
    for group, rated in zip(groups, env.rate(rating_groups, ranks=ranks)):
        for seat, rating in zip(group, rated):
            out[seat] = Rating(float(rating.mu), float(rating.sigma))
    return out  # type: ignore[return-value]


def assert_close(mine: list[Rating], theirs: list[Rating], tol: float) -> None:
    for a, b in zip(mine, theirs, strict=True):
        assert a.mu == pytest.approx(b.mu, abs=tol) and a.sigma == pytest.approx(b.sigma, abs=tol)


def random_match(
    rng: random.Random,
) -> tuple[TrueSkillParams, list[Rating], list[float], list[int]]:
    """2-6 teams of 1-3 seats in shuffled seat order, returns with ties, varied parameters."""
    params = TrueSkillParams(
        draw_probability=rng.choice([0.01, 0.1, 0.3]), tau=rng.choice([0.0, 25 / 300])
    )
    n_teams = rng.choice([2, 2, 3, 4, 5, 6])
    solo = rng.random() < 0.3  # every seat its own team
    team_returns = [rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0]) for _ in range(n_teams)]
    seats = [
        (Rating(rng.uniform(15, 35), rng.uniform(1, 8.4)), team, team_returns[team])
        for team in range(n_teams)
        for _ in range(1 if solo else rng.randint(1, 3))
    ]
    rng.shuffle(seats)
    return params, [s[0] for s in seats], [s[2] for s in seats], [s[1] for s in seats]


# --- TrueSkill against the trueskill package ---------------------------------------------------


@pytest.mark.parametrize(
    "returns", [[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]], ids=["win", "loss", "draw"]
)
def test_two_players_match_trueskill(returns):
    params = TrueSkillParams()
    for ratings in ([params.initial(), params.initial()], [Rating(31.0, 2.5), Rating(22.0, 6.0)]):
        new = rate_match(params, ratings, returns)
        assert_close(new, reference(params, ratings, returns), 1e-9)
        # Its default backend (erfc approximated to ~1e-7) agrees to a few decimals.
        assert_close(new, reference(params, ratings, returns, backend=None), 1e-4)
        if returns[0] != returns[1]:
            winner, loser = (0, 1) if returns[0] > returns[1] else (1, 0)
            assert new[winner].mu > ratings[winner].mu and new[loser].mu < ratings[loser].mu
        assert all(n.sigma < r.sigma for n, r in zip(new, ratings))


def test_many_random_matches_with_draws_and_teams_match_trueskill_to_1e9():
    rng = random.Random(7)
    kinds = set()
    for _ in range(400):
        params, ratings, returns, teams = random_match(rng)
        groups, ranks = outcome_ranks(returns, teams)
        kinds.add((len(groups) > 2, len(set(ranks)) < len(ranks), len(groups) < len(ratings)))
        assert_close(
            rate_match(params, ratings, returns, teams),
            reference(params, ratings, returns, teams),
            1e-9,
        )
    assert len(kinds) == 8  # free-for-all and two sides, with and without ties and teams


def test_matches_trueskill_with_its_exact_mpmath_backend():
    pytest.importorskip("mpmath")
    rng = random.Random(3)
    for _ in range(30):
        params, ratings, returns, teams = random_match(rng)
        assert_close(
            rate_match(params, ratings, returns, teams),
            reference(params, ratings, returns, teams, backend="mpmath"),
            1e-9,
        )


def test_seat_order_does_not_matter_for_two_sides():
    params = TrueSkillParams()
    ratings = [Rating(20.0, 3.0), Rating(25.0, 5.0), Rating(28.0, 1.0)]
    returns, teams = [1.0, -1.0, 1.0], [0, 1, 0]
    new = rate_match(params, ratings, returns, teams)
    order = [2, 0, 1]
    permuted = rate_match(
        params, [ratings[i] for i in order], [returns[i] for i in order], [teams[i] for i in order]
    )
    assert permuted == [new[i] for i in order]


# --- draws and the draw probability -------------------------------------------------------------


def test_draw_between_equal_players_with_the_floor_shrinks_both_sigmas():
    params = TrueSkillParams(draw_probability=draw_probability(0, 0, prior=0.0))
    assert params.draw_probability == 0.01  # no draws yet, no prior: the floor
    a, b = rate_match(params, [params.initial(), params.initial()], [0.5, 0.5])
    assert a.sigma < params.sigma and b.sigma < params.sigma
    assert a.mu == pytest.approx(params.mu) and b.mu == pytest.approx(params.mu)


def test_a_zero_draw_probability_grows_sigma_on_a_draw_in_trueskill():
    # Why the floor exists: the package's own update goes wrong at a draw probability of 0.
    env = trueskill.TrueSkill(draw_probability=0.0)
    (a,), (b,) = env.rate([(env.create_rating(),), (env.create_rating(),)], ranks=[0, 0])
    assert a.sigma > env.sigma and b.sigma > env.sigma
    with pytest.raises(ValueError, match="draw_probability"):
        TrueSkillParams(draw_probability=0.0)


def test_draw_against_a_weaker_player_costs_the_stronger_one():
    params = TrueSkillParams()
    strong, weak = rate_match(params, [Rating(30.0, 3.0), Rating(20.0, 3.0)], [0.0, 0.0])
    assert strong.mu < 30.0 and weak.mu > 20.0


def test_draw_probability_smooths_toward_the_prior():
    # (draws + prior * weight) / (games + weight), by hand.
    assert draw_probability(0, 0) == pytest.approx(0.10)
    assert draw_probability(30, 90) == pytest.approx((30 + 1.0) / (90 + 10))
    assert draw_probability(5, 10, prior=0.2, prior_weight=5) == pytest.approx(6 / 15)


def test_draw_probability_is_clamped_and_configured_wins():
    assert draw_probability(0, 10_000) == 0.01
    assert draw_probability(10_000, 10_000) == 0.90
    assert draw_probability(0, 10_000, floor=0.05) == 0.05
    assert draw_probability(0, 10_000, configured=0.25) == 0.25


@pytest.mark.parametrize(
    "kwargs",
    [
        {"draws": -1, "games": 3},
        {"draws": 4, "games": 3},
        {"draws": 0, "games": 0, "prior_weight": 0},
        {"draws": 0, "games": 3, "floor": 0.0},
        {"draws": 0, "games": 3, "ceiling": 1.0},
        {"draws": 0, "games": 3, "configured": 0.0},
        {"draws": 0, "games": 3, "configured": 1.5},
    ],
)
def test_draw_probability_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        draw_probability(**kwargs)


# --- many players and teams ---------------------------------------------------------------------


def test_liars_dice_three_players_one_loser():
    params = TrueSkillParams()
    ratings = [params.initial()] * 3
    returns = [0.5, -1.0, 0.5]  # seat 1 lost; the other two tie at the top
    new = rate_match(params, ratings, returns)
    assert_close(new, reference(params, ratings, returns), 1e-9)
    assert new[1].mu < params.mu < new[0].mu
    # The two winners rise alike: not exactly, as TrueSkill's chain of pairwise comparisons
    # (winner, winner, loser) treats the first and second in the chain slightly differently.
    assert new[2].mu > params.mu
    assert new[0].mu == pytest.approx(new[2].mu, abs=0.01)
    assert all(r.sigma < params.sigma for r in new)


@pytest.mark.parametrize("civilians_win", [True, False])
def test_spy_team_result_moves_all_civilians_the_same_way(civilians_win):
    params = TrueSkillParams()
    ratings = [Rating(12.0, 4.0), Rating(16.0, 2.0), Rating(38.0, 7.0), Rating(13.0, 5.0)]
    teams = [0, 0, 1, 0]  # seat 2 is the spy
    sign = 1.0 if civilians_win else -1.0
    returns = [sign / 3, sign / 3, -sign, sign / 3]
    new = rate_match(params, ratings, returns, teams)
    assert_close(new, reference(params, ratings, returns, teams), 1e-9)
    for seat in (0, 1, 3):
        assert (new[seat].mu - ratings[seat].mu) * sign > 0
    assert (new[2].mu - ratings[2].mu) * sign < 0
    # The less certain a civilian (sigma 5 > 4 > 2), the more it moves.
    moves = {seat: abs(new[seat].mu - ratings[seat].mu) for seat in (0, 1, 3)}
    assert moves[3] > moves[0] > moves[1] > 0.1


def test_outcome_ranks_ties_share_a_rank():
    assert outcome_ranks([1.0, -1.0, 1.0]) == ([[0], [1], [2]], [0, 1, 0])
    assert outcome_ranks([3.0, 1.0, 2.0]) == ([[0], [1], [2]], [0, 2, 1])
    assert outcome_ranks([0.0, 0.0]) == ([[0], [1]], [0, 0])


def test_outcome_ranks_groups_teams_in_order_of_first_appearance():
    groups, ranks = outcome_ranks([-1.0, 1 / 3, 1 / 3, 0.0], teams=[7, 3, 3, 7])
    assert groups == [[0, 3], [1, 2]]
    assert ranks == [1, 0]
    # A team's return is its best member's.
    assert outcome_ranks([-1.0, 0.5, 0.5, 0.5], teams=[7, 3, 3, 7]) == ([[0, 3], [1, 2]], [0, 0])


# --- the small types and bad input ---------------------------------------------------------------


def test_rating_conservative_and_params_round_trip():
    assert Rating(25.0, 2.0).conservative == pytest.approx(19.0)
    params = TrueSkillParams(draw_probability=0.2)
    assert params.initial() == Rating(25.0, 25.0 / 3)
    assert TrueSkillParams(**params.to_dict()) == params
    assert set(params.to_dict()) == {"mu", "sigma", "beta", "tau", "draw_probability"}


@pytest.mark.parametrize(
    ("ratings", "returns", "teams", "message"),
    [
        ([Rating(25, 8)] * 2, [1.0], None, "one per seat"),
        ([Rating(25, 8)], [1.0], None, "at least 2 seats"),
        ([Rating(25, 8)] * 3, [1.0, 0.0, 1.0], [0, 0, 0], "same team"),
        ([Rating(25, 8)] * 3, [1.0, 0.0, 1.0], [0, 1], "team ids for 3 seats"),
        ([Rating(25, 0.0)] * 2, [1.0, 0.0], None, "sigma > 0"),
        ([Rating(25, 8)] * 2, [1.0, math.nan], None, "finite"),
    ],
)
def test_rate_match_rejects_bad_input_clearly(ratings, returns, teams, message):
    with pytest.raises(ValueError, match=message):
        rate_match(TrueSkillParams(), ratings, returns, teams)


@pytest.mark.parametrize(
    "kwargs",
    [{"sigma": 0.0}, {"beta": -1.0}, {"tau": -0.1}, {"mu": math.inf}, {"draw_probability": 1.0}],
)
def test_params_reject_bad_constants(kwargs):
    with pytest.raises(ValueError):
        TrueSkillParams(**kwargs)


# --- Bradley-Terry --------------------------------------------------------------------------------


def simulate(strengths: dict[str, float], games_per_pair: int, seed: int = 1) -> list:
    """Round robin with win probabilities from known Elo-scale strengths."""
    rng = random.Random(seed)
    names = sorted(strengths)
    outcomes = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            p = 1.0 / (1.0 + 10.0 ** ((strengths[b] - strengths[a]) / 400.0))
            outcomes += [(a, b, 1.0 if rng.random() < p else 0.0) for _ in range(games_per_pair)]
    return outcomes


TRUE = {"ant": -150.0, "bee": -50.0, "cat": 50.0, "dog": 150.0}  # mean 0, like the fit


def test_bt_two_players_without_prior_match_the_closed_form():
    # 3 wins in 4: odds 3, so the gap is 400 * log10(3), split around the mean.
    fit = fit_bradley_terry([("a", "b", 1.0)] * 3 + [("b", "a", 1.0)], prior_games=0)
    assert fit["a"] == pytest.approx(200 * math.log10(3), abs=1e-6)
    assert fit["b"] == pytest.approx(-200 * math.log10(3), abs=1e-6)


def test_bt_draws_count_half_a_win():
    # a: one win, two draws, no loss = 2 points of 3: odds 2.
    fit = fit_bradley_terry([("a", "b", 1.0), ("a", "b", 0.5), ("b", "a", 0.5)], prior_games=0)
    assert fit["a"] - fit["b"] == pytest.approx(400 * math.log10(2), abs=1e-6)


def test_bt_maximizes_the_penalized_likelihood():
    outcomes = [("a", "b", 1.0), ("a", "b", 1.0), ("b", "c", 0.5), ("c", "a", 1.0), ("a", "c", 1.0)]
    fit = fit_bradley_terry(outcomes, prior_games=1.0)

    def loglik(x: dict[str, float]) -> float:  # natural-log strengths, virtual player at 0
        total = 0.0
        for a, b, s in outcomes:
            p = 1 / (1 + math.exp(x[b] - x[a]))
            total += s * math.log(p) + (1 - s) * math.log(1 - p)
        for v in x.values():  # one virtual game scored 0.5 against strength 0
            p = 1 / (1 + math.exp(-v))
            total += 0.5 * math.log(p) + 0.5 * math.log(1 - p)
        return total

    # Plain gradient ascent, independent of the MM fit.
    x = dict.fromkeys("abc", 0.0)
    for _ in range(20_000):
        h = 1e-6
        grad = {k: (loglik({**x, k: x[k] + h}) - loglik({**x, k: x[k] - h})) / (2 * h) for k in x}
        x = {k: x[k] + 0.2 * grad[k] for k in x}
    mean = sum(x.values()) / 3
    for k in x:
        assert fit[k] == pytest.approx((x[k] - mean) * 400 / math.log(10), abs=1e-3)


def test_bt_recovers_the_order_of_known_strengths():
    fit = fit_bradley_terry(simulate(TRUE, 300))
    assert sorted(fit, key=fit.get) == ["ant", "bee", "cat", "dog"]
    assert sum(fit.values()) == pytest.approx(0.0, abs=1e-9)
    for name, strength in TRUE.items():
        assert fit[name] == pytest.approx(strength, abs=40)


def test_bt_converges_within_the_default_iterations_on_plenty_of_data():
    # Many real games against one virtual game each: the common scale is barely held, which
    # plain MM would take thousands of sweeps to settle.
    outcomes = simulate(TRUE, 300)
    assert fit_bradley_terry(outcomes, iterations=60) == pytest.approx(
        fit_bradley_terry(outcomes, iterations=5000, tol=0.0), abs=1e-6
    )


def test_bt_bootstrap_interval_holds_the_true_difference_of_a_well_sampled_pair():
    pair = {"x": -60.0, "y": 60.0}  # a gap of 120; the fit is centred, so x sits at -gap/2
    intervals = bootstrap_intervals(simulate(pair, 2000), samples=200, seed=0)
    estimate, low, high = intervals["y"]
    assert low < estimate < high
    assert low < pair["y"] < high
    assert high - low < 60  # 2000 games pin the gap to within a few tens of points
    # More games, narrower intervals.
    fewer = bootstrap_intervals(simulate(pair, 200), samples=200, seed=0)["y"]
    assert fewer[2] - fewer[1] > 2 * (high - low)


def test_bt_is_independent_of_the_order_of_outcomes():
    outcomes = simulate(TRUE, 40) + [("ant", "dog", 0.5)] * 3
    shuffled = outcomes[:]
    random.Random(5).shuffle(shuffled)
    assert fit_bradley_terry(shuffled) == pytest.approx(fit_bradley_terry(outcomes), abs=1e-9)
    assert bootstrap_intervals(shuffled, samples=20) == bootstrap_intervals(outcomes, samples=20)


def test_bt_undefeated_and_winless_players_stay_finite():
    outcomes = [("champ", "mid", 1.0)] * 10 + [("mid", "chump", 1.0)] * 10
    outcomes += [("mid", "champ", 0.5), ("chump", "mid", 0.5)]
    fit = fit_bradley_terry(outcomes)
    assert all(math.isfinite(v) for v in fit.values())
    assert fit["champ"] > fit["mid"] > fit["chump"]
    with pytest.raises(ValueError, match="never dropped a point"):
        fit_bradley_terry([("champ", "mid", 1.0), ("mid", "chump", 0.5)], prior_games=0)


def test_bt_rejects_bad_outcomes_clearly():
    with pytest.raises(ValueError, match="score_a"):
        fit_bradley_terry([("a", "b", 2.0)])
    with pytest.raises(ValueError, match=r"\(a, b, score_a\)"):
        pairwise_counts([("a", "b")])
    with pytest.raises(ValueError, match="prior_games"):
        fit_bradley_terry([("a", "b", 1.0)], prior_games=-1)
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals([("a", "b", 1.0)], level=1.0)


def test_pairwise_counts_fill_both_directions_and_skip_self_play():
    counts = pairwise_counts([("a", "b", 1.0), ("b", "a", 0.5), ("a", "a", 1.0), ("b", "c", 0.0)])
    assert counts == {
        ("a", "b"): (1.5, 2),
        ("b", "a"): (0.5, 2),
        ("b", "c"): (0.0, 1),
        ("c", "b"): (1.0, 1),
    }


def test_win_rate_matrix_is_symmetric():
    matrix = win_rate_matrix(simulate(TRUE, 25) + [("cat", "ant", 0.5)] * 4)
    assert set(matrix) == set(TRUE)
    for a in matrix:
        for b, (rate, games) in matrix[a].items():
            other_rate, other_games = matrix[b][a]
            assert rate + other_rate == pytest.approx(1.0) and games == other_games
    assert matrix["cat"]["ant"][1] == 29
