"""Reading the ratings back: standings by scope, a player's ratings and their history, each
game's draw counts, and the seats of every rated match (for head-to-head views).

The conservative rating is `Rating.conservative` (arena.ratings), never spelled again here.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.ratings import Rating
from arena.store.ratings import OVERALL

if TYPE_CHECKING:
    from sqlite_utils import Database


def game_draw_stats(db: Database) -> list[tuple[str, int, int, float | None]]:
    """(game, rated matches, drawn matches, configured draw probability or None) for every
    game with stats, by game id."""
    return [
        (game, games, draws, configured)
        for game, games, draws, configured in db.conn.execute(
            "SELECT game, games, draws, draw_probability FROM game_stats ORDER BY game"
        )
    ]


def standing_rows(
    db: Database, scope: str, *, include_retired: bool = True
) -> list[dict[str, Any]]:
    """Every stored rating in `scope` (a game id, or `OVERALL`) as a dict of the `ratings`
    columns plus the player's `name`, `kind` and `retired_at`; in no particular order."""
    sql = (
        "SELECT p.name, p.kind, p.retired_at, r.* FROM ratings r JOIN players p "
        "ON p.id = r.player_id WHERE r.scope = ?"
    )
    if not include_retired:
        sql += " AND p.retired_at IS NULL"
    cur = db.conn.execute(sql, (scope,))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur]


@dataclass
class _Split:
    """`token_split`'s totals of one scope, up to the rated match `last_id`."""

    last_id: int
    matches: int  # rated matches of the scope up to `last_id`
    totals: dict[int, tuple[int, int]]


# Per open database and scope: the leaderboard screen asks every few seconds, and a scan of
# every move of a large arena is slow; matches are only ever appended, so only the moves of
# matches newer than the last look are read (all of them again if anything else changed).
_SPLITS: weakref.WeakKeyDictionary[Any, dict[str, _Split]] = weakref.WeakKeyDictionary()


def token_split(db: Database, scope: str) -> dict[int, tuple[int, int]]:
    """player id -> (prompt tokens, completion tokens) over every attempt of the rated matches
    in `scope` (a game id, or `OVERALL`): the split of the `tokens` total that `ratings` keeps.
    Players without a rated match there are left out."""
    where, args = " AND m.game = ?" if scope != OVERALL else "", [scope] if scope != OVERALL else []
    cached = _SPLITS.get(db, {}).get(scope)
    seen = cached.last_id if cached is not None else 0
    last_id, matches, before = db.conn.execute(
        "SELECT COALESCE(MAX(m.id), 0), COUNT(*), COALESCE(SUM(m.id <= ?), 0) FROM matches m "
        f"WHERE m.rated = 1{where}",
        [seen, *args],
    ).fetchone()
    if cached is None or cached.matches != before or last_id < seen:
        cached, seen = _Split(0, 0, {}), 0
    if last_id > seen:
        rows = db.conn.execute(
            "SELECT mv.player_id, COALESCE(SUM(mv.prompt_tokens), 0), "
            "COALESCE(SUM(mv.completion_tokens), 0) FROM matches m JOIN moves mv "
            "ON mv.match_id = m.id WHERE m.rated = 1 AND m.id > ? AND m.id <= ? "
            f"AND mv.player_id IS NOT NULL{where} GROUP BY mv.player_id",
            [seen, last_id, *args],
        )
        totals = dict(cached.totals)
        for pid, prompt, completion in rows:
            old_prompt, old_completion = totals.get(pid, (0, 0))
            totals[pid] = (old_prompt + int(prompt), old_completion + int(completion))
        cached = _Split(last_id, matches, totals)
    try:
        _SPLITS.setdefault(db, {})[scope] = cached
    except TypeError:  # a database object that takes no weak reference: no cache
        pass
    return dict(cached.totals)


def rated_scopes(db: Database) -> list[str]:
    """The games that have at least one stored rating (the overall scope left out), sorted."""
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT DISTINCT scope FROM ratings WHERE scope != ? ORDER BY scope", (OVERALL,)
        )
    ]


def rated_match_seats(db: Database, game: str | None = None) -> list[tuple[int, str, int, int]]:
    """(match id, player name, team, rank) for every seat of every rated match (of `game`, or
    of all games), in match then seat order."""
    sql = (
        "SELECT r.match_id, p.name, r.team, r.rank FROM results r JOIN matches m "
        "ON m.id = r.match_id JOIN players p ON p.id = r.player_id WHERE m.rated = 1"
    )
    args: list[Any] = []
    if game is not None:
        sql += " AND m.game = ?"
        args.append(game)
    return [tuple(row) for row in db.conn.execute(sql + " ORDER BY r.match_id, r.seat", args)]


def player_ratings(db: Database, player_id: int) -> list[dict[str, Any]]:
    """A player's rating in every scope it has one, by scope: `scope`, `mu`, `sigma`,
    `conservative`, `games`, `wins`, `draws`, `losses`."""
    out = []
    for row in db.query(
        "SELECT scope, mu, sigma, games, wins, draws, losses FROM ratings "
        "WHERE player_id = ? ORDER BY scope",
        [player_id],
    ):
        out.append(
            {
                "scope": row["scope"],
                "mu": row["mu"],
                "sigma": row["sigma"],
                "conservative": Rating(row["mu"], row["sigma"]).conservative,
                "games": row["games"],
                "wins": row["wins"],
                "draws": row["draws"],
                "losses": row["losses"],
            }
        )
    return out


def player_rating(db: Database, name: str, scope: str) -> Rating | None:
    """The stored rating of the player called `name` in `scope`; None when it has none."""
    row = db.conn.execute(
        "SELECT r.mu, r.sigma FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE p.name = ? AND r.scope = ?",
        (name, scope),
    ).fetchone()
    return None if row is None else Rating(row[0], row[1])


def rating_history(db: Database, player_id: int, scope: str) -> list[Rating]:
    """A player's rating after each of its rated matches in `scope`, oldest first."""
    return [
        Rating(mu, sigma)
        for mu, sigma in db.conn.execute(
            "SELECT mu, sigma FROM rating_history WHERE player_id = ? AND scope = ? "
            "ORDER BY match_id",
            (player_id, scope),
        )
    ]


def conservative_rating_history(db: Database, player_id: int, scope: str) -> list[float]:
    """The conservative rating (`Rating.conservative`) after each rated match in `scope`,
    oldest first."""
    return [r.conservative for r in rating_history(db, player_id, scope)]


def ratings_of(db: Database, scope: str, names: list[str]) -> dict[str, Rating]:
    """The current ratings of the players `names` in `scope` (players never rated there are
    left out). One indexed read: the ladder asks before every pick."""
    if not names:
        return {}
    marks = ", ".join("?" * len(names))
    rows = db.conn.execute(
        "SELECT p.name, r.mu, r.sigma FROM ratings r JOIN players p ON p.id = r.player_id "
        f"WHERE r.scope = ? AND p.name IN ({marks})",
        (scope, *names),
    )
    return {name: Rating(mu, sigma) for name, mu, sigma in rows}
