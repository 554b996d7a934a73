"""Plain tables over a history of two-sided results, for leaderboards and reports."""

from __future__ import annotations

from collections.abc import Iterable

from arena.ratings.bradley_terry import Outcome, pairwise_counts


def win_rate_matrix(outcomes: Iterable[Outcome]) -> dict[str, dict[str, tuple[float, int]]]:
    """``[a][b] = (a's score rate against b, games)`` for every pair that met, both directions.

    A draw counts half a point, so ``[a][b][0] + [b][a][0] == 1`` and the game counts agree.
    Games of a player against itself are left out.
    """
    matrix: dict[str, dict[str, tuple[float, int]]] = {}
    for (a, b), (points, games) in sorted(pairwise_counts(outcomes).items()):
        matrix.setdefault(a, {})[b] = (points / games, games)
    return matrix
