"""The `move_quality` table: which matches still need scoring, their played moves, writing a
batch of scores, and the totals per player and game (see `arena.move_quality`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arena.store.db import write

if TYPE_CHECKING:
    from sqlite_utils import Database

ScoredMove = tuple[int, int, int, float | None, str | None, str]
"""(idx, attempt, seat, loss, best, method) of one decision."""


def pending_matches(
    db: Database, games: Sequence[str], *, game: str | None = None, player_id: int | None = None
) -> list[tuple[int, str, str]]:
    """`(id, game, params)` of the matches of `games` (only `game`, only those `player_id`
    played) that have player moves and no move-quality rows yet, oldest first."""
    sql = (
        "SELECT m.id, m.game, m.params FROM matches m "
        f"WHERE m.game IN ({', '.join('?' * len(games))}) "
        "AND NOT EXISTS (SELECT 1 FROM move_quality q WHERE q.match_id = m.id) "
        "AND EXISTS (SELECT 1 FROM moves v WHERE v.match_id = m.id AND v.seat >= 0)"
    )
    args: list[Any] = list(games)
    if game is not None:
        sql += " AND m.game = ?"
        args.append(game)
    if player_id is not None:
        sql += " AND m.id IN (SELECT match_id FROM results WHERE player_id = ?)"
        args.append(player_id)
    return db.conn.execute(sql + " ORDER BY m.id", args).fetchall()


def played_moves(db: Database, match_id: int) -> list[tuple[int, int, int, str]]:
    """`(idx, attempt, seat, action)` of every move of a match, its last (played) attempt, in
    order; chance moves have seat -1."""
    return db.conn.execute(
        "SELECT idx, MAX(attempt), seat, action FROM moves WHERE match_id = ? "
        "GROUP BY idx ORDER BY idx",
        (match_id,),
    ).fetchall()


def record_move_quality(
    db: Database, game: str, matches: Sequence[tuple[int, Sequence[ScoredMove]]]
) -> int:
    """Store the scored decisions of several matches of `game` in one short transaction; a
    match that already has rows (another process scored it meanwhile) keeps them. Returns the
    number of matches written."""
    written = 0
    with write(db):
        conn = db.conn
        for match_id, moves in matches:
            if conn.execute(
                "SELECT 1 FROM move_quality WHERE match_id = ? LIMIT 1", (match_id,)
            ).fetchone():
                continue
            seats = dict(
                conn.execute(
                    "SELECT seat, player_id FROM results WHERE match_id = ?", (match_id,)
                ).fetchall()
            )
            conn.executemany(
                "INSERT INTO move_quality (match_id, idx, attempt, player_id, game, loss, best, "
                "method) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (match_id, idx, attempt, seats.get(seat), game, loss, best, method)
                    for idx, attempt, seat, loss, best, method in moves
                ],
            )
            written += 1
    return written


def move_quality_totals(
    db: Database,
    tolerance: Mapping[str, float],
    *,
    game: str | None = None,
    player: str | None = None,
) -> list[tuple[str, str, int, float | None, int, int, str]]:
    """Per player name and game: `(name, game, decisions scored, mean loss, best moves,
    forfeits, methods)`; a loss up to `tolerance[game]` (default 0) counts as a best move."""
    cases = " ".join("WHEN ? THEN ?" for _ in tolerance)
    sql = (
        "SELECT p.name, q.game, COUNT(q.loss), AVG(q.loss), "
        f"COALESCE(SUM(q.loss <= CASE q.game {cases} ELSE 0 END), 0), "
        "SUM(q.loss IS NULL), GROUP_CONCAT(DISTINCT q.method) "
        "FROM move_quality q JOIN players p ON p.id = q.player_id WHERE 1"
    )
    args: list[Any] = [x for pair in tolerance.items() for x in pair]
    if game is not None:
        sql += " AND q.game = ?"
        args.append(game)
    if player is not None:
        sql += " AND p.name = ?"
        args.append(player)
    sql += " GROUP BY p.name, q.game ORDER BY p.name, q.game"
    return db.conn.execute(sql, args).fetchall()
