"""The leaderboard: TrueSkill standings per game and overall, a pairwise win-rate matrix, and
an order-independent Bradley-Terry view with bootstrap intervals."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from arena.ratings import Rating
from arena.store.ratings import DEFAULT_PARAMS, OVERALL, RatingBook
from arena.store.standings import (
    game_draw_stats,
    rated_match_seats,
    standing_rows,
    token_split,
)

if TYPE_CHECKING:
    from sqlite_utils import Database

MIN_GAMES = 10  # below this many rated games a player is marked provisional


def _draw_probabilities(db: Database) -> dict[str, float]:
    book = RatingBook()
    out = {}
    for game, games, draws, configured in game_draw_stats(db):
        book.game_counts[game] = (games, draws)
        if configured is not None:
            book.configured[game] = configured
        out[game] = book.draw_probability(game)
    return out


def leaderboard(
    db: Database,
    game: str | None = None,
    *,
    min_games: int = MIN_GAMES,
    include_retired: bool = True,
) -> dict[str, Any]:
    """Standings in one scope (a game id, or overall when `game` is None), best first by the
    conservative rating mu - 3 sigma (`Rating.conservative`), each player with what its
    strength costs over its rated matches in the scope: `prompt_tokens`, `completion_tokens`,
    `tokens` (both) and `tokens_per_game`, `mean_latency_s` (per decision, all its attempts),
    `cost_usd` (from the price table in its spec) and `cost_per_game_usd`; and the quality of
    its moves where they were scored against a ground truth (`arena eval move-quality`):
    `best_move_share`, and in one game `mean_move_loss` in `move_loss_unit`. Retired (removed)
    players are in it, marked `retired`, unless `include_retired` is False: the views a user
    reads (CLI and TUI) pass False unless asked; ranks count only the players listed."""
    scope = game or OVERALL
    params = DEFAULT_PARAMS.to_dict()
    draws = _draw_probabilities(db)
    if game is not None:
        params["draw_probability"] = draws.get(game, RatingBook().draw_probability(game))
    else:
        params["draw_probability"] = draws  # per game: each match is rated with its game's
    from arena.move_quality import move_quality_summary

    out = []
    split = token_split(db, scope)
    quality = move_quality_summary(db, game)
    for r in standing_rows(db, scope, include_retired=include_retired):
        attempts = r["attempts"] or 0
        decisions = r["decisions"] or 0
        games = r["games"] or 0
        prompt_tokens, completion_tokens = split.get(r["player_id"], (0, 0))
        out.append(
            {
                "name": r["name"],
                "kind": r["kind"],
                "mu": r["mu"],
                "sigma": r["sigma"],
                "conservative": Rating(r["mu"], r["sigma"]).conservative,
                "games": r["games"],
                "wins": r["wins"],
                "draws": r["draws"],
                "losses": r["losses"],
                "invalid_rate": r["invalid_moves"] / attempts if attempts else 0.0,
                "mean_latency_s": r["latency_s"] / decisions if decisions else 0.0,
                "tokens": r["tokens"],
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "tokens_per_game": r["tokens"] / games if games else 0.0,
                "cost_usd": r["cost_usd"],
                "cost_per_game_usd": r["cost_usd"] / games if games else 0.0,
                # against the best move, where the game has a ground truth and the moves were
                # scored (`arena eval move-quality`); None otherwise
                "best_move_share": quality.get(r["name"], {}).get("best_share"),
                "mean_move_loss": quality.get(r["name"], {}).get("mean_loss"),
                "move_loss_unit": quality.get(r["name"], {}).get("unit"),
                "scored_decisions": quality.get(r["name"], {}).get("decisions", 0),
                "provisional": r["games"] < min_games,
                "retired": r["retired_at"] is not None,
            }
        )
    out.sort(key=lambda p: (-p["conservative"], p["name"]))
    for rank, p in enumerate(out, 1):
        p["rank"] = rank
    return {
        "game": game,
        "scope": scope,
        "trueskill": params,
        "min_games": min_games,
        "include_retired": include_retired,
        "players": out,
    }


def pairwise_outcomes(db: Database, game: str | None = None) -> list[tuple[str, str, float]]:
    """(a, b, a's score) for every pair of opponents in every rated match: 1 win, 0.5 draw,
    0 loss by rank (teammates are not opponents)."""
    by_match: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for match_id, name, team, rank in rated_match_seats(db, game):
        by_match[match_id].append((name, team, rank))
    outcomes = []
    for seats in by_match.values():
        for i, (a, team_a, rank_a) in enumerate(seats):
            for b, team_b, rank_b in seats[i + 1 :]:
                if team_a == team_b:
                    continue
                score = 1.0 if rank_a < rank_b else 0.0 if rank_a > rank_b else 0.5
                outcomes.append((a, b, score))
    return outcomes


def bradley_terry_view(
    db: Database, game: str | None = None, *, samples: int = 200, seed: int = 0
) -> list[dict[str, Any]]:
    """Strengths from a Bradley-Terry fit of all rated results at once (order-independent),
    with bootstrap intervals; best first."""
    from arena.ratings import bootstrap_intervals

    intervals = bootstrap_intervals(pairwise_outcomes(db, game), samples=samples, seed=seed)
    rows = [
        {"name": name, "strength": est, "low": low, "high": high}
        for name, (est, low, high) in intervals.items()
    ]
    rows.sort(key=lambda r: (-r["strength"], r["name"]))
    return rows


def win_rates(db: Database, game: str | None = None) -> dict[str, dict[str, tuple[float, int]]]:
    """[a][b] = (a's score rate against b, games)."""
    from arena.ratings import win_rate_matrix

    return win_rate_matrix(pairwise_outcomes(db, game))
