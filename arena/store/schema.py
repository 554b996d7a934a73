"""The arena's tables, as append-only migrations.

Never edit a migration that has shipped: add a new one at the end. `PRAGMA user_version` holds
the number applied; `open_db` refuses a file whose number is higher than this list's length.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

_INITIAL = """
CREATE TABLE players (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,              -- bot, human, llamacpp, transformers, openai
    spec TEXT NOT NULL,              -- the player spec as JSON (never a secret)
    builtin INTEGER NOT NULL DEFAULT 0,
    parent TEXT,                     -- the player a checkpoint started from
    created_at TEXT NOT NULL,
    retired_at TEXT                  -- set instead of deleting a player with history
);
CREATE TABLE tournaments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    config TEXT NOT NULL,            -- the full tournament config as JSON
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,            -- running, interrupted, finished
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    pid INTEGER                      -- the process running it, while it runs
);
CREATE TABLE schedule (
    id INTEGER PRIMARY KEY,
    tournament_id INTEGER NOT NULL REFERENCES tournaments(id),
    idx INTEGER NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    game TEXT NOT NULL,
    params TEXT NOT NULL,
    seats TEXT NOT NULL,             -- player names in seat order, JSON
    seed INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending, done, failed
    tries INTEGER NOT NULL DEFAULT 0,       -- matches that ended in error
    UNIQUE (tournament_id, idx)
);
CREATE INDEX schedule_state ON schedule (tournament_id, state);
CREATE TABLE matches (
    id INTEGER PRIMARY KEY,          -- in finish order: ratings replay in this order
    tournament_id INTEGER REFERENCES tournaments(id),
    schedule_id INTEGER REFERENCES schedule(id),
    game TEXT NOT NULL,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,            -- finished, error, aborted
    error TEXT,
    forfeit_seat INTEGER,
    rated INTEGER NOT NULL DEFAULT 0,
    num_moves INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE INDEX matches_game ON matches (game, id);
CREATE INDEX matches_tournament ON matches (tournament_id, id);
CREATE UNIQUE INDEX matches_schedule_done ON matches (schedule_id)
    WHERE schedule_id IS NOT NULL AND status = 'finished';
CREATE TABLE results (
    match_id INTEGER NOT NULL REFERENCES matches(id),
    seat INTEGER NOT NULL,
    player_id INTEGER NOT NULL REFERENCES players(id),
    team INTEGER NOT NULL,
    return REAL,
    rank INTEGER,                    -- 0 = best team; equal ranks tie
    outcome TEXT,                    -- win, draw, loss (null when not finished)
    decisions INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    invalid_moves INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (match_id, seat)
);
CREATE INDEX results_player ON results (player_id, match_id);
CREATE TABLE moves (
    match_id INTEGER NOT NULL REFERENCES matches(id),
    idx INTEGER NOT NULL,            -- position in the game's history
    attempt INTEGER NOT NULL,        -- 0, 1, ... (a chance move has one row, attempt 0)
    seat INTEGER NOT NULL,           -- -1 for chance
    player_id INTEGER REFERENCES players(id),
    action TEXT NOT NULL,            -- the move played (same on every attempt row)
    forced INTEGER NOT NULL DEFAULT 0,
    prompt TEXT,                     -- the messages sent, JSON
    reply TEXT,                      -- the raw reply, verbatim
    parsed TEXT,                     -- the legal action it parsed to
    legal INTEGER,
    error TEXT,
    latency_s REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    finish_reason TEXT,
    timed_out INTEGER NOT NULL DEFAULT 0,
    policy TEXT,                     -- action probabilities, JSON
    PRIMARY KEY (match_id, idx, attempt)
);
CREATE TABLE ratings (
    player_id INTEGER NOT NULL REFERENCES players(id),
    scope TEXT NOT NULL,             -- a game id, or '*' for the overall rating
    mu REAL NOT NULL,
    sigma REAL NOT NULL,
    games INTEGER NOT NULL DEFAULT 0,
    wins INTEGER NOT NULL DEFAULT 0,
    draws INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0,
    decisions INTEGER NOT NULL DEFAULT 0,     -- totals over the rated matches, for the
    attempts INTEGER NOT NULL DEFAULT 0,      -- leaderboard without a scan of the results
    invalid_moves INTEGER NOT NULL DEFAULT 0,
    latency_s REAL NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    last_match_id INTEGER,
    PRIMARY KEY (player_id, scope)
);
CREATE TABLE rating_history (
    match_id INTEGER NOT NULL REFERENCES matches(id),
    player_id INTEGER NOT NULL REFERENCES players(id),
    scope TEXT NOT NULL,
    mu REAL NOT NULL,
    sigma REAL NOT NULL,
    PRIMARY KEY (match_id, player_id, scope)
);
CREATE INDEX rating_history_player ON rating_history (player_id, scope, match_id);
CREATE TABLE game_stats (
    game TEXT PRIMARY KEY,
    games INTEGER NOT NULL DEFAULT 0,   -- rated matches so far
    draws INTEGER NOT NULL DEFAULT 0,
    draw_probability REAL               -- configured; null = estimated from the results
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'selfplay',
    status TEXT NOT NULL,            -- created, running, stopped, failed, finished
    config TEXT NOT NULL,
    pid INTEGER,
    step INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    log_path TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE job_metrics (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (job_id, step, name)
);
"""


def _initial(db: Database) -> None:
    for statement in _INITIAL.split(";\n"):
        if statement.strip():
            db.conn.execute(statement)


def _move_reasoning(db: Database) -> None:
    # A model's reasoning (think blocks, API reasoning fields, the text written before a
    # constrained answer) is kept apart from the reply that carries its answer.
    db.conn.execute("ALTER TABLE moves ADD COLUMN reasoning TEXT")


_EVALUATIONS = """
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    player_id INTEGER NOT NULL REFERENCES players(id),
    game TEXT NOT NULL,              -- kuhn_poker, leduc_poker, ...
    metric TEXT NOT NULL,            -- exploitability, ...
    value REAL NOT NULL,
    ci_low REAL,                     -- a sampled estimate's confidence interval (null if exact)
    ci_high REAL,
    method TEXT NOT NULL,            -- exact, sampled
    details TEXT NOT NULL DEFAULT '{}',  -- JSON: samples, seconds, per-seat values, ...
    created_at TEXT NOT NULL
);
CREATE INDEX evaluations_player ON evaluations (player_id, game, metric, id)
"""


def _evaluations(db: Database) -> None:
    for statement in _EVALUATIONS.split(";\n"):
        if statement.strip():
            db.conn.execute(statement)


# `PRAGMA application_id` of an arena file ("Aren"), set by migration 0004: it says what the file
# is to `file(1)` and to `open_db`, which also knows older arena files by their tables.
APPLICATION_ID = 0x4172656E


def _application_id(db: Database) -> None:
    db.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


_HISTORY_BY_PLAYER = """
CREATE TABLE rating_history_new (
    match_id INTEGER NOT NULL REFERENCES matches(id),
    player_id INTEGER NOT NULL REFERENCES players(id),
    scope TEXT NOT NULL,
    mu REAL NOT NULL,
    sigma REAL NOT NULL,
    PRIMARY KEY (player_id, scope, match_id)
) WITHOUT ROWID;
INSERT INTO rating_history_new (match_id, player_id, scope, mu, sigma)
    SELECT match_id, player_id, scope, mu, sigma FROM rating_history
    ORDER BY player_id, scope, match_id;
DROP TABLE rating_history;
ALTER TABLE rating_history_new RENAME TO rating_history
"""


def _history_by_player(db: Database) -> None:
    # One b-tree, clustered the way the history is read (a player's ratings in one scope, in
    # match order), instead of a rowid table, its primary key index and rating_history_player:
    # a recompute writes a row per seat and scope of every rated match (4 million for a
    # million matches), a third of the work in key order.
    for statement in _HISTORY_BY_PLAYER.split(";\n"):
        if statement.strip():
            db.conn.execute(statement)


_MOVE_QUALITY = """
CREATE TABLE move_quality (
    match_id INTEGER NOT NULL REFERENCES matches(id),
    idx INTEGER NOT NULL,            -- the decision's moves row: its index and played attempt
    attempt INTEGER NOT NULL,
    player_id INTEGER REFERENCES players(id),
    game TEXT NOT NULL,
    loss REAL,                       -- >= 0, in the game's unit; null for a forfeit
    best TEXT,                       -- a best action there
    method TEXT NOT NULL,            -- minimax, minimax-depth5, cfr-ev, stockfish-depth8, ...
    PRIMARY KEY (match_id, idx, attempt)
);
CREATE INDEX move_quality_player ON move_quality (player_id, game)
"""


def _move_quality(db: Database) -> None:
    # Each decision's loss against the best move, where a solver or engine gives ground truth;
    # derived from the moves on demand (arena.move_quality), never written with a match.
    for statement in _MOVE_QUALITY.split(";\n"):
        if statement.strip():
            db.conn.execute(statement)


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial", _initial),
    ("0002_move_reasoning", _move_reasoning),
    ("0003_evaluations", _evaluations),
    ("0004_application_id", _application_id),
    ("0005_rating_history_by_player", _history_by_player),
    ("0006_move_quality", _move_quality),
]

# The tables every arena file has had since its first migration: how `open_db` knows an arena
# file written before `APPLICATION_ID` existed.
CORE_TABLES = frozenset(re.findall(r"^CREATE TABLE (\w+)", _INITIAL, flags=re.MULTILINE))


def now() -> str:
    """UTC timestamp as stored (ISO 8601, sortable)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def migrate(db: Database) -> int:
    """Apply the pending migrations, each in its own transaction; returns how many ran. The
    caller holds the migration file lock."""
    from arena.store.db import write

    conn = db.conn
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    # Foreign keys off while tables are rebuilt, as in SQLite's own procedure for schema
    # changes (with them on, dropping the old table deletes its rows one by one); a rebuild
    # copies rows whose keys were checked when they were written. The pragma is ignored inside
    # a transaction: it is set here, around them.
    keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    applied = 0
    try:
        while True:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(MIGRATIONS):
                return applied
            name, step = MIGRATIONS[version]
            with write(db):
                if version == 0:
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS _migrations "
                        "(name TEXT PRIMARY KEY, applied_at TEXT)"
                    )
                step(db)
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now()))
                conn.execute(f"PRAGMA user_version = {version + 1}")
            applied += 1
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(keys)}")
