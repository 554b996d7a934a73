"""Opening a database file safely: files of other programs are refused and left as they were,
every failure to open is a `StoreError` that names the file and the reason, and the files an
arena creates are readable by their owner only."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from arena.errors import ArenaError
from arena.store import StoreError, open_db
from arena.store.db import write
from arena.store.players import list_players
from arena.store.schema import APPLICATION_ID, MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
HINT = "give another path with --db or ARENA_DB to start a new one"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _fingerprint(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, stat.S_IMODE(st.st_mode)


def _foreign(path: Path, *, wal: bool = False) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    for name in ("c", "a", "b"):
        conn.execute(f"CREATE TABLE {name} (x)")
        conn.execute(f"INSERT INTO {name} VALUES (1)")
    conn.commit()
    conn.close()


def test_store_error_is_an_arena_error() -> None:
    assert issubclass(StoreError, ArenaError) and StoreError("x").exit_code == 1


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_a_sqlite_file_of_another_program_is_refused_and_left_untouched(
    tmp_path: Path, wal: bool
) -> None:
    path = tmp_path / "notes.db"
    _foreign(path, wal=wal)
    before = _fingerprint(path)
    with pytest.raises(StoreError) as caught:
        open_db(path)
    assert str(caught.value) == (
        f"{path} is not an arena database (it has tables a, b, c and no arena schema); {HINT}"
    )
    assert _fingerprint(path) == before
    assert not Path(f"{path}.lock").exists()  # refused before anything was created for it
    conn = sqlite3.connect(path)  # still the other program's file
    assert conn.execute("SELECT x FROM a").fetchall() == [(1,)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def test_a_file_with_a_schema_version_but_no_arena_tables_is_a_clear_error(tmp_path: Path) -> None:
    bare = tmp_path / "bare.db"
    conn = sqlite3.connect(bare)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(StoreError, match=r"not an arena database \(it has no tables but is "):
        open_db(bare)
    other = tmp_path / "other.db"
    _foreign(other)
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(StoreError, match="it has tables a, b, c and no arena schema"):
        open_db(other)


def test_a_file_of_another_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "geo.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1196444487")  # GeoPackage's
    conn.execute("CREATE TABLE players (id)")
    conn.close()
    with pytest.raises(StoreError, match="belongs to another program: application id 0x47504b47"):
        open_db(path)


def test_random_bytes_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.db"
    path.write_bytes(os.urandom(8192))
    before = _fingerprint(path)
    with pytest.raises(StoreError, match=f"is not an arena database .*; {HINT}"):
        open_db(path)
    assert _fingerprint(path) == before


def test_an_empty_file_and_a_new_path_are_new_databases(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch(mode=0o644)
    os.chmod(empty, 0o644)
    db = open_db(empty)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert _mode(empty) == 0o644  # an existing file keeps its mode
    db.close()
    db = open_db(tmp_path / "deeper" / "new.db")
    assert {p.name for p in list_players(db)} >= {"random", "minimax"}
    db.close()
    db = open_db(empty)  # opening again: an arena database now
    db.close()


def test_an_arena_file_from_before_the_application_id_is_recognised_and_upgraded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    shipped = SimpleNamespace(conn=conn)  # what a migration step needs of a Database
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    for version, (name, step) in enumerate(MIGRATIONS[:3]):  # no application id, rowid history
        step(shipped)
        conn.execute("INSERT INTO _migrations VALUES (?, 'then')", (name,))
        conn.execute(f"PRAGMA user_version = {version + 1}")
    conn.execute(
        "INSERT INTO players (id, name, kind, spec, created_at) VALUES (7, 'p', 'bot', '{}', 'x')"
    )
    conn.execute(
        "INSERT INTO matches (id, game, params, seed, status, num_moves, duration_s, finished_at) "
        "VALUES (1, 'g', '{}', 0, 'finished', 0, 0, 'x')"
    )
    conn.execute("INSERT INTO rating_history VALUES (1, 7, '*', 26.5, 7.5), (1, 7, 'g', 27.0, 7.0)")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    conn.close()
    db = open_db(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on after migrating
    assert db.conn.execute(
        "SELECT match_id, player_id, scope, mu, sigma FROM rating_history ORDER BY scope"
    ).fetchall() == [(1, 7, "*", 26.5, 7.5), (1, 7, "g", 27.0, 7.0)]


def test_files_are_created_for_their_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    old = os.umask(0o022)
    try:
        db = open_db(path)
        with write(db):  # something in the WAL, so that -wal and -shm exist
            db.conn.execute("INSERT INTO game_stats (game) VALUES ('g')")
        created = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")]
        assert {p.name: _mode(p) for p in created} == {p.name: 0o600 for p in created}
        db.close()
    finally:
        os.umask(old)


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"is a folder, not a database file; {HINT}"):
        open_db(tmp_path)


# --- read-only files and folders: run where permissions hold (not as root) ---------------------

_PERMISSIONS = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from arena.store import StoreError, open_db, write
    from arena.store.players import list_players
    from arena.leaderboard import leaderboard

    here = Path({tmp!r})
    probe = here / "probe"
    probe.write_text("x")
    os.chmod(probe, 0o444)
    try:
        open(probe, "a").close()
        print("PERMISSIONS-NOT-ENFORCED")
        sys.exit(0)
    except PermissionError:
        pass

    def refused(path, *words):
        try:
            open_db(path)
        except StoreError as exc:
            text = str(exc)
            assert str(path) in text and all(w in text for w in words), text
            return text
        raise AssertionError(f"{{path}} opened")

    # A read-only arena file: read commands work, a write is a clear StoreError.
    ro = here / "ro.db"
    db = open_db(ro)
    list_players(db)  # a database in use has its built-in players
    db.close()
    os.chmod(ro, 0o444)
    db = open_db(ro)
    assert {{p.name for p in list_players(db)}} >= {{"random"}}
    leaderboard(db)
    try:
        with write(db):
            db.conn.execute("INSERT INTO game_stats (game) VALUES ('g')")
        raise AssertionError("wrote to a read-only file")
    except StoreError as exc:
        assert f"cannot write to {{ro}}: it is read-only" in str(exc), exc
    db.close()

    # A read-only folder: a new file cannot be created there, an existing one cannot be opened
    # (SQLite needs its -wal and -shm next to it).
    folder = here / "locked"
    folder.mkdir()
    open_db(folder / "kept.db").close()
    os.chmod(folder, 0o555)
    try:
        refused(folder / "new.db", "cannot create", "Permission denied")
        refused(folder / "kept.db", "read-only", "kept.db-wal")
    finally:
        os.chmod(folder, 0o755)

    # A read-only arena file that needs upgrading.
    import sqlite3
    old = here / "old.db"
    open_db(old).close()
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    os.chmod(old, 0o444)
    refused(old, "needs upgrading", "read-only")

    # An unreadable file.
    secret = here / "secret.db"
    open_db(secret).close()
    os.chmod(secret, 0o000)
    refused(secret, "cannot open")
    print("OK")
    """
)


def test_read_only_files_and_folders_are_clear_errors_and_reading_still_works(
    tmp_path: Path,
) -> None:
    script = tmp_path / "check.py"
    script.write_text(_PERMISSIONS.format(root=str(ROOT), tmp=str(tmp_path)))
    command = [sys.executable, str(script)]
    if os.geteuid() == 0:
        # Root reads and writes through file modes: drop that power for the check, if we can.
        capsh = shutil.which("capsh")
        if capsh is None:
            pytest.skip("running as root without capsh: file modes are not enforced")
        drop = "cap_dac_override,cap_dac_read_search,cap_fowner"
        command = [capsh, f"--drop={drop}", "--", "-c", 'exec "$0" "$@"', *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if "PERMISSIONS-NOT-ENFORCED" in done.stdout:
        pytest.skip("file modes are not enforced here")
    assert done.returncode == 0 and done.stdout.strip() == "OK", done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_refuses_a_foreign_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    _foreign(path)
    before = _fingerprint(path)
    done = subprocess.run(
        [sys.executable, "-m", "arena.cli", "--db", str(path), "players", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    assert "is not an arena database" in done.stderr and HINT in done.stderr
    assert "Traceback" not in done.stderr
    assert _fingerprint(path) == before
