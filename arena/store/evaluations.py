"""Measurements of a player outside matches (its exploitability at a poker game, ...).

Each evaluation is one row; the newest per (game, metric) is the player's current figure, and
the older ones stay as its history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.store.db import write
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database

METHODS = ("exact", "sampled")


@dataclass(frozen=True)
class EvaluationRow:
    id: int
    player_id: int
    player: str
    game: str
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    method: str
    details: dict[str, Any]
    created_at: str


def record_evaluation(
    db: Database,
    player_id: int,
    game: str,
    metric: str,
    value: float,
    *,
    method: str,
    ci_low: float | None = None,
    ci_high: float | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Store one evaluation of a registered player; returns its id."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    with write(db):
        cur = db.conn.execute(
            "INSERT INTO evaluations (player_id, game, metric, value, ci_low, ci_high, method, "
            "details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                player_id,
                game,
                metric,
                float(value),
                ci_low,
                ci_high,
                method,
                json.dumps(details or {}, default=str),
                now(),
            ),
        )
        return int(cur.lastrowid)


def latest_evaluations(db: Database, player: str | int) -> list[EvaluationRow]:
    """The newest evaluation of each (game, metric) for a player (by name or row id), ordered
    by game and metric."""
    column = "p.id" if isinstance(player, int) else "p.name"
    sql = (
        "SELECT e.*, p.name AS player FROM evaluations e JOIN players p ON p.id = e.player_id "
        f"WHERE {column} = ? AND e.id = (SELECT MAX(l.id) FROM evaluations l "
        "WHERE l.player_id = e.player_id AND l.game = e.game AND l.metric = e.metric) "
        "ORDER BY e.game, e.metric"
    )
    return [_row(r) for r in db.query(sql, [player])]


def _row(r: dict[str, Any]) -> EvaluationRow:
    return EvaluationRow(
        id=r["id"],
        player_id=r["player_id"],
        player=r["player"],
        game=r["game"],
        metric=r["metric"],
        value=r["value"],
        ci_low=r["ci_low"],
        ci_high=r["ci_high"],
        method=r["method"],
        details=json.loads(r["details"] or "{}"),
        created_at=r["created_at"],
    )
