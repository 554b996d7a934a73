"""Opening the arena's SQLite file by the house rules.

Every process opens its own connection: WAL, a busy timeout, foreign keys on, autocommit mode so
that every write transaction is ours and starts with `BEGIN IMMEDIATE` (a plain `BEGIN` that
reads and then writes fails at once with "database is locked" when another process writes).
Migrations run under a file lock; a file written by a newer schema is refused, and so is any
file that is not an arena database: it is looked at read-only and never changed.

The database and its companions (`-wal`, `-shm`, `.lock`) are created readable by their owner
only (0600) whatever the umask: they hold every prompt and reply. Existing files keep their mode.
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
PRIVATE = 0o600  # the mode of the files an arena creates
NEW_DATABASE_HINT = "give another path with --db or ARENA_DB to start a new one"


class StoreError(ArenaError):
    """The database cannot be used (newer schema, not an arena database, unreadable,
    read-only); the message names the file and the reason."""


def default_db_path() -> Path:
    """`ARENA_DB`, else `arena.db` under the user's data directory."""
    env = os.environ.get("ARENA_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("arena", appauthor=False)) / "arena.db"


def open_db(path: str | Path | None = None, *, migrate: bool = True) -> Database:
    """A connection to the arena file at `path` (default: `default_db_path()`), created and
    migrated to the current schema when needed.

    Raises `StoreError` for anything that keeps the file from being used: a folder, a file of
    another program (left untouched), a damaged or unreadable file, a read-only file that
    needs migrating, a folder where the file cannot be created."""
    from sqlite_utils import Database

    path = Path(path).expanduser() if path is not None else default_db_path()
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file; {NEW_DATABASE_HINT}")
    try:
        _create_private(path)
        version = _arena_version(path)
        conn = sqlite3.connect(
            file_uri(path, "rw"), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise _open_error(path, exc) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: commits survive a crash
        db = Database(conn)
        db.path = path  # type: ignore[attr-defined]
        _upgrade(db, path, version, migrate)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise _open_error(path, exc) from None
        raise
    return db


def _upgrade(db: Database, path: Path, version: int, migrate: bool) -> None:
    """Migrate to the current schema (or switch to WAL) under the migration lock."""
    from arena.store import schema

    conn = db.conn
    if version < len(schema.MIGRATIONS) and migrate:
        with _file_lock(Path(f"{path}.lock")):
            try:
                schema.migrate(db)
            except (sqlite3.Error, StoreError) as exc:
                cause = exc.__cause__ or exc.__context__ or exc
                why = _why(path, cause) if isinstance(cause, sqlite3.Error) else str(exc)
                raise StoreError(
                    f"{path} needs upgrading to this arena's schema ({version} to "
                    f"{len(schema.MIGRATIONS)}) and cannot be: {why}"
                ) from None
    elif conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        with _file_lock(Path(f"{path}.lock")):
            conn.execute("PRAGMA journal_mode = WAL")


def _arena_version(path: Path) -> int:
    """The schema version of the arena file at `path` (0: empty, a new database), read through
    a read-only connection that changes nothing; `StoreError` if it is not an arena file."""
    from arena.store import schema

    conn = sqlite3.connect(
        file_uri(path, "ro"), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = sorted(
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        )
    finally:
        conn.close()
    known = len(schema.MIGRATIONS)
    has_core = schema.CORE_TABLES <= set(tables)
    if app == schema.APPLICATION_ID or (app == 0 and version > 0 and has_core):
        if version > known:
            raise StoreError(
                f"{path} was written by a newer arena (schema {version}; this version knows "
                f"{known}): upgrade arena to use it"
            )
        if not has_core:
            missing = ", ".join(sorted(schema.CORE_TABLES - set(tables)))
            raise StoreError(f"{path} is a damaged arena database (no table {missing})")
        return version
    if app == 0 and version == 0 and not tables:
        return 0  # empty: a new database
    if app != 0:
        why = f"it belongs to another program: application id {app:#010x}"
    elif tables:
        why = f"it has {_tables(tables)} and no arena schema"
    else:
        why = f"it has no tables but is marked schema version {version}"
    raise StoreError(f"{path} is not an arena database ({why}); {NEW_DATABASE_HINT}")


def _tables(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return f"{'table' if len(names) == 1 else 'tables'} {shown}{more}"


def file_uri(path: Path, mode: str) -> str:
    """`path` as an SQLite URI opened in `mode` (`ro`, `rw`): SQLite never creates the file
    (`_create_private` does), and `ro` looks at a file without changing it."""
    return f"{path.absolute().as_uri()}?mode={mode}"


def _create_private(path: Path) -> None:
    """Create `path` (and its folder) if missing, readable by its owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder {path.parent} for {path.name} ({exc.strerror}); "
            f"{NEW_DATABASE_HINT}"
        ) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path} ({exc.strerror}); {NEW_DATABASE_HINT}") from None
    try:
        _chmod_private(fd)
    finally:
        os.close(fd)


def _chmod_private(fd: int) -> None:
    # os.open's mode passes through the umask; a umask that takes the owner's bits away
    # would leave a file its owner cannot use.
    if hasattr(os, "fchmod"):
        os.fchmod(fd, PRIVATE)


def _is_readonly(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    return name.startswith("SQLITE_READONLY") if name else "readonly" in str(exc)


def _why(path: Path, exc: sqlite3.Error) -> str:
    """SQLite's error about `path`, in words."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_READONLY_DIRECTORY":
        return (
            f"its folder {path.parent} is read-only, and SQLite needs to create "
            f"{path.name}-wal and {path.name}-shm there"
        )
    if _is_readonly(exc):
        return f"it is read-only ({exc})"
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return f"{exc}: check that you may read and write it and its folder"
    if name.startswith("SQLITE_CORRUPT"):
        return f"it is damaged ({exc})"
    return str(exc)


def _open_error(path: Path, exc: sqlite3.Error) -> StoreError:
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB" or "not a database" in str(exc):
        return StoreError(f"{path} is not an arena database ({exc}); {NEW_DATABASE_HINT}")
    return StoreError(f"cannot open {path}: {_why(path, exc)}")


@contextlib.contextmanager
def write(db: Database) -> Iterator[Database]:
    """One short write transaction, `BEGIN IMMEDIATE` ... `COMMIT` (rolled back on error).
    Never hold it across a model call. sqlite-utils calls inside nest as savepoints.

    A database opened read-only (its file or folder not writable) raises `StoreError` here,
    with the path and the reason, instead of SQLite's bare error."""
    conn = db.conn
    try:
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
    except sqlite3.OperationalError as exc:
        if not _is_readonly(exc):
            raise
        path = Path(getattr(db, "path", "the database"))
        raise StoreError(f"cannot write to {path}: {_why(path, exc)}") from exc


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (held while migrating), created 0600."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        fd = None
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {path} ({exc.strerror})") from None
    if fd is not None:
        _chmod_private(fd)
        os.close(fd)
    try:
        fh = open(path, "r+b")
    except OSError as exc:
        raise StoreError(f"cannot open the lock file {path} ({exc.strerror})") from None
    with fh:
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
