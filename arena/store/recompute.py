"""Rebuilding ratings from the match history, exactly and fast: every rated match replayed in
finish order through the same `RatingBook` arithmetic as the incremental updates, inside one
write transaction (so a tournament rating matches meanwhile loses nothing), a million matches
in under ten seconds."""

from __future__ import annotations

import contextlib
import marshal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from arena.store.db import StoreError, file_uri, write
from arena.store.ratings import OVERALL, History, RatingBook, _parents, _save

if TYPE_CHECKING:
    from sqlite_utils import Database


# Every rated match's seats in finish order, as `RatingBook.replay` takes them: one query, no
# object per match.
_RATED_SEATS_SQL = (
    "SELECT r.match_id, m.game, r.player_id, r.team, r.return, r.decisions, r.attempts, "
    "r.invalid_moves, r.latency_s, r.tokens, r.cost_usd "
    "FROM matches m JOIN results r ON r.match_id = m.id WHERE m.rated = 1 ORDER BY m.id, r.seat"
)
_HISTORY_ROWS = 300  # ratings per INSERT (902 parameters: under every SQLite's limit, 999)


# From this many matches on, a helper process reads the seat rows: sqlite3 makes a Python object
# per value at some 0.13 us each (3 s for a million matches), which the helper does while this
# process replays, handing them over in marshal chunks that cost a quarter of that to load.
HELPER_MATCHES = 100_000
_READER = """
import marshal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], uri=True, isolation_level=None)
conn.execute("PRAGMA busy_timeout = 60000")
cursor = conn.execute(sys.argv[2])
out = sys.stdout.buffer
while True:
    rows = cursor.fetchmany(16384)
    chunk = marshal.dumps(rows)
    out.write(len(chunk).to_bytes(8, "little") + chunk)
    if not rows:
        break
out.flush()
"""


def _rated_matches(db: Database, helper: bool | None = None) -> Iterator[tuple]:
    """Seat rows of every rated match, in the order `recompute_ratings` replays them: read
    here, or (`helper`; by default from `HELPER_MATCHES` matches on) by a helper process.

    Call it inside the write transaction: the helper's read then starts while this process
    holds the write lock, so it sees exactly what this connection sees of the matches."""
    path = getattr(db, "path", None)
    if helper is None:
        top = db.conn.execute("SELECT MAX(id) FROM matches").fetchone()[0] or 0
        helper = path is not None and top >= HELPER_MATCHES
    if helper and path is not None and not getattr(sys, "frozen", False):
        try:
            reader = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _READER, file_uri(Path(path), "ro")]
                + [_RATED_SEATS_SQL],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError:
            pass  # no interpreter to start (an embedded or frozen Python): read here
        else:
            return _handed_over(reader, path)
    return iter(db.conn.execute(_RATED_SEATS_SQL))


def _handed_over(reader: subprocess.Popen, path: object) -> Iterator[tuple]:
    try:
        pipe = reader.stdout
        while True:
            try:
                size = int.from_bytes(pipe.read(8), "little")  # type: ignore[union-attr]
                rows = marshal.loads(pipe.read(size))  # type: ignore[union-attr]
            except (EOFError, ValueError, TypeError):
                reader.kill()
                err = reader.communicate()[1].decode(errors="replace").strip()
                why = err.splitlines()[-1] if err else f"exit status {reader.returncode}"
                raise StoreError(f"reading the matches of {path} failed: {why}") from None
            if not rows:
                break
            yield from rows
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.communicate()


def _history_rows(n: int) -> str:
    marks = ", ".join(f"(?1, ?2, ?{3 * i + 3}, ?{3 * i + 4}, ?{3 * i + 5})" for i in range(n))
    return f"INSERT INTO rating_history (player_id, scope, match_id, mu, sigma) VALUES {marks}"


def _history_writer(db: Database) -> History:
    """A function that inserts the runs of rating history `RatingBook.replay` hands over,
    in their order (the table's key order), many ratings per statement."""
    conn = db.conn
    full = _history_rows(_HISTORY_ROWS)
    step = 3 * _HISTORY_ROWS

    def insert(runs: list[tuple[int, str, list]]) -> None:
        for pid, scope, values in runs:
            whole = len(values) - len(values) % step
            for i in range(0, whole, step):
                conn.execute(full, [pid, scope, *values[i : i + step]])
            if whole < len(values):
                conn.execute(
                    _history_rows((len(values) - whole) // 3), [pid, scope, *values[whole:]]
                )

    return insert


@contextlib.contextmanager
def _bulk_rewrite(db: Database) -> Iterator[None]:
    """Foreign-key checks off while one transaction rewrites the derived tables (set outside
    the transaction: SQLite ignores the pragma inside one). Every row written refers to a
    match and players read in that transaction, so nothing is left unchecked; with the checks
    on, `DELETE FROM rating_history` goes row by row and every insert looks up its match."""
    conn = db.conn
    keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(keys)}")


def recompute_ratings(db: Database, game: str | None = None) -> int:
    """Rebuild ratings from the match history in finish order; returns the matches replayed.

    With `game`, that game's ratings are rebuilt; the overall ratings always need every game,
    so they are rebuilt from all rated matches either way.

    One write transaction reads the history and writes what it derives, so a match recorded
    by another process meanwhile is either replayed here or rated after this commits, never
    lost; a million matches take a few seconds, during which other writers wait."""
    conn = db.conn
    with _bulk_rewrite(db), write(db):
        book = RatingBook(parents=_parents(db))
        for row in conn.execute(
            "SELECT game, draw_probability FROM game_stats WHERE draw_probability IS NOT NULL"
        ):
            book.configured[row[0]] = row[1]
        scopes = None if game is None else (game, OVERALL)
        if scopes is None:
            conn.execute("DELETE FROM ratings")
            conn.execute("DELETE FROM rating_history")
        else:
            for scope in scopes:
                conn.execute("DELETE FROM ratings WHERE scope = ?", (scope,))
                conn.execute("DELETE FROM rating_history WHERE scope = ?", (scope,))
        with contextlib.closing(_rated_matches(db)) as rows:
            replayed = book.replay(rows, _history_writer(db), history_game=game)
        final = [
            (pid, scope, s)
            for (pid, scope), s in book.standings.items()
            if scopes is None or scope in scopes
        ]
        _save(db, final, history=False)
        for match_game, (games, draws) in book.game_counts.items():
            if game is None or match_game == game:
                conn.execute(
                    "INSERT INTO game_stats (game, games, draws) VALUES (?, ?, ?) ON CONFLICT "
                    "(game) DO UPDATE SET games = excluded.games, draws = excluded.draws",
                    (match_game, games, draws),
                )
    return replayed if game is None else book.game_counts.get(game, (0, 0))[0]
