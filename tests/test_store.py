"""The SQLite store: schema and migrations, the house rules, the players registry, match
records with their rating update in one transaction, and exact recomputation."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import games
from arena.leaderboard import leaderboard
from arena.match import play_match
from arena.players.bot import BotPlayer
from arena.specs import parse_spec
from arena.store import StoreError, open_db
from arena.store.players import (
    PlayerError,
    add_player,
    get_player,
    import_players,
    list_players,
    player_ids,
    remove_player,
)
from arena.store.queries import export_moves, list_matches, match_transcript
from arena.store.ratings import set_draw_probability
from arena.store.recompute import recompute_ratings
from arena.store.records import record_match
from arena.store.schema import MIGRATIONS


def _play(game_id: str, names: list[str], seed: int, **params):
    game = games.make(game_id, **params)
    return asyncio.run(play_match(game, [BotPlayer(n) for n in names], seed))


def _ratings(db) -> list[tuple]:
    return sorted(
        db.conn.execute(
            "SELECT player_id, scope, mu, sigma, games, wins, draws, losses, attempts FROM ratings"
        ).fetchall()
    )


def test_new_database_has_the_schema_wal_and_version(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    tables = set(db.table_names())
    assert {
        "players",
        "tournaments",
        "schedule",
        "matches",
        "results",
        "moves",
        "ratings",
        "rating_history",
        "jobs",
        "game_stats",
    } <= tables
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    names = [r[0] for r in db.conn.execute("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]
    db.close()
    # opening again runs nothing
    db = open_db(tmp_path / "a.db")
    assert [r[0] for r in db.conn.execute("SELECT name FROM _migrations")] == names


def test_database_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_db(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer arena"):
        open_db(path)


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not an arena database"):
        open_db(path)
    assert path.read_bytes().startswith(b"this is not sqlite")  # untouched


def test_registry_add_list_show_remove_and_retire(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    names = [p.name for p in list_players(db)]
    assert {"random", "minimax", "cfr"} <= set(names)
    spec = parse_spec({"name": "deep", "kind": "bot", "bot": "minimax"})
    row = add_player(db, spec)
    assert row.kind == "bot" and row.spec["bot"] == "minimax"
    with pytest.raises(PlayerError, match="already exists"):
        add_player(db, spec)
    with pytest.raises(PlayerError, match="built-in"):
        add_player(db, parse_spec({"name": "random", "kind": "bot"}))
    assert remove_player(db, "deep") == "removed"
    with pytest.raises(PlayerError, match="unknown player"):
        get_player(db, "deep")
    # a player with a match is retired, and its history stays
    add_player(db, spec)
    result = _play("tictactoe", ["deep", "random"], 1)
    ids = player_ids(db, ["deep", "random"])
    match_id = record_match(db, result, ids)
    assert remove_player(db, "deep") == "retired"
    assert "deep" not in [p.name for p in list_players(db)]
    assert "deep" in [p.name for p in list_players(db, include_retired=True)]
    assert match_transcript(db, match_id)["seats"][0]["player"] == "deep"
    with pytest.raises(PlayerError, match="retired"):
        add_player(db, spec)


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    add_player(db, parse_spec({"name": "b", "kind": "bot", "bot": "random"}))
    specs = [
        parse_spec({"name": "a", "kind": "bot", "bot": "random"}),
        parse_spec({"name": "b", "kind": "bot", "bot": "random"}),
    ]
    with pytest.raises(PlayerError, match="'b' already exists"):
        import_players(db, specs)
    assert [p.name for p in list_players(db) if not p.builtin] == ["b"]


def test_record_stores_every_move_and_rates_in_one_transaction(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    result = _play("tictactoe", ["minimax", "random"], 3)
    ids = player_ids(db, ["minimax", "random"])
    match_id = record_match(db, result, ids)
    m = match_transcript(db, match_id)
    assert m["status"] == "finished" and m["rated"] == 1
    assert [mv["action"] for mv in m["moves"]] == result.history
    assert [s["return"] for s in m["seats"]] == result.returns
    rows = _ratings(db)
    assert len(rows) == 4  # two players x (tictactoe, overall)
    assert all(r[4] == 1 for r in rows)
    hist = db.conn.execute("SELECT COUNT(*) FROM rating_history WHERE match_id = ?", (match_id,))
    assert hist.fetchone()[0] == 4
    # a failure inside the transaction leaves nothing behind: an unknown player id
    before = db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError):
        record_match(db, result, [ids[0], 999_999])
    assert db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == before
    assert (
        db.conn.execute("SELECT COUNT(*) FROM moves WHERE match_id > ?", (match_id,)).fetchone()[0]
        == 0
    )
    assert _ratings(db) == rows


def test_error_and_self_play_matches_are_stored_but_not_rated(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    result = _play("tictactoe", ["random", "random"], 1)
    ids = player_ids(db, ["random", "random"])
    record_match(db, result, ids)
    result.status, result.error, result.returns = "error", "boom", None
    other = player_ids(db, ["random", "minimax"])
    record_match(db, result, other)
    assert _ratings(db) == []
    assert [m["rated"] for m in list_matches(db)] == [False, False]
    assert list_matches(db, status="error")[0]["error"] == "boom"


def test_recompute_gives_exactly_the_incremental_ratings(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    set_draw_probability(db, "tictactoe", 0.3)  # configured; kuhn_poker's is estimated
    bots = {"tictactoe": ["minimax", "random"], "kuhn_poker": ["cfr", "random"]}
    seed = 0
    for game_id, names in bots.items():
        for k in range(6):
            seed += 1
            seats = names if k % 2 == 0 else names[::-1]
            record_match(db, _play(game_id, seats, seed), player_ids(db, seats))
    for seed in range(4):  # three-player liars dice
        names = ["random", "bluff-1", "bluff-2"]
        for n in names[1:]:
            if db.conn.execute("SELECT 1 FROM players WHERE name = ?", (n,)).fetchone() is None:
                add_player(db, parse_spec({"name": n, "kind": "bot", "bot": "random"}))
        record_match(
            db,
            asyncio.run(
                play_match(
                    games.make("liars_dice", num_players=3),
                    [BotPlayer(n, "random") for n in names],
                    seed,
                )
            ),
            player_ids(db, names),
        )
    # a checkpoint-like child of minimax starts from minimax's rating at its first match
    add_player(
        db, parse_spec({"name": "minimax@2", "kind": "bot", "bot": "minimax"}), parent="minimax"
    )
    for seed in range(2):
        seats = ["minimax@2", "random"][:: 1 if seed % 2 == 0 else -1]
        bots = [BotPlayer(n, n.split("@")[0]) for n in seats]
        result = asyncio.run(play_match(games.make("tictactoe"), bots, 100 + seed))
        record_match(db, result, player_ids(db, seats))
    incremental = _ratings(db)
    history = db.conn.execute(
        "SELECT * FROM rating_history ORDER BY match_id, player_id, scope"
    ).fetchall()
    assert recompute_ratings(db) == 18
    assert _ratings(db) == incremental  # exact floats
    assert (
        db.conn.execute(
            "SELECT * FROM rating_history ORDER BY match_id, player_id, scope"
        ).fetchall()
        == history
    )
    assert recompute_ratings(db, "kuhn_poker") == 6
    assert _ratings(db) == incremental


def test_export_has_one_record_per_attempt_with_the_final_return(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    result = _play("kuhn_poker", ["cfr", "random"], 5)
    record_match(db, result, player_ids(db, ["cfr", "random"]))
    rows = list(export_moves(db))
    decisions = [m for m in result.moves if m.seat >= 0]
    assert len(rows) == len(decisions)
    for row, move in zip(rows, decisions):
        assert row["action"] == move.action and row["legal"] is True
        assert row["final_return"] == result.returns[move.seat]
        assert row["player"] == result.players[move.seat]


def test_two_writers_and_a_reader_never_see_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    open_db(path).close()
    writer = textwrap.dedent(
        f"""
        import asyncio, sys
        import games
        from arena.match import play_match
        from arena.players.bot import BotPlayer
        from arena.store import open_db
        from arena.store.players import player_ids
        from arena.store.records import record_match
        db = open_db({str(path)!r})
        ids = player_ids(db, ["minimax", "random"])
        for seed in range(150):
            game = games.make("tictactoe")
            r = asyncio.run(play_match(game, [BotPlayer("minimax"), BotPlayer("random")], seed))
            record_match(db, r, ids)
        print("ok")
        """
    )
    reader = textwrap.dedent(
        f"""
        from arena.store import open_db
        from arena.leaderboard import leaderboard
        db = open_db({str(path)!r})
        for _ in range(200):
            leaderboard(db, "tictactoe")
            db.conn.execute("SELECT COUNT(*) FROM moves").fetchone()
        print("ok")
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for code in (writer, writer, reader)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "locked" not in err
    db = open_db(path)
    assert db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == 300
    board = {p["name"]: p for p in leaderboard(db, "tictactoe")["players"]}
    assert board["minimax"]["games"] == 300


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    code = (
        "import sys\n"
        "from arena.store import open_db\n"
        f"db = open_db({str(path)!r})\n"
        "db.conn.execute('SELECT COUNT(*) FROM players').fetchone()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    db = open_db(path)
    names = [r[0] for r in db.conn.execute("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]
