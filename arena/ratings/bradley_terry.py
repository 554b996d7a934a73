"""Bradley-Terry strengths over a whole history of two-sided results, with bootstrap intervals.

TrueSkill depends on the order matches were played in; Bradley-Terry does not, so it is the
second opinion a leaderboard shows next to it. Strengths are on the Elo scale: a gap of ``d``
means the stronger player scores ``1 / (1 + 10 ** (-d / 400))`` on average.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate

Outcome = tuple[str, str, float]  # (player a, player b, a's score: 1 win, 0.5 draw, 0 loss)

_ELO = 400.0 / math.log(10.0)  # Elo points per unit of natural-log strength


def _checked(outcome: Outcome) -> Outcome:
    try:
        a, b, score = outcome
    except (TypeError, ValueError):
        raise ValueError(f"an outcome is (a, b, score_a), got {outcome!r}") from None
    if not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
        raise ValueError(f"score_a must be a number in [0, 1] (1, 0.5 or 0), got {outcome!r}")
    return a, b, float(score)


def _add(counts: dict[tuple[str, str], list], a: str, b: str, score: float, times: int) -> None:
    """Add ``times`` games of a against b in which a scored ``score`` each, both directions."""
    for pair, points in (((a, b), score), ((b, a), 1.0 - score)):
        entry = counts.setdefault(pair, [0.0, 0])
        entry[0] += points * times
        entry[1] += times


def pairwise_counts(outcomes: Iterable[Outcome]) -> dict[tuple[str, str], tuple[float, int]]:
    """Score sum and game count for every ordered pair that met: ``(a, b) -> (a's points, games)``.

    Both directions are filled. A player's games against itself say nothing about strength
    and are left out.
    """
    counts: dict[tuple[str, str], list] = {}
    for outcome in outcomes:
        a, b, score = _checked(outcome)
        if a != b:
            _add(counts, a, b, score, 1)
    return {pair: (points, games) for pair, (points, games) in counts.items()}


def fit_bradley_terry(
    outcomes: Sequence[Outcome],
    *,
    iterations: int = 200,
    tol: float = 1e-9,
    prior_games: float = 1.0,
) -> dict[str, float]:
    """Bradley-Terry strengths of every player that met another, on the Elo scale, mean 0.

    Fitted by minorize-maximize (Zermelo/Hunter) updates. A draw counts half a win to each
    side. Each player also gets ``prior_games`` virtual games scored 0.5 against a fixed
    average player, which keeps undefeated and winless players finite and makes the fit
    unique; 0 gives the plain maximum-likelihood fit (defined only when every player has both
    scored and dropped points). Stops after ``iterations`` or when no strength moves by more
    than ``tol`` (natural-log units). The result does not depend on the order of ``outcomes``.
    """
    _check_fit_args(iterations, tol, prior_games)
    counts = pairwise_counts(outcomes)
    players = sorted({a for a, _ in counts})
    return _to_elo(_fit(counts, players, iterations, tol, prior_games, None))


def bootstrap_intervals(
    outcomes: Sequence[Outcome],
    *,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    iterations: int = 200,
    tol: float = 1e-9,
    prior_games: float = 1.0,
) -> dict[str, tuple[float, float, float]]:
    """``name -> (estimate, low, high)``: the fit and its percentile bootstrap interval.

    Each of ``samples`` resamples draws as many outcomes as there are, with replacement
    (``random.Random(seed)``), and is refitted; ``low`` and ``high`` are the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of a player's refitted strengths.
    Outcomes are put in a canonical order first, so their order does not change the result.
    ``prior_games`` must be > 0 here: a resample may leave a player without a win.
    """
    if prior_games <= 0:
        raise ValueError(f"bootstrap_intervals needs prior_games > 0, got {prior_games}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _check_fit_args(iterations, tol, prior_games)
    # Distinct outcomes with their multiplicity, sorted: the canonical order.
    checked = (_checked(outcome) for outcome in outcomes)
    kinds = sorted(Counter(o for o in checked if o[0] != o[1]).items())
    counts: dict[tuple[str, str], list] = {}
    for (a, b, score), times in kinds:
        _add(counts, a, b, score, times)
    players = sorted({a for a, _ in counts})
    if not players:
        return {}
    fitted = _fit(counts, players, iterations, tol, prior_games, None)
    estimate = _to_elo(fitted)
    cumulative = list(accumulate(times for _, times in kinds))
    total = cumulative[-1]
    rng = random.Random(seed)
    refits: dict[str, list[float]] = {name: [] for name in players}
    for _ in range(samples):
        drawn = Counter(rng.choices(range(len(kinds)), cum_weights=cumulative, k=total))
        resampled: dict[tuple[str, str], list] = {}
        for index in sorted(drawn):
            (a, b, score), _ = kinds[index]
            _add(resampled, a, b, score, drawn[index])
        # Every player stays in every refit (one missing from a resample rests on the prior),
        # so all refits are centred on the same set of players; the full fit is a warm start.
        strengths = _to_elo(_fit(resampled, players, iterations, tol, prior_games, fitted))
        for name in players:
            refits[name].append(strengths[name])
    tail = (1.0 - level) / 2.0
    result = {}
    for name in players:
        values = sorted(refits[name])
        result[name] = (estimate[name], _quantile(values, tail), _quantile(values, 1.0 - tail))
    return result


def _check_fit_args(iterations: int, tol: float, prior_games: float) -> None:
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if not (math.isfinite(prior_games) and prior_games >= 0):
        raise ValueError(f"prior_games must be a finite number >= 0, got {prior_games}")


def _fit(
    counts: dict[tuple[str, str], Sequence[float]],
    players: list[str],
    iterations: int,
    tol: float,
    prior_games: float,
    start: dict[str, float] | None,
) -> dict[str, float]:
    """Strengths ``gamma`` (odds multipliers, the virtual average player at 1) by MM."""
    index = {name: i for i, name in enumerate(players)}
    scored = [0.5 * prior_games] * len(players)
    dropped = [0.5 * prior_games] * len(players)
    opponents: list[list[tuple[int, int]]] = [[] for _ in players]
    for (a, b), (points, games) in sorted(counts.items()):
        i = index[a]
        scored[i] += points
        dropped[i] += games - points
        opponents[i].append((index[b], games))
    if prior_games == 0:
        for name, i in index.items():
            if scored[i] == 0 or dropped[i] == 0:
                what = "scored" if scored[i] == 0 else "dropped"
                raise ValueError(
                    f"{name!r} never {what} a point: its strength is infinite without a prior "
                    "(use prior_games > 0)"
                )
    if not players:
        return {}
    gamma = [1.0 if start is None else start[name] for name in players]
    for _ in range(iterations):
        before = gamma[:]
        for i, games_with in enumerate(opponents):
            g = gamma[i]
            # MM step: points scored / sum over games of 1 / (gamma_i + gamma_opponent).
            expected = prior_games / (g + 1.0)
            for j, games in games_with:
                expected += games / (g + gamma[j])
            gamma[i] = scored[i] / expected
        # The real games fix only ratios; the common scale is held by the prior's few virtual
        # games, and MM alone would take thousands of sweeps to settle it. So also maximize
        # over the scale exactly (another ascent step, the fit stays the same).
        factor = _best_scale(gamma) if prior_games > 0 else 1.0
        gamma = [g * factor for g in gamma]
        if max(abs(math.log(g / old)) for g, old in zip(gamma, before)) <= tol:
            break
    return dict(zip(players, gamma))


def _best_scale(gamma: list[float]) -> float:
    """The ``c`` maximizing the prior's likelihood of ``c * gamma``: sum tanh(log(c g) / 2) = 0."""
    logs = [math.log(g) for g in gamma]
    shift = -sum(logs) / len(logs)  # a good start: the root when all strengths are equal
    for _ in range(50):
        tanhs = [math.tanh((x + shift) / 2.0) for x in logs]
        total = sum(tanhs)
        slope = sum(0.5 * (1.0 - t * t) for t in tanhs)
        if slope == 0.0:
            break
        step = total / slope
        shift -= step
        if abs(step) < 1e-15:
            break
    return math.exp(shift)


def _to_elo(gamma: dict[str, float]) -> dict[str, float]:
    """Log strengths on the Elo scale, shifted so that their mean is 0."""
    if not gamma:
        return {}
    logs = {name: _ELO * math.log(g) for name, g in gamma.items()}
    mean = sum(logs.values()) / len(logs)
    return {name: value - mean for name, value in logs.items()}


def _quantile(values: list[float], q: float) -> float:
    """Quantile ``q`` of sorted ``values``, interpolating linearly between order statistics."""
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)
