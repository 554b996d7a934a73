"""Tournaments in the store: the `tournaments` and `schedule` tables and the reads a run and its
reports make of the matches a tournament stored.

Functions marked "inside the caller's transaction" issue plain statements: the caller holds
`with write(db):` around them so that the read that decides a write is made in the same
transaction. The others either only read or open their own short write transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from arena.store.db import write
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database

SLOT_COLUMNS = "id, idx, round, game, params, seats, seed"


def tournament_row(db: Database, tournament_id: int) -> dict[str, Any] | None:
    """The `tournaments` row as a dict (config as stored JSON text), or None."""
    rows = list(db.query("SELECT * FROM tournaments WHERE id = ?", [tournament_id]))
    return rows[0] if rows else None


def tournament_ids(db: Database) -> list[int]:
    """Every tournament's id, oldest first."""
    return [r[0] for r in db.conn.execute("SELECT id FROM tournaments ORDER BY id")]


def tournaments_named(db: Database, name: str) -> list[tuple[int, str, str]]:
    """(id, name, status) of the tournaments called `name` or `name (k)`, oldest first."""
    return [
        tuple(r)
        for r in db.conn.execute(
            "SELECT id, name, status FROM tournaments WHERE name = ? OR "
            "(substr(name, 1, ?) = ? AND name LIKE '%)') ORDER BY id",
            (name, len(name) + 2, f"{name} ("),
        )
    ]


def _unique_name(db: Database, name: str) -> str:
    """`name`, or `name (2)`, `name (3)`, ... when a tournament has it already."""
    taken = {r[0] for r in db.conn.execute("SELECT name FROM tournaments")}
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name} ({k})"
    return candidate


def insert_tournament(
    db: Database,
    *,
    name: str,
    format: str,
    config: dict[str, Any],
    seed: int,
    unique_name: bool = False,
) -> int:
    """A new tournament row in status `created`; returns its id. With `unique_name`, a name
    taken already becomes `name (2)`, `name (3)`, ... (the config's `name` follows). Inside
    the caller's transaction."""
    if unique_name:
        name = _unique_name(db, name)
        config = {**config, "name": name}
    cur = db.conn.execute(
        "INSERT INTO tournaments (name, format, config, seed, status, created_at) "
        "VALUES (?, ?, ?, ?, 'created', ?)",
        (name, format, json.dumps(config), seed, now()),
    )
    return int(cur.lastrowid)


def insert_missing_players(
    db: Database, players: Iterable[tuple[str, str, dict[str, Any]]]
) -> None:
    """Register each (name, kind, spec) whose name has no row yet (a tournament's inline
    players); a name taken is left as it is. Inside the caller's transaction."""
    for name, kind, spec in players:
        if not db.conn.execute("SELECT 1 FROM players WHERE name = ?", (name,)).fetchone():
            db.conn.execute(
                "INSERT INTO players (name, kind, spec, builtin, created_at) "
                "VALUES (?, ?, ?, 0, ?)",
                (name, kind, json.dumps(spec), now()),
            )


def append_slots(db: Database, tournament_id: int, slots: Sequence[tuple]) -> None:
    """Append (round, game, params JSON, seats JSON, seed) slots to the tournament's schedule,
    numbered after the last one. Inside the caller's transaction."""
    start = db.conn.execute(
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM schedule WHERE tournament_id = ?", (tournament_id,)
    ).fetchone()[0]
    db.conn.executemany(
        "INSERT INTO schedule (tournament_id, idx, round, game, params, seats, seed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(tournament_id, start + i, *slot) for i, slot in enumerate(slots)],
    )


def pending_slots(db: Database, tournament_id: int, after_id: int = 0) -> list[tuple]:
    """The pending slots with an id above `after_id`, in schedule order, as rows of
    `SLOT_COLUMNS` (params and seats as JSON text)."""
    return db.conn.execute(
        f"SELECT {SLOT_COLUMNS} FROM schedule WHERE tournament_id = ? AND state = 'pending' "
        "AND id > ? ORDER BY idx",
        (tournament_id, after_id),
    ).fetchall()


def slot_counts(db: Database, tournament_id: int) -> dict[str, int]:
    """The tournament's schedule slots counted by state (pending, done, failed)."""
    return dict(
        db.conn.execute(
            "SELECT state, COUNT(*) FROM schedule WHERE tournament_id = ? GROUP BY state",
            (tournament_id,),
        ).fetchall()
    )


def slot_state(db: Database, slot_id: int) -> str | None:
    """One slot's state (pending, done, failed), or None if there is no such slot."""
    row = db.conn.execute("SELECT state FROM schedule WHERE id = ?", (slot_id,)).fetchone()
    return row[0] if row else None


def last_round(db: Database, tournament_id: int) -> int:
    """The highest round stored in the schedule (0 when it is empty)."""
    return db.conn.execute(
        "SELECT COALESCE(MAX(round), 0) FROM schedule WHERE tournament_id = ?", (tournament_id,)
    ).fetchone()[0]


def scheduled_seats(db: Database, tournament_id: int) -> list[tuple[int, list[str]]]:
    """(round, player names in seat order) of every slot in the schedule."""
    return [
        (round_no, json.loads(seats))
        for round_no, seats in db.conn.execute(
            "SELECT round, seats FROM schedule WHERE tournament_id = ?", (tournament_id,)
        )
    ]


def finished_outcomes(db: Database, tournament_id: int) -> list[tuple[str, str]]:
    """(player name, outcome) for every seat of the tournament's finished matches."""
    return db.conn.execute(
        "SELECT p.name, r.outcome FROM results r JOIN matches m ON m.id = r.match_id "
        "JOIN players p ON p.id = r.player_id WHERE m.tournament_id = ? AND m.status = 'finished'",
        (tournament_id,),
    ).fetchall()


def finish_order(db: Database, tournament_id: int) -> list[tuple[int, str, int, str]]:
    """The tournament's finished matches in the order they were stored (and rated): each
    one's schedule index, game, seed and returns (JSON)."""
    return db.conn.execute(
        "SELECT s.idx, m.game, m.seed, (SELECT json_group_array(r.return) FROM "
        "(SELECT return FROM results WHERE match_id = m.id ORDER BY seat) r) "
        "FROM matches m JOIN schedule s ON s.id = m.schedule_id "
        "WHERE m.tournament_id = ? AND m.status = 'finished' ORDER BY m.id",
        (tournament_id,),
    ).fetchall()


def match_status_counts(db: Database, tournament_id: int) -> dict[str, int]:
    """The tournament's stored matches counted by status (finished, error, aborted)."""
    return dict(
        db.conn.execute(
            "SELECT status, COUNT(*) FROM matches WHERE tournament_id = ? GROUP BY status",
            (tournament_id,),
        ).fetchall()
    )


def standing_rows(db: Database, tournament_id: int) -> list[tuple[str, int, int, int, int, float]]:
    """Per player over the tournament's finished matches: (name, games, wins, draws, losses,
    mean return)."""
    return db.conn.execute(
        "SELECT p.name, COUNT(*), SUM(r.outcome = 'win'), SUM(r.outcome = 'draw'), "
        "SUM(r.outcome = 'loss'), AVG(r.return) FROM results r JOIN matches m ON m.id = r.match_id "
        "JOIN players p ON p.id = r.player_id WHERE m.tournament_id = ? AND m.status = 'finished' "
        "GROUP BY p.name",
        (tournament_id,),
    ).fetchall()


def claim_tournament(
    db: Database,
    tournament_id: int,
    pid: int,
    *,
    running_elsewhere: Callable[[int | None], bool],
) -> str | None:
    """Mark the tournament `running` by process `pid` (started_at set on the first run) and
    return None; or write nothing and return why not: `"missing"`, `"finished"`, or
    `"running <pid>"` when another process runs it (`running_elsewhere(its pid)`)."""
    with write(db):
        row = db.conn.execute(
            "SELECT status, pid FROM tournaments WHERE id = ?", (tournament_id,)
        ).fetchone()
        if row is None:
            return "missing"
        status, owner = row
        if status == "running" and owner != pid and running_elsewhere(owner):
            return f"running {owner}"
        if status == "finished":
            return "finished"
        db.conn.execute(
            "UPDATE tournaments SET status = 'running', pid = ?, "
            "started_at = COALESCE(started_at, ?) WHERE id = ?",
            (pid, now(), tournament_id),
        )
    return None


def end_tournament_run(db: Database, tournament_id: int, status: str) -> None:
    """Record the end of a run: the status, no pid, and the finish time when `finished`.
    Inside the caller's transaction."""
    db.conn.execute(
        "UPDATE tournaments SET status = ?, pid = NULL, finished_at = ? WHERE id = ?",
        (status, now() if status == "finished" else None, tournament_id),
    )


def first_match_error(db: Database, tournament_id: int) -> tuple[str, str] | None:
    """(game, error) of the tournament's first match that ended in error, or None."""
    row = db.conn.execute(
        "SELECT game, error FROM matches WHERE tournament_id = ? AND status = 'error' "
        "ORDER BY id LIMIT 1",
        (tournament_id,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def results_against(db: Database, tournament_id: int, player_id: int) -> list[tuple[str, str, int]]:
    """For each finished match of the tournament that `player_id` played, and each other
    player at its table: (the player's outcome, the other's name, the player's seat), in
    match order."""
    return db.conn.execute(
        "SELECT mine.outcome, p.name, mine.seat FROM matches m "
        "JOIN results mine ON mine.match_id = m.id AND mine.player_id = ? "
        "JOIN results other ON other.match_id = m.id AND other.player_id != ? "
        "JOIN players p ON p.id = other.player_id "
        "WHERE m.tournament_id = ? AND m.status = 'finished' ORDER BY m.id",
        (player_id, player_id, tournament_id),
    ).fetchall()
