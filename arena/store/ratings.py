"""Ratings kept in the database: the incremental update after each match, and the exact
rebuild from the match history.

Both go through one `RatingBook`, so `recompute_ratings` replays the same arithmetic in the same
order (match ids are finish order) and gives exactly the ratings the incremental updates gave.
Each rated match moves two ratings per player: the game's and the overall one (scope `*`).

A checkpoint registered with a parent (`players.parent`) starts each scope from its parent's
standing in that scope at the moment of its own first rated match there, with its uncertainty
widened by `WIDEN`; a player without a parent, or whose parent has no standing in that scope yet,
starts from the default prior.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from arena.ratings import Rating, TrueSkillParams, draw_probability, outcome_ranks, rate_match
from arena.store.db import write

if TYPE_CHECKING:
    from sqlite_utils import Database

OVERALL = "*"
DEFAULT_PARAMS = TrueSkillParams()
# How far a checkpoint may have moved from its parent, in skill points (one deviation). A third
# of the default sigma (about 2.8) is two thirds of beta: a one-deviation move changes the
# expected score against the parent from 50% to about 68%, a plausible effect of one
# checkpoint interval of training, while the parent's mu stays a far better first guess than
# the population default. Added in quadrature, and never beyond the default sigma.
WIDEN = DEFAULT_PARAMS.sigma / 3


@dataclass(frozen=True)
class Standing:
    """A player's rating and totals in one scope (a game, or overall)."""

    mu: float
    sigma: float
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    decisions: int = 0
    attempts: int = 0
    invalid_moves: int = 0
    latency_s: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0
    last_match_id: int | None = None

    @property
    def rating(self) -> Rating:
        return Rating(self.mu, self.sigma)


@dataclass(frozen=True)
class SeatResult:
    player_id: int
    team: int
    ret: float
    decisions: int = 0
    attempts: int = 0
    invalid_moves: int = 0
    latency_s: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0


def seat_outcomes(
    returns: Sequence[float], teams: Sequence[int] | None
) -> tuple[list[int], list[str], bool]:
    """Rank (0 = best), outcome (win/draw/loss) per seat, and whether the match is a draw
    (every team tied)."""
    groups, ranks = outcome_ranks(returns, teams)
    seat_rank = [0] * len(returns)
    for group, rank in zip(groups, ranks):
        for seat in group:
            seat_rank[seat] = rank
    drawn = len(set(ranks)) == 1
    outcomes = ["draw" if drawn else ("win" if r == 0 else "loss") for r in seat_rank]
    return seat_rank, outcomes, drawn


def widened_sigma(parent_sigma: float, cap: float = DEFAULT_PARAMS.sigma) -> float:
    """A child's starting sigma: its parent's widened by `WIDEN` (in quadrature), at most `cap`."""
    return min(math.sqrt(parent_sigma**2 + WIDEN**2), cap)


class RatingBook:
    """Ratings and per-game draw counts in memory; `apply` rates one match.

    `parents` maps a player id to its parent's id: a player with no standing in a scope starts
    from its parent's standing there (widened), when the parent has one."""

    def __init__(
        self, params: TrueSkillParams = DEFAULT_PARAMS, parents: Mapping[int, int] | None = None
    ) -> None:
        self.params = params
        self.parents: dict[int, int] = dict(parents or {})
        self.standings: dict[tuple[int, str], Standing] = {}
        self.game_counts: dict[str, tuple[int, int]] = {}  # game -> (rated games, draws)
        self.configured: dict[str, float] = {}  # game -> configured draw probability

    def draw_probability(self, game: str) -> float:
        games, draws = self.game_counts.get(game, (0, 0))
        return draw_probability(draws, games, configured=self.configured.get(game))

    def standing(self, player_id: int, scope: str) -> Standing:
        found = self.standings.get((player_id, scope))
        if found is not None:
            return found
        parent = self.parents.get(player_id)
        inherited = None if parent is None else self.standings.get((parent, scope))
        if inherited is not None:
            # Only the rating carries over; the counters are the child's own (none yet).
            return Standing(inherited.mu, widened_sigma(inherited.sigma, self.params.sigma))
        return Standing(self.params.mu, self.params.sigma)

    def apply(
        self, match_id: int, game: str, seats: Sequence[SeatResult]
    ) -> list[tuple[int, str, Standing]]:
        """Rate one finished match; returns the changed standings."""
        returns = [s.ret for s in seats]
        teams = [s.team for s in seats]
        _, outcomes, drawn = seat_outcomes(returns, teams)
        params = replace(self.params, draw_probability=self.draw_probability(game))
        changed = []
        for scope in (game, OVERALL):
            before = [self.standing(s.player_id, scope) for s in seats]
            after = rate_match(params, [b.rating for b in before], returns, teams)
            for seat, old, new, outcome in zip(seats, before, after, outcomes):
                standing = Standing(
                    mu=new.mu,
                    sigma=new.sigma,
                    games=old.games + 1,
                    wins=old.wins + (outcome == "win"),
                    draws=old.draws + (outcome == "draw"),
                    losses=old.losses + (outcome == "loss"),
                    decisions=old.decisions + seat.decisions,
                    attempts=old.attempts + seat.attempts,
                    invalid_moves=old.invalid_moves + seat.invalid_moves,
                    latency_s=old.latency_s + seat.latency_s,
                    tokens=old.tokens + seat.tokens,
                    cost_usd=old.cost_usd + seat.cost_usd,
                    last_match_id=match_id,
                )
                self.standings[(seat.player_id, scope)] = standing
                changed.append((seat.player_id, scope, standing))
        games, draws = self.game_counts.get(game, (0, 0))
        self.game_counts[game] = (games + 1, draws + drawn)
        return changed


_STANDING_COLUMNS = (
    "mu, sigma, games, wins, draws, losses, decisions, attempts, invalid_moves, latency_s, tokens, "
    "cost_usd, last_match_id"
)


_PARENTS_SQL = (
    "SELECT child.id, parent.id FROM players child JOIN players parent "
    "ON parent.name = child.parent"
)


def _parents(db: Database, player_ids: Iterable[int] | None = None) -> dict[int, int]:
    """player id -> parent's id (`players.parent` holds a name), for `player_ids` or everyone."""
    if player_ids is None:
        return dict(db.conn.execute(_PARENTS_SQL).fetchall())
    ids = sorted(set(player_ids))
    marks = ",".join("?" * len(ids))
    return dict(db.conn.execute(f"{_PARENTS_SQL} WHERE child.id IN ({marks})", ids).fetchall())


def _load_book(db: Database, player_ids: Iterable[int], game: str) -> RatingBook:
    seats = set(player_ids)
    book = RatingBook(parents=_parents(db, seats))
    # The parents' current rows are their standings just before this match: matches are rated
    # in id order, each in its own transaction, exactly as `recompute_ratings` replays them.
    ids = sorted(seats | set(book.parents.values()))
    marks = ",".join("?" * len(ids))
    for row in db.conn.execute(
        f"SELECT player_id, scope, {_STANDING_COLUMNS} FROM ratings "
        f"WHERE player_id IN ({marks}) AND scope IN (?, ?)",
        (*ids, game, OVERALL),
    ):
        book.standings[(row[0], row[1])] = Standing(*row[2:])
    stats = db.conn.execute(
        "SELECT games, draws, draw_probability FROM game_stats WHERE game = ?", (game,)
    ).fetchone()
    if stats is not None:
        book.game_counts[game] = (stats[0], stats[1])
        if stats[2] is not None:
            book.configured[game] = stats[2]
    return book


def _save(db: Database, changed: list[tuple[int, str, Standing]], *, history: bool) -> None:
    db.conn.executemany(
        f"INSERT OR REPLACE INTO ratings (player_id, scope, {_STANDING_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                pid,
                scope,
                s.mu,
                s.sigma,
                s.games,
                s.wins,
                s.draws,
                s.losses,
                s.decisions,
                s.attempts,
                s.invalid_moves,
                s.latency_s,
                s.tokens,
                s.cost_usd,
                s.last_match_id,
            )
            for pid, scope, s in changed
        ],
    )
    if history:
        db.conn.executemany(
            "INSERT INTO rating_history (match_id, player_id, scope, mu, sigma) "
            "VALUES (?, ?, ?, ?, ?)",
            [(s.last_match_id, pid, scope, s.mu, s.sigma) for pid, scope, s in changed],
        )


def rate_recorded_match(
    db: Database, match_id: int, game: str, seats: Sequence[SeatResult]
) -> None:
    """Update ratings for a match just inserted. Call inside the match's write transaction,
    so the record and its rating commit together."""
    book = _load_book(db, (s.player_id for s in seats), game)
    changed = book.apply(match_id, game, seats)
    _save(db, changed, history=True)
    games, draws = book.game_counts[game]
    db.conn.execute(
        "INSERT INTO game_stats (game, games, draws) VALUES (?, ?, ?) "
        "ON CONFLICT (game) DO UPDATE SET games = excluded.games, draws = excluded.draws",
        (game, games, draws),
    )


def player_standing(db: Database, player_id: int, scope: str) -> Standing:
    """A player's standing in `scope` now: the stored one, else the prior its first rated match
    there would start from (its parent's, widened, or the default)."""
    return _load_book(db, [player_id], scope).standing(player_id, scope)


def _rated_matches(db: Database, game: str | None) -> Iterable[tuple[int, str, list[SeatResult]]]:
    sql = (
        "SELECT m.id, m.game, r.player_id, r.team, r.return, r.decisions, r.attempts, "
        "r.invalid_moves, "
        "r.latency_s, r.tokens, r.cost_usd FROM matches m JOIN results r ON r.match_id = m.id "
        "WHERE m.rated = 1"
    )
    args: list = []
    if game is not None:
        sql += " AND m.game = ?"
        args.append(game)
    current: tuple[int, str] | None = None
    seats: list[SeatResult] = []
    for row in db.conn.execute(sql + " ORDER BY m.id, r.seat", args):
        key = (row[0], row[1])
        if key != current:
            if current is not None:
                yield current[0], current[1], seats
            current, seats = key, []
        seats.append(SeatResult(*row[2:]))
    if current is not None:
        yield current[0], current[1], seats


def recompute_ratings(db: Database, game: str | None = None) -> int:
    """Rebuild ratings from the match history in finish order; returns the matches replayed.

    With `game`, that game's ratings are rebuilt; the overall ratings always need every game,
    so they are rebuilt from all rated matches either way."""
    book = RatingBook(parents=_parents(db))
    for row in db.conn.execute(
        "SELECT game, draw_probability FROM game_stats WHERE draw_probability IS NOT NULL"
    ):
        book.configured[row[0]] = row[1]
    changed: dict[tuple[int, str], Standing] = {}
    history: list[tuple[int, int, str, float, float]] = []
    replayed = 0
    for match_id, match_game, seats in _rated_matches(db, None):
        for pid, scope, standing in book.apply(match_id, match_game, seats):
            changed[(pid, scope)] = standing
            history.append((match_id, pid, scope, standing.mu, standing.sigma))
        replayed += game is None or match_game == game
    scopes = None if game is None else {game, OVERALL}

    def keep(scope: str) -> bool:
        return scopes is None or scope in scopes

    with write(db):
        if scopes is None:
            db.conn.execute("DELETE FROM ratings")
            db.conn.execute("DELETE FROM rating_history")
        else:
            for scope in scopes:
                db.conn.execute("DELETE FROM ratings WHERE scope = ?", (scope,))
                db.conn.execute("DELETE FROM rating_history WHERE scope = ?", (scope,))
        final = [(pid, scope, s) for (pid, scope), s in changed.items() if keep(scope)]
        _save(db, final, history=False)
        db.conn.executemany(
            "INSERT INTO rating_history (match_id, player_id, scope, mu, sigma) VALUES (?, ?, ?, ?, ?)",
            [h for h in history if keep(h[2])],
        )
        for match_game, (games, draws) in book.game_counts.items():
            if game is None or match_game == game:
                db.conn.execute(
                    "INSERT INTO game_stats (game, games, draws) VALUES (?, ?, ?) ON CONFLICT "
                    "(game) DO UPDATE SET games = excluded.games, draws = excluded.draws",
                    (match_game, games, draws),
                )
    return replayed


def set_draw_probability(db: Database, game: str, value: float | None) -> None:
    """Configure a game's draw probability (None: estimate it from the results again)."""
    if value is not None and not 0.0 < value < 1.0:
        raise ValueError("a draw probability is between 0 and 1 (exclusive)")
    with write(db):
        db.conn.execute(
            "INSERT INTO game_stats (game, draw_probability) VALUES (?, ?) ON CONFLICT (game) "
            "DO UPDATE SET draw_probability = excluded.draw_probability",
            (game, value),
        )
