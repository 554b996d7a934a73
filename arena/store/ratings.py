"""Ratings kept in the database: the incremental update after each match (the exact rebuild
from the match history is `arena.store.recompute`).

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING

from arena.outcomes import seat_outcomes
from arena.ratings import (
    Rating,
    TrueSkillParams,
    draw_margin,
    draw_probability,
    rate_match,
    rate_two_players,
)
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


def widened_sigma(parent_sigma: float, cap: float = DEFAULT_PARAMS.sigma) -> float:
    """A child's starting sigma: its parent's widened by `WIDEN` (in quadrature), at most `cap`."""
    return min(math.sqrt(parent_sigma**2 + WIDEN**2), cap)


# A standing while a book rates matches: Standing's fields, in order, in a list changed in place
# (a replay of a million matches makes no object per match and seat), then, at `_HISTORY`, the
# ratings it has had since they were last handed over (flat: match_id, mu, sigma, ...). A seat
# as the book reads it: (match_id, game, player_id, team, return, decisions, attempts,
# invalid_moves, latency_s, tokens, cost_usd), a row of `_RATED_SEATS_SQL`.
_NEW_COUNTERS = (0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, None)
_WINS, _DRAWS, _LOSSES, _HISTORY = 3, 4, 5, 13
# The whole-number counters (games ... invalid_moves, tokens) and last_match_id, last.
_COUNTERS = (2, 3, 4, 5, 6, 7, 8, 10, 12)
_NO_COUNTS = (0, 0, 0, 0, 0, 0, 0, 0, None)
_OUTCOME_COLUMN = {"win": _WINS, "draw": _DRAWS, "loss": _LOSSES}
_MATCH_ID = itemgetter(0)
_HELD = 1 << 22  # ratings a replay holds before it hands them over (some 300 MB)

History = Callable[[list[tuple[int, str, list]]], None]


def _row_of(s: Standing) -> list:
    return [
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
        [],
    ]


class RatingBook:
    """Ratings and per-game draw counts in memory; `apply` rates one match, `replay` a history.

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
        rows = {} if inherited is None else {parent: _row_of(inherited)}
        return Standing(*self._start(rows, player_id)[:_HISTORY])

    def _start(self, rows: dict[int, list], player_id: int) -> list:
        """The row a player's first rated match in a scope starts from (`rows`: that scope's
        rows by player): its parent's rating there, widened, when the parent has one, else the
        default prior."""
        parent = self.parents.get(player_id)
        inherited = None if parent is None else rows.get(parent)
        if inherited is not None:
            # Only the rating carries over; the counters are the child's own (none yet).
            sigma = widened_sigma(inherited[1], self.params.sigma)
            return [inherited[0], sigma, *_NEW_COUNTERS, []]
        return [self.params.mu, self.params.sigma, *_NEW_COUNTERS, []]

    def apply(
        self, match_id: int, game: str, seats: Sequence[SeatResult]
    ) -> list[tuple[int, str, Standing]]:
        """Rate one finished match; returns the changed standings."""
        live: dict[str, dict[int, list]] = {game: {}, OVERALL: {}}
        for scope, rows in live.items():
            for s in seats:
                parent = self.parents.get(s.player_id)
                for pid in (s.player_id,) if parent is None else (s.player_id, parent):
                    found = self.standings.get((pid, scope))
                    if found is not None:
                        rows[pid] = _row_of(found)
        seat_rows = [
            (match_id, game, s.player_id, s.team, s.ret, s.decisions, s.attempts)
            + (s.invalid_moves, s.latency_s, s.tokens, s.cost_usd)
            for s in seats
        ]
        self._replay(live, seat_rows, None, None)
        changed = []
        for scope in (game, OVERALL):
            for s in seats:
                standing = Standing(*live[scope][s.player_id][:_HISTORY])
                self.standings[(s.player_id, scope)] = standing
                changed.append((s.player_id, scope, standing))
        return changed

    def replay(
        self,
        seat_rows: Iterable[Sequence],
        history: History | None = None,
        *,
        history_game: str | None = None,
    ) -> int:
        """Rate a whole history; returns the number of matches rated.

        `seat_rows`: one row per seat, `(match_id, game, player_id, team, return, decisions,
        attempts, invalid_moves, latency_s, tokens, cost_usd)`, in match order (finish order)
        and seat order within a match. `history`, when given, receives every rating each seat
        had after each match, in its game and overall (with `history_game`, only in that game
        and overall), some million at a time, as runs `(player_id, scope, [match_id, mu, sigma,
        match_id, mu, sigma, ...])` in match order, the runs sorted by player and scope: the
        order of `rating_history`'s key, the order in which SQLite inserts them fastest."""
        live: dict[str, dict[int, list]] = {OVERALL: {}}
        for (pid, scope), s in self.standings.items():
            live.setdefault(scope, {})[pid] = _row_of(s)
        matches = self._replay(live, seat_rows, history, history_game)
        self.standings = {
            (pid, scope): Standing(*row[:_HISTORY])
            for scope, rows in live.items()
            for pid, row in rows.items()
        }
        return matches

    def _replay(
        self,
        live: dict[str, dict[int, list]],
        seat_rows: Iterable[Sequence],
        history: History | None,
        history_game: str | None,
    ) -> int:
        """Rate matches given as seat rows, changing `live` (scope -> player -> row) in place:
        the one implementation behind `apply` (one match) and `replay` (all of them), so the
        incremental ratings and a recompute are the same arithmetic in the same order.

        The overall rows get their ratings and their float totals (latency, cost: sums in
        match order) match by match; their whole-number counters are their games' summed at
        the end, exactly."""
        params = self.params
        beta, tau = params.beta, params.tau
        counts, configured, start = self.game_counts, self.configured, self._start
        overall = live[OVERALL]
        counted = {
            (scope, pid): [row[i] for i in _COUNTERS]
            for scope, rows in live.items()
            if scope != OVERALL
            for pid, row in rows.items()
        }
        keep_overall = history is not None
        # game -> [its rows, keep its history, rated games, draws, draw probability, margin]
        per_game: dict[str, list] = {}
        matches = held = 0
        for _, group in groupby(seat_rows, key=_MATCH_ID):
            seats = list(group)
            a = seats[0]
            match_id, game = a[0], a[1]
            state = per_game.get(game)
            if state is None:
                keep = keep_overall and (history_game is None or game == history_game)
                state = per_game[game] = [
                    live.setdefault(game, {}),
                    keep,
                    *counts.get(game, (0, 0)),
                ]
                state += (None, None)
            in_game, keep_game, games, draws, p, margin = state
            q = draw_probability(draws, games, configured=configured.get(game))
            if q != p:  # estimated, it changes with every match
                state[4], state[5] = p, margin = q, draw_margin(q, beta)
            if len(seats) == 2 and a[3] != seats[1][3] and a[2] != seats[1][2]:
                # One against one, the common case, on plain floats.
                b = seats[1]
                ret_a, ret_b = a[4], b[4]
                if not (math.isfinite(ret_a) and math.isfinite(ret_b)):
                    raise ValueError(f"returns must be finite numbers, got {[ret_a, ret_b]!r}")
                drawn = ret_a == ret_b
                first, second = (a, b) if ret_a >= ret_b else (b, a)  # the winner first
                won, lost = (_DRAWS, _DRAWS) if drawn else (_WINS, _LOSSES)
                p1, p2 = first[2], second[2]
                # The game's rows.
                one, two = in_game.get(p1), in_game.get(p2)
                if one is None or two is None:
                    one = one or start(in_game, p1)
                    two = two or start(in_game, p2)
                    in_game[p1], in_game[p2] = one, two
                before = one[0], one[1], two[0], two[1]
                mu1, sigma1, mu2, sigma2 = rate_two_players(*before, drawn, beta, tau, margin)
                one[0] = mu1
                one[1] = sigma1
                one[2] += 1
                one[won] += 1
                one[6] += first[5]
                one[7] += first[6]
                one[8] += first[7]
                one[9] += first[8]
                one[10] += first[9]
                one[11] += first[10]
                one[12] = match_id
                two[0] = mu2
                two[1] = sigma2
                two[2] += 1
                two[lost] += 1
                two[6] += second[5]
                two[7] += second[6]
                two[8] += second[7]
                two[9] += second[8]
                two[10] += second[9]
                two[11] += second[10]
                two[12] = match_id
                if keep_game:
                    one[13] += (match_id, mu1, sigma1)
                    two[13] += (match_id, mu2, sigma2)
                    held += 2
                # The overall rows.
                one, two = overall.get(p1), overall.get(p2)
                if one is None or two is None:
                    one = one or start(overall, p1)
                    two = two or start(overall, p2)
                    overall[p1], overall[p2] = one, two
                if (one[0], one[1], two[0], two[1]) != before:
                    mu1, sigma1, mu2, sigma2 = rate_two_players(
                        one[0], one[1], two[0], two[1], drawn, beta, tau, margin
                    )
                # else both have played only this game so far (or stand exactly as if): the
                # same update of the same ratings, already made.
                one[0] = mu1
                one[1] = sigma1
                one[9] += first[8]
                one[11] += first[10]
                two[0] = mu2
                two[1] = sigma2
                two[9] += second[8]
                two[11] += second[10]
                if keep_overall:
                    one[13] += (match_id, mu1, sigma1)
                    two[13] += (match_id, mu2, sigma2)
                    held += 2
            else:
                returns = [s[4] for s in seats]
                teams = [s[3] for s in seats]
                _, outcomes, drawn = seat_outcomes(returns, teams)
                rated = replace(params, draw_probability=p)
                for rows, keep in ((in_game, keep_game), (overall, keep_overall)):
                    before = [rows.get(s[2]) or start(rows, s[2]) for s in seats]
                    after = rate_match(rated, [Rating(r[0], r[1]) for r in before], returns, teams)
                    for seat, row, new, outcome in zip(seats, before, after, outcomes):
                        rows[seat[2]] = row
                        row[0] = new.mu
                        row[1] = new.sigma
                        row[9] += seat[8]
                        row[11] += seat[10]
                        if rows is in_game:
                            row[2] += 1
                            row[_OUTCOME_COLUMN[outcome]] += 1
                            row[6] += seat[5]
                            row[7] += seat[6]
                            row[8] += seat[7]
                            row[10] += seat[9]
                            row[12] = match_id
                        if keep:
                            row[13] += (match_id, new.mu, new.sigma)
                            held += 1
            state[2] = games + 1
            state[3] = draws + drawn
            matches += 1
            if held >= _HELD:
                _hand_over(live, history)  # type: ignore[arg-type]
                held = 0
        for game, state in per_game.items():
            counts[game] = (state[2], state[3])
        # The overall counters: what each game's rows counted in this replay, added up.
        for scope, rows in live.items():
            if scope == OVERALL:
                continue
            for pid, row in rows.items():
                before = counted.get((scope, pid))
                if before is None or row[12] != before[-1]:
                    total = overall[pid]
                    for i, was in zip(_COUNTERS, before or _NO_COUNTS):
                        if i == 12:
                            if total[12] is None or row[12] > total[12]:
                                total[12] = row[12]
                        else:
                            total[i] += row[i] - was
        if held:
            _hand_over(live, history)  # type: ignore[arg-type]
        return matches


def _hand_over(live: dict[str, dict[int, list]], history: History) -> None:
    """Give `history` the ratings the rows hold, as runs sorted by player and scope."""
    runs = []
    for scope, rows in live.items():
        for pid, row in rows.items():
            if row[_HISTORY]:
                runs.append((pid, scope, row[_HISTORY]))
                row[_HISTORY] = []
    runs.sort(key=lambda run: (run[0], run[1]))
    history(runs)


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
            (pid, scope, *_row_of(s)[:-1])  # the standing's columns, without the replay's list
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
