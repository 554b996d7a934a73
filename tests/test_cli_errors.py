"""The CLI's one error handler: a clear one-line message, sanitised, and a documented exit code;
no traceback unless `--debug`. Run as a user runs it: `python -m arena.cli` in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def arena(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arena.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_user_error_is_one_sanitised_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[31m.db"
    bad.write_bytes(b"not a database at all, but long enough to be read" * 40)
    out = arena("--db", str(bad), "players", "list")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: ")
    assert "Traceback" not in out.stderr
    assert "\x1b" not in out.stderr and "\\x1b[31m" in out.stderr
    assert out.stdout == ""


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 200)
    out = arena("--debug", "--db", str(bad), "players", "list")
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "Error: " in out.stderr
    env_out = arena("--db", str(bad), "players", "list", env={"ARENA_DEBUG": "1"})
    assert "Traceback" in env_out.stderr


def test_a_bad_command_line_exits_2() -> None:
    out = arena("no-such-command")
    assert out.returncode == 2
    assert "No such command" in out.stderr and "Traceback" not in out.stderr
    out = arena("match", "tictactoe", "random", "random", "--seed", "not-a-number")
    assert out.returncode == 2


def test_a_missing_spec_file_or_unknown_player_is_a_user_error() -> None:
    out = arena("match", "tictactoe", "no-such-player-anywhere", "random", "--no-store")
    assert out.returncode in (1, 2)
    assert "no-such-player-anywhere" in out.stderr and "Traceback" not in out.stderr


def test_a_locked_or_unreadable_database_is_a_user_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file: permissions cannot make it unreadable")
    path = tmp_path / "arena.db"
    assert arena("--db", str(path), "players", "list").returncode == 0
    path.chmod(0)
    try:
        out = arena("--db", str(path), "players", "list")
    finally:
        path.chmod(0o600)
    assert out.returncode == 1 and "Traceback" not in out.stderr


def test_interrupt_exits_130() -> None:
    """Ctrl-C in a command that waits: SIGINT to the process, exit 130, no traceback."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "match", "tictactoe", "human", "random", "--no-store"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_a_database_file_that_is_sqlite_but_broken_gives_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "arena.db"
    assert arena("--db", str(path), "players", "list").returncode == 0
    # Corrupt a page in the middle of the file: SQLite notices when it reads it.
    data = bytearray(path.read_bytes())
    for i in range(100, len(data)):
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    out = arena("--db", str(path), "leaderboard")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.startswith("Error: ")
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT * FROM players").fetchall()
