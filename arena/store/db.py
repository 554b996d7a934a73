"""Opening the arena's SQLite file by the house rules.

Every process opens its own connection: WAL, a busy timeout, foreign keys on, autocommit mode so
that every write transaction is ours and starts with `BEGIN IMMEDIATE` (a plain `BEGIN` that
reads and then writes fails at once with "database is locked" when another process writes).
Migrations run under a file lock; a file written by a newer schema is refused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from arena.errors import ArenaError

if TYPE_CHECKING:
    from sqlite_utils import Database

BUSY_TIMEOUT_MS = 60_000


class StoreError(ArenaError):
    """The database cannot be used (newer schema, not a database, unwritable)."""


def default_db_path() -> Path:
    """`ARENA_DB`, else `arena.db` under the user's data directory."""
    env = os.environ.get("ARENA_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("arena", appauthor=False)) / "arena.db"


def open_db(path: str | Path | None = None, *, migrate: bool = True) -> Database:
    """A connection to the arena file at `path` (default: `default_db_path()`), created and
    migrated to the current schema when needed."""
    from sqlite_utils import Database

    from arena.store import schema

    path = Path(path).expanduser() if path is not None else default_db_path()
    if path.exists() and path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: commits survive a crash
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not an arena database: {exc}") from None
    db = Database(conn)
    db.path = path  # type: ignore[attr-defined]
    known = len(schema.MIGRATIONS)
    if version > known:
        conn.close()
        raise StoreError(
            f"{path} was written by a newer arena (schema {version}; this version knows "
            f"{known}): upgrade arena to use it"
        )
    if version < known and migrate:
        with _file_lock(Path(f"{path}.lock")):
            schema.migrate(db)
    elif conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        with _file_lock(Path(f"{path}.lock")):
            conn.execute("PRAGMA journal_mode = WAL")
    return db


@contextlib.contextmanager
def write(db: Database) -> Iterator[Database]:
    """One short write transaction, `BEGIN IMMEDIATE` ... `COMMIT` (rolled back on error).
    Never hold it across a model call. sqlite-utils calls inside nest as savepoints."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (held while migrating)."""
    with open(path, "a+b") as fh:
        if sys.platform == "win32":  # pragma: no cover
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if sys.platform != "win32":
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
