"""TrueSkill ratings for one match at a time, as pure functions (no storage).

The update is TrueSkill's factor graph written out on plain floats instead of going through the
``trueskill`` package: the package costs about 100 us a call and ``arena ratings recompute``
replays every match in the database. The schedule, the draw margin and the v/w functions follow
``trueskill`` 0.4.5 step for step, so results equal ``trueskill.TrueSkill(...).rate(...)`` run
with exact normal functions (its ``mpmath`` backend, or a ``(cdf, pdf, ppf)`` tuple) to about
1e-11. Our normal cdf is exact (``math.erfc``); the package's default backend approximates erfc
to about 1e-7, so against ``backend=None`` results differ by up to about 1e-5.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_STANDARD_NORMAL = NormalDist()
# The reference implementation's loop settings for three or more teams (trueskill.DELTA).
_MIN_DELTA = 1e-4
_MAX_ITERATIONS = 10


@dataclass(frozen=True)
class Rating:
    """A belief about a player's skill: normal with mean ``mu`` and deviation ``sigma``."""

    mu: float
    sigma: float

    @property
    def conservative(self) -> float:
        """``mu - 3 sigma``: a skill the player very probably has at least (what boards sort on)."""
        return self.mu - 3.0 * self.sigma


@dataclass(frozen=True)
class TrueSkillParams:
    """The constants of one TrueSkill environment (the defaults are TrueSkill's own)."""

    mu: float = 25.0
    sigma: float = 25.0 / 3
    beta: float = 25.0 / 6
    tau: float = 25.0 / 300
    draw_probability: float = 0.10

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"TrueSkill {name} must be a finite number, got {value!r}")
        if self.sigma <= 0 or self.beta <= 0:
            raise ValueError(f"TrueSkill sigma and beta must be > 0, got {self.sigma}, {self.beta}")
        if self.tau < 0:
            raise ValueError(f"TrueSkill tau must be >= 0, got {self.tau}")
        if not 0.0 < self.draw_probability < 1.0:
            # 0 gives a zero draw margin, on which a draw cannot be rated (sigma blows up).
            raise ValueError(
                f"draw_probability must be strictly between 0 and 1, got {self.draw_probability}"
            )

    def initial(self) -> Rating:
        """The rating of a player who has not played yet."""
        return Rating(self.mu, self.sigma)

    def to_dict(self) -> dict[str, float]:
        """The constants by name, to store next to the ratings they produced."""
        return {
            "mu": self.mu,
            "sigma": self.sigma,
            "beta": self.beta,
            "tau": self.tau,
            "draw_probability": self.draw_probability,
        }


def outcome_ranks(
    returns: Sequence[float], teams: Sequence[Hashable] | None = None
) -> tuple[list[list[int]], list[int]]:
    """Group seats into teams and rank the teams by their returns.

    ``teams`` gives a team id per seat (``None``: every seat is its own team). Returns
    ``(groups, ranks)``: the seat lists of the teams in order of first appearance, and one rank
    per team, 0 = best; teams with equal returns share a rank (a tie, rated as a draw). A
    team's return is the highest of its members' (they are equal in our games).
    """
    for value in returns:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"returns must be finite numbers, got {list(returns)!r}")
    if teams is None:
        teams = range(len(returns))
    elif len(teams) != len(returns):
        raise ValueError(f"{len(teams)} team ids for {len(returns)} seats: give one per seat")
    by_team: dict[Hashable, list[int]] = {}
    for seat, team in enumerate(teams):
        by_team.setdefault(team, []).append(seat)
    groups = list(by_team.values())
    team_returns = [max(returns[seat] for seat in group) for group in groups]
    rank_of = {value: rank for rank, value in enumerate(sorted(set(team_returns), reverse=True))}
    return groups, [rank_of[value] for value in team_returns]


def rate_match(
    params: TrueSkillParams,
    ratings: Sequence[Rating],
    returns: Sequence[float],
    teams: Sequence[Hashable] | None = None,
) -> list[Rating]:
    """The new rating of every seat after one match (seats in, seats out).

    Works for two seats, free-for-all (ties allowed: in liar's dice every seat but the loser
    ties at the top) and teams (the spy against the civilians). Raises ``ValueError`` on bad
    input, and ``FloatingPointError`` when a result is too improbable for double precision
    (a winner some 38 performance deviations below the loser; unreachable on sane scales).
    """
    if len(ratings) != len(returns):
        raise ValueError(f"{len(ratings)} ratings but {len(returns)} returns: give one per seat")
    if len(ratings) < 2:
        raise ValueError(f"a rated match needs at least 2 seats, got {len(ratings)}")
    for rating in ratings:
        if not (math.isfinite(rating.mu) and math.isfinite(rating.sigma) and rating.sigma > 0):
            raise ValueError(f"ratings need a finite mu and a sigma > 0, got {rating!r}")
    groups, ranks = outcome_ranks(returns, teams)
    if len(groups) < 2:
        raise ValueError("every seat is on the same team: there is nobody to be rated against")
    # Best rank first; the sort is stable, so tied teams keep their order, as in trueskill.rate.
    order = sorted(range(len(groups)), key=ranks.__getitem__)
    groups = [groups[i] for i in order]
    ranks = [ranks[i] for i in order]
    new: list[Rating | None] = [None] * len(ratings)
    if len(groups) == 2:
        _rate_two_teams(params, ratings, groups[0], groups[1], ranks[0] == ranks[1], new)
    else:
        _TeamGraph(params, ratings, groups, ranks).rate(new)
    return new  # type: ignore[return-value]  # every seat is in exactly one group


def draw_probability(
    draws: int,
    games: int,
    *,
    configured: float | None = None,
    prior: float = 0.10,
    prior_weight: float = 10.0,
    floor: float = 0.01,
    ceiling: float = 0.90,
) -> float:
    """The draw probability in force for a game's NEXT match.

    ``configured`` when given; otherwise ``(draws + prior * prior_weight) / (games +
    prior_weight)`` from the game's results so far, clamped to ``[floor, ceiling]``. Never 0: a
    draw under a near-zero draw probability does not shrink sigma as it should (in the
    ``trueskill`` package it even grows).
    """
    if configured is not None:
        if not 0.0 < configured < 1.0:
            raise ValueError(f"a configured draw probability must be in (0, 1), got {configured}")
        return float(configured)
    if draws < 0 or games < draws:
        raise ValueError(f"need 0 <= draws <= games, got {draws} draws in {games} games")
    if not 0.0 < floor <= ceiling < 1.0:
        raise ValueError(f"need 0 < floor <= ceiling < 1, got floor {floor}, ceiling {ceiling}")
    if prior_weight < 0 or games + prior_weight <= 0:
        raise ValueError(f"prior_weight must be >= 0 (and > 0 before any game): {prior_weight}")
    estimate = (draws + prior * prior_weight) / (games + prior_weight)
    # min(ceiling, max(floor, estimate)) without the two calls: a recompute asks every match.
    return floor if estimate < floor else ceiling if estimate > ceiling else estimate


# --- the normal distribution and TrueSkill's v/w functions --------------------------------------


def _pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _ppf(p: float) -> float:
    return _STANDARD_NORMAL.inv_cdf(p)


def _cdf(x: float) -> float:
    # erfc keeps full relative precision in the lower tail, where 0.5 * (1 + erf) gives 0.
    return 0.5 * math.erfc(-x / _SQRT2)


def _too_improbable() -> FloatingPointError:
    return FloatingPointError("match result too improbable to rate in double precision")


def _v_w_win(t: float, margin: float) -> tuple[float, float]:
    """Mean and variance corrections for 'the first team won' (t, margin in units of c)."""
    x = t - margin
    denom = 0.5 * math.erfc(-x / _SQRT2)  # _cdf(x), inline: a recompute calls this a million times
    if denom == 0.0:
        raise _too_improbable()
    v = _INV_SQRT_2PI * math.exp(-0.5 * x * x) / denom  # _pdf(x) / denom
    w = v * (v + x)
    if not 0.0 < w < 1.0:
        raise _too_improbable()
    return v, w


def _v_w_draw(t: float, margin: float) -> tuple[float, float]:
    """Mean and variance corrections for a draw (t, margin in units of c)."""
    abs_t = abs(t)
    a, b = margin - abs_t, -margin - abs_t
    # As in trueskill; the draw probability floor keeps the interval wide enough to subtract.
    denom = _cdf(a) - _cdf(b)
    if denom == 0.0:
        raise _too_improbable()
    pdf_a, pdf_b = _pdf(a), _pdf(b)
    v = (pdf_b - pdf_a) / denom
    w = v * v + (a * pdf_a - b * pdf_b) / denom
    if not 0.0 < w < 1.0:
        raise _too_improbable()
    return (-v if t < 0 else v), w


def draw_margin(draw_probability: float, beta: float, players: int = 2) -> float:
    """The performance gap under which two teams of ``players`` in all draw (what
    ``rate_two_players`` takes)."""
    return _ppf((draw_probability + 1.0) / 2.0) * math.sqrt(players) * beta


_draw_margin = lru_cache(maxsize=4096)(draw_margin)


# --- two teams: the factor graph has no loop, so the update has a closed form ------------------


def rate_two_players(
    mu_a: float,
    sigma_a: float,
    mu_b: float,
    sigma_b: float,
    drawn: bool,
    beta: float,
    tau: float,
    margin: float,
) -> tuple[float, float, float, float]:
    """``rate_match`` for one player against one, on plain floats: ``a`` won (or tied with)
    ``b``; returns ``(mu_a, sigma_a, mu_b, sigma_b)`` after the match. ``margin`` is
    ``draw_margin(draw_probability, beta)``.

    The same arithmetic, in the same order, as the general two-team update (``rate_match``
    calls this for one against one), without its checks: the caller passes finite ratings with
    sigma > 0 and the margin of a draw probability strictly between 0 and 1. ``arena ratings
    recompute`` replays every stored match through it."""
    tau2 = tau * tau
    beta2 = beta * beta
    s2a = sigma_a * sigma_a + tau2
    s2b = sigma_b * sigma_b + tau2
    c2 = (s2a + beta2) + (s2b + beta2)
    c = math.sqrt(c2)
    v, w = (_v_w_draw if drawn else _v_w_win)((mu_a - mu_b) / c, margin / c)
    return (
        mu_a + (s2a / c) * v,
        math.sqrt(s2a * (1.0 - (s2a / c2) * w)),
        mu_b - (s2b / c) * v,
        math.sqrt(s2b * (1.0 - (s2b / c2) * w)),
    )


def _rate_two_teams(
    params: TrueSkillParams,
    ratings: Sequence[Rating],
    first: list[int],
    second: list[int],
    drawn: bool,
    out: list[Rating | None],
) -> None:
    """Rate ``first`` (better or tied) against ``second``, writing into ``out`` by seat."""
    if len(first) == 1 and len(second) == 1:
        a, b = ratings[first[0]], ratings[second[0]]
        margin = _draw_margin(params.draw_probability, params.beta, 2)
        mu_a, sigma_a, mu_b, sigma_b = rate_two_players(
            a.mu, a.sigma, b.mu, b.sigma, drawn, params.beta, params.tau, margin
        )
        out[first[0]], out[second[0]] = Rating(mu_a, sigma_a), Rating(mu_b, sigma_b)
        return
    beta2, tau2 = params.beta * params.beta, params.tau * params.tau
    variance: dict[int, float] = {}  # per seat: prior variance after the dynamics term
    c2 = 0.0
    diff = 0.0
    for sign, group in ((1.0, first), (-1.0, second)):
        for seat in group:
            rating = ratings[seat]
            variance[seat] = s2 = rating.sigma * rating.sigma + tau2
            c2 += s2 + beta2
            diff += sign * rating.mu
    c = math.sqrt(c2)
    margin = _draw_margin(params.draw_probability, params.beta, len(first) + len(second))
    v, w = (_v_w_draw if drawn else _v_w_win)(diff / c, margin / c)
    for sign, group in ((1.0, first), (-1.0, second)):
        for seat in group:
            s2 = variance[seat]
            mu = ratings[seat].mu + sign * (s2 / c) * v
            out[seat] = Rating(mu, math.sqrt(s2 * (1.0 - (s2 / c2) * w)))


# --- three or more teams: trueskill's message-passing schedule on floats -----------------------
#
# The loop stops when no message moves by more than _MIN_DELTA, measured partly as the square
# root of a change in precision, which rounding alone can push over the threshold. So every
# float operation below is done in trueskill's order: then the loop stops at the same pass and
# the results agree with trueskill's to the last bits, not just to the stopping tolerance.


def _mean(pi: float, tau: float) -> float:
    return tau / pi if pi else 0.0


def _sum_message(terms: Sequence[tuple[float, float, float]]) -> tuple[float, float]:
    """Message (pi, tau) of a weighted sum of independent normals given as (coeff, pi, tau)."""
    mu = 0.0
    pi_inv = 0.0
    for coeff, pi, tau in terms:
        mu += coeff * _mean(pi, tau)
        if pi_inv != math.inf:
            pi_inv = pi_inv + coeff * coeff / pi if pi else math.inf
    pi = 1.0 / pi_inv
    return pi, pi * mu


def _pair_message(
    pi1: float, tau1: float, sign: float, pi2: float, tau2: float
) -> tuple[float, float]:
    """``_sum_message([(1.0, pi1, tau1), (sign, pi2, tau2)])``, the same bits, but faster."""
    if pi1 and pi2:
        pi = 1.0 / (1.0 / pi1 + 1.0 / pi2)
        return pi, pi * (tau1 / pi1 + sign * (tau2 / pi2))
    return _sum_message(((1.0, pi1, tau1), (sign, pi2, tau2)))


def _delta(old_pi: float, old_tau: float, new_pi: float, new_tau: float) -> float:
    pi_delta = abs(old_pi - new_pi)
    if pi_delta == math.inf:
        return 0.0
    return max(abs(old_tau - new_tau), math.sqrt(pi_delta))


def _replace_message(value: list[float], old: list[float], new: tuple[float, float]) -> None:
    """A variable's incoming message ``old`` becomes ``new``; its value follows (in place)."""
    value[0] = value[0] - old[0] + new[0]
    value[1] = value[1] - old[1] + new[1]
    old[0], old[1] = new


class _TeamGraph:
    """Team performances, their differences and the truncations, for three or more teams.

    Each variable is its value plus the message from each neighbouring factor, all as mutable
    [pi, tau] pairs; ``team[t]`` is the value of team t's performance, ``left[i]`` and
    ``right[i]`` the messages from difference factor i to teams i and i + 1.
    """

    def __init__(
        self,
        params: TrueSkillParams,
        ratings: Sequence[Rating],
        groups: list[list[int]],
        ranks: list[int],
    ) -> None:
        self.groups = groups
        self.beta2 = params.beta**2
        self.prior: dict[int, tuple[float, float]] = {}
        self.likelihood: dict[int, tuple[float, float]] = {}  # message to the performance
        self.team_sum: list[list[float]] = []  # message from team t's sum factor
        for group in groups:
            for seat in group:
                rating = ratings[seat]
                pi = math.sqrt(rating.sigma**2 + params.tau**2) ** -2
                tau = pi * rating.mu
                self.prior[seat] = (pi, tau)
                a = 1.0 / (1.0 + self.beta2 * pi)
                self.likelihood[seat] = (a * pi, a * tau)
            terms = [(1.0, *self.likelihood[seat]) for seat in group]
            self.team_sum.append(list(_sum_message(terms)))
        n = len(groups) - 1
        self.team = [m[:] for m in self.team_sum]
        self.left = [[0.0, 0.0] for _ in range(n)]
        self.right = [[0.0, 0.0] for _ in range(n)]
        self.diff = [[0.0, 0.0] for _ in range(n)]  # the difference values
        self.diff_sum = [[0.0, 0.0] for _ in range(n)]  # difference factor i -> difference i
        self.trunc = [[0.0, 0.0] for _ in range(n)]  # truncation i -> difference i
        self.margin = [
            _draw_margin(params.draw_probability, params.beta, len(groups[i]) + len(groups[i + 1]))
            for i in range(n)
        ]
        self.vw = [_v_w_draw if ranks[i] == ranks[i + 1] else _v_w_win for i in range(n)]

    def _diff_down(self, i: int) -> None:
        lt, lm, rt, rm = self.team[i], self.left[i], self.team[i + 1], self.right[i]
        new = _pair_message(lt[0] - lm[0], lt[1] - lm[1], -1.0, rt[0] - rm[0], rt[1] - rm[1])
        _replace_message(self.diff[i], self.diff_sum[i], new)

    def _trunc_up(self, i: int) -> float:
        value, msg = self.diff[i], self.trunc[i]
        div_pi, div_tau = value[0] - msg[0], value[1] - msg[1]
        sqrt_pi = math.sqrt(div_pi)
        v, w = self.vw[i](div_tau / sqrt_pi, self.margin[i] * sqrt_pi)
        new_pi, new_tau = div_pi / (1.0 - w), (div_tau + sqrt_pi * v) / (1.0 - w)
        delta = _delta(value[0], value[1], new_pi, new_tau)
        msg[0], msg[1] = new_pi + msg[0] - value[0], new_tau + msg[1] - value[1]
        value[0], value[1] = new_pi, new_tau
        return delta

    def _diff_up(self, i: int, towards_right: bool) -> None:
        d, dm = self.diff[i], self.diff_sum[i]
        if towards_right:  # team i + 1 = team i - difference
            lt, lm = self.team[i], self.left[i]
            new = _pair_message(lt[0] - lm[0], lt[1] - lm[1], -1.0, d[0] - dm[0], d[1] - dm[1])
            _replace_message(self.team[i + 1], self.right[i], new)
        else:  # team i = difference + team i + 1
            rt, rm = self.team[i + 1], self.right[i]
            new = _pair_message(d[0] - dm[0], d[1] - dm[1], 1.0, rt[0] - rm[0], rt[1] - rm[1])
            _replace_message(self.team[i], self.left[i], new)

    def rate(self, out: list[Rating | None]) -> None:
        """Run the schedule and write each seat's posterior into ``out``."""
        n = len(self.diff)
        for _ in range(_MAX_ITERATIONS):
            delta = 0.0
            for i in range(n - 1):
                self._diff_down(i)
                delta = max(delta, self._trunc_up(i))
                self._diff_up(i, towards_right=True)
            for i in range(n - 1, 0, -1):
                self._diff_down(i)
                delta = max(delta, self._trunc_up(i))
                self._diff_up(i, towards_right=False)
            if delta <= _MIN_DELTA:
                break
        self._diff_up(0, towards_right=False)
        self._diff_up(n - 1, towards_right=True)
        for team, team_sum, group in zip(self.team, self.team_sum, self.groups):
            perf = {seat: list(self.likelihood[seat]) for seat in group}  # performance values
            from_sum = {seat: [0.0, 0.0] for seat in group}  # team sum factor -> performance
            for seat in group:
                # A member's performance = the team's minus the other members'.
                terms = []
                for other in group:
                    if other == seat:
                        terms.append((1.0, team[0] - team_sum[0], team[1] - team_sum[1]))
                    else:
                        value, msg = perf[other], from_sum[other]
                        terms.append((-1.0, value[0] - msg[0], value[1] - msg[1]))
                _replace_message(perf[seat], from_sum[seat], _sum_message(terms))
            for seat in group:
                value, msg = perf[seat], self.likelihood[seat]
                up_pi, up_tau = value[0] - msg[0], value[1] - msg[1]
                a = 1.0 / (1.0 + self.beta2 * up_pi)
                prior_pi, prior_tau = self.prior[seat]
                pi, tau = prior_pi + a * up_pi, prior_tau + a * up_tau
                out[seat] = Rating(tau / pi, math.sqrt(1.0 / pi))
