"""Ratings derived from match results, as pure functions (the store calls them).

TrueSkill rates one match at a time, in the order played; Bradley-Terry fits a whole history at
once and gives bootstrap intervals; ``win_rate_matrix`` tabulates head-to-head scores.
"""

from arena.ratings.bradley_terry import (
    Outcome,
    bootstrap_intervals,
    fit_bradley_terry,
    pairwise_counts,
)
from arena.ratings.tables import win_rate_matrix
from arena.ratings.trueskill_rating import (
    Rating,
    TrueSkillParams,
    draw_margin,
    draw_probability,
    outcome_ranks,
    rate_match,
    rate_two_players,
)

__all__ = [
    "Outcome",
    "Rating",
    "TrueSkillParams",
    "bootstrap_intervals",
    "draw_margin",
    "draw_probability",
    "fit_bradley_terry",
    "outcome_ranks",
    "pairwise_counts",
    "rate_match",
    "rate_two_players",
    "win_rate_matrix",
]
