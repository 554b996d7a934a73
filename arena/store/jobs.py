"""Training jobs in the store: the `jobs` and `job_metrics` tables, checkpoints as players, and
the reads the trainer makes of the match record.

Functions that write open their own short `BEGIN IMMEDIATE` transaction, and a read that decides
a write (a name taken, a job claimed by a live process, a checkpoint already registered) is made
inside it. Rows come back as plain dicts: `arena.jobs` turns them into `Job`s.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.store.db import write
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database

# The columns a job's owner may set (status, pid, step, error and the two timestamps).
JOB_STATE_FIELDS = frozenset({"status", "pid", "step", "error", "started_at", "finished_at"})


def _job_row(db: Database, job_id: int | None = None, name: str | None = None) -> dict | None:
    """The row by id, else by name (also inside a caller's transaction)."""
    if job_id is not None:
        rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    else:
        rows = list(db.query("SELECT * FROM jobs WHERE name = ?", [name]))
    return rows[0] if rows else None


def job_row(db: Database, *, job_id: int | None = None, name: str | None = None) -> dict | None:
    """The `jobs` row with this id (or, without one, this name) as a dict; None if there is
    none. The config column is the stored JSON text."""
    return _job_row(db, job_id, name)


def job_rows(db: Database) -> list[dict[str, Any]]:
    """Every `jobs` row, newest first."""
    return list(db.query("SELECT * FROM jobs ORDER BY id DESC"))


def insert_job(
    db: Database,
    *,
    kind: str,
    config: dict[str, Any],
    name: str | None,
    name_prefix: str,
    log_dir: str | Path,
    check: Callable[[Database], None] | None = None,
) -> int | None:
    """Store a new job in status `created` and return its id; None when `name` is taken.

    Without a `name` the job is called `<name_prefix>-<id>` (with a suffix if a user took that
    name). The stored config gets the final name; the log is `<log_dir>/<id>.log`. `check(db)`
    runs first inside the transaction (reads only; it raises to refuse the job)."""
    with write(db):
        if check is not None:
            check(db)
        if name is not None and _job_row(db, name=name) is not None:
            return None
        cur = db.conn.execute(
            "INSERT INTO jobs (name, kind, status, config, created_at) VALUES (?, ?, ?, ?, ?)",
            # a unique placeholder until the id is known (the default name includes it)
            [f"\x00new-{os.getpid()}-{time.time_ns()}", kind, "created", "{}", now()],
        )
        job_id = int(cur.lastrowid)
        final = name or f"{name_prefix}-{job_id}"
        if name is None and _job_row(db, name=final) is not None:
            final = f"{final}-{time.time_ns() % 100000}"  # taken by a user-named job
        db.conn.execute(
            "UPDATE jobs SET name = ?, config = ?, log_path = ? WHERE id = ?",
            [
                final,
                json.dumps({**config, "name": final}),
                str(Path(log_dir) / f"{job_id}.log"),
                job_id,
            ],
        )
    return job_id


def update_job(db: Database, job_id: int, fields: dict[str, Any]) -> None:
    """Set some of a job's status, pid, step, error, started_at and finished_at."""
    bad = set(fields) - JOB_STATE_FIELDS
    if bad:
        raise ValueError(f"a job's {sorted(bad)} cannot be set")
    if not fields:
        return
    assignments = ", ".join(f"{k} = ?" for k in fields)
    with write(db):
        db.conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*fields.values(), job_id])


def claim_job(
    db: Database,
    job_id: int,
    pid: int,
    *,
    alive: Callable[[int | None], bool],
    step: int | None = None,
) -> int | None:
    """Mark the job `running` by process `pid` (error and finish time cleared, `started_at`
    now, and `step` when given); returns None. When another live process runs it already
    (`alive(its pid)`), nothing is written and that pid is returned; when `pid` has claimed it
    already, nothing is written either."""
    with write(db):
        row = _job_row(db, job_id)
        if row is None:
            raise ValueError(f"no job with id {job_id}")
        if row["status"] == "running" and row["pid"] not in (None, pid) and alive(row["pid"]):
            return int(row["pid"])
        if row["status"] == "running" and row["pid"] == pid:
            return None  # claimed already (the trainer itself, before its starter got here)
        fields: dict[str, Any] = {
            "status": "running",
            "pid": pid,
            "error": None,
            "started_at": now(),
            "finished_at": None,
        }
        if step is not None:
            fields["step"] = step
        assignments = ", ".join(f"{k} = ?" for k in fields)
        db.conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*fields.values(), job_id])
    return None


def end_job(
    db: Database,
    job_id: int,
    status: str,
    *,
    pid: int | None,
    only_if: Iterable[str] = ("running",),
    error: str | None = None,
) -> bool:
    """Record how a run of the job ended (`status`, `error`, the finish time) if the job is
    still in one of the `only_if` statuses and still owned by `pid`; returns whether it was
    written. A run that was taken over (another pid) or already ended says nothing."""
    statuses = list(only_if)
    with write(db):
        row = _job_row(db, job_id)
        if row is None or row["status"] not in statuses or row["pid"] != pid:
            return False
        db.conn.execute(
            "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
            [status, error, now(), job_id],
        )
    return True


def rewind_job(db: Database, job_id: int, step: int) -> None:
    """Set the job's step to `step` and drop the metrics of later steps (a job resumed from
    an earlier checkpoint plays those steps again)."""
    with write(db):
        db.conn.execute("DELETE FROM job_metrics WHERE job_id = ? AND step > ?", [job_id, step])
        db.conn.execute("UPDATE jobs SET step = ? WHERE id = ?", [step, job_id])


def write_job_metrics(
    db: Database,
    job_id: int,
    step: int,
    metrics: dict[str, float],
    *,
    set_step: bool = False,
) -> list[str]:
    """Store a step's metrics (a value written again for the same step replaces the old one)
    and, with `set_step`, make it the job's step, in one transaction. A value that is not a
    finite number (NaN, infinity, None) is a missing value: skipped, never an error (SQLite
    stores NaN as NULL, which the NOT NULL column refuses). Returns the names skipped."""
    rows, skipped = [], []
    for name, value in metrics.items():
        finite = _finite(value)
        if finite is None:
            skipped.append(name)
        else:
            rows.append((job_id, step, name, finite))
    if not rows and not set_step:
        return skipped
    with write(db):
        db.conn.executemany(
            "INSERT OR REPLACE INTO job_metrics (job_id, step, name, value) VALUES (?, ?, ?, ?)",
            rows,
        )
        if set_step:
            db.conn.execute("UPDATE jobs SET step = ? WHERE id = ?", [step, job_id])
    return skipped


def _finite(value: Any) -> float | None:
    """`value` as a float if it is a finite number (a tensor's `float()` included), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def job_metric_rows(
    db: Database, job_id: int, *, since_step: int | None = None, step: int | None = None
) -> list[tuple[str, int, float]]:
    """A job's metrics as (name, step, value) by name and step; `since_step` keeps later steps
    only, `step` one step only."""
    sql = "SELECT name, step, value FROM job_metrics WHERE job_id = ?"
    params: list[Any] = [job_id]
    if since_step is not None:
        sql += " AND step > ?"
        params.append(since_step)
    if step is not None:
        sql += " AND step = ?"
        params.append(step)
    return [tuple(r) for r in db.conn.execute(sql + " ORDER BY name, step", params)]


def known_player_names(db: Database, names: Iterable[str]) -> dict[str, bool]:
    """Of `names`, those registered, each with whether it is retired (a pure read: built-in
    bots without a row yet are not listed)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    rows = db.conn.execute(
        f"SELECT name, retired_at FROM players WHERE name IN ({marks})", wanted
    ).fetchall()
    return {name: retired is not None for name, retired in rows}


def checkpoint_steps(db: Database, job_name: str) -> list[int]:
    """The steps of the job's checkpoints registered as players `<job_name>@<step>`."""
    prefix = f"{job_name}@"
    steps = []
    for (name,) in db.conn.execute(
        "SELECT name FROM players WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)
    ):
        tail = name[len(prefix) :]
        if tail.isdigit():
            steps.append(int(tail))
    return sorted(steps)


def register_checkpoint_player(
    db: Database, *, job_name: str, step: int, kind: str, spec: dict[str, Any]
) -> bool:
    """Register checkpoint `step` of a job as the player `<job_name>@<step>` with this spec,
    parented to the job's registered checkpoint of the highest earlier step. Returns False
    (and writes nothing) when that player exists already: registering is idempotent."""
    name = f"{job_name}@{step}"
    with write(db):
        if db.conn.execute("SELECT 1 FROM players WHERE name = ?", (name,)).fetchone():
            return False
        earlier = [s for s in checkpoint_steps(db, job_name) if s < step]
        parent = f"{job_name}@{earlier[-1]}" if earlier else None
        db.conn.execute(
            "INSERT INTO players (name, kind, spec, builtin, parent, created_at) "
            "VALUES (?, ?, ?, 0, ?, ?)",
            (name, kind, json.dumps(spec), parent, now()),
        )
    return True


def recorded_actions(db: Database, match_id: int) -> dict[int, str]:
    """The actions a stored match played, by move index (chance outcomes included)."""
    found = db.conn.execute(
        "SELECT idx, action FROM moves WHERE match_id = ? AND attempt = 0", (match_id,)
    )
    return dict(found.fetchall())
