"""`ratings recompute` while another process records and rates matches loses nothing: the read
that decides the rewrite happens inside the rewrite's transaction, so every match is either
replayed by the recompute or rated after it commits.

Two real processes on one file: a child records and rates bot matches through the store
(`record_match`, as a tournament does) while this process recomputes again and again. At the
end the incremental ratings must be exactly what one more recompute gives, and no rated match
may ever lack its rating history. Run with the matches read here and by the helper process
that reads them for large databases."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import games
from arena.match import play_match
from arena.players.bot import BotPlayer
from arena.specs import parse_spec
from arena.store import open_db, recompute
from arena.store.players import add_player, player_ids
from arena.store.recompute import recompute_ratings
from arena.store.records import record_match

ROOT = Path(__file__).resolve().parents[1]
MATCHES = 400

_RECORDER = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    import games
    from arena.match import play_match
    from arena.players.bot import BotPlayer
    from arena.store import open_db
    from arena.store.players import player_ids
    from arena.store.records import record_match

    db = open_db({path!r})
    names = ["minimax", "random", "rand2", "rand3"]
    bots = {{"minimax": "minimax", "random": "random", "rand2": "random", "rand3": "random"}}
    print("ready", flush=True)
    for i in range({matches}):
        seats = [names[i % 4], names[(i // 4 + i + 1) % 4]]
        if seats[0] == seats[1]:
            seats[1] = names[(i + 2) % 4]
        players = [BotPlayer(n, bots[n]) for n in seats]
        result = asyncio.run(play_match(games.make("tictactoe"), players, i))
        record_match(db, result, player_ids(db, seats))
    print("done", flush=True)
    """
)

_RATINGS = (
    "SELECT player_id, scope, mu, sigma, games, wins, draws, losses, decisions, attempts, "
    "invalid_moves, latency_s, tokens, cost_usd, last_match_id FROM ratings "
    "ORDER BY player_id, scope"
)
_HISTORY = (
    "SELECT match_id, player_id, scope, mu, sigma FROM rating_history "
    "ORDER BY match_id, player_id, scope"
)


# Rated matches missing a rating: each seat has one in the game and one overall.
_WITHOUT_HISTORY = (
    "SELECT DISTINCT m.id FROM matches m JOIN results r ON r.match_id = m.id WHERE m.rated = 1 "
    "AND (SELECT COUNT(*) FROM rating_history h WHERE h.player_id = r.player_id "
    "AND h.scope IN (m.game, '*') AND h.match_id = m.id) != 2"
)


def _rated(db) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM matches WHERE rated = 1").fetchone()[0]


def _state(db) -> tuple[list, list, list]:
    return (
        db.conn.execute(_RATINGS).fetchall(),
        db.conn.execute(_HISTORY).fetchall(),
        db.conn.execute("SELECT game, games, draws FROM game_stats ORDER BY game").fetchall(),
    )


@pytest.mark.parametrize("reader", ["in-process", "helper"])
def test_recompute_during_a_tournament_loses_no_rating_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    # Pause between recomputes so the recorder gets the lock: SQLite's busy handler retries
    # after growing sleeps, and a recompute that starts a helper process holds it longer.
    pause = 0.002
    if reader == "helper":  # a helper process reads the matches, as for large databases
        monkeypatch.setattr(recompute, "HELPER_MATCHES", 0)
        pause = 0.03
    path = tmp_path / "arena.db"
    db = open_db(path)
    for name in ("rand2", "rand3"):
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _RECORDER.format(root=str(ROOT), path=str(path), matches=MATCHES),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lost: set[int] = set()
    recomputes = 0
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        # Recompute while the first four fifths are played; the rest is rated incrementally on
        # top of the last recompute.
        while child.poll() is None and time.monotonic() < deadline and _rated(db) < MATCHES * 0.8:
            # Mostly everything; now and then one game's (the overall ratings still replay all).
            recompute_ratings(db, "tictactoe" if recomputes % 3 == 2 else None)
            recomputes += 1
            # A rating update lost by the recompute: a rated match without its history.
            lost.update(r[0] for r in db.conn.execute(_WITHOUT_HISTORY))
            time.sleep(pause)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0 and out.strip() == "done", err
    assert recomputes >= 5, f"only {recomputes} recomputes ran while matches were being recorded"
    assert sorted(lost) == []

    assert _rated(db) == MATCHES
    assert db.conn.execute(_WITHOUT_HISTORY).fetchall() == []
    incremental = _state(db)
    assert len(incremental[1]) == 4 * MATCHES
    assert incremental[2] == [("tictactoe", MATCHES, incremental[2][0][2])]
    # What the tournament and the recomputes left is exactly what one more recompute gives.
    assert recompute_ratings(db) == MATCHES
    assert _state(db) == incremental


def test_the_helper_process_hands_over_exactly_the_rows_read_here(tmp_path: Path) -> None:
    db = open_db(tmp_path / "arena.db")
    for seed in range(30):
        seats = ["cfr", "random"][:: 1 if seed % 2 else -1]
        result = asyncio.run(
            play_match(games.make("kuhn_poker"), [BotPlayer(n) for n in seats], seed)
        )
        record_match(db, result, player_ids(db, seats))
    here = list(recompute._rated_matches(db, helper=False))
    handed = list(recompute._rated_matches(db, helper=True))
    assert len(here) == 60 and handed == here
    assert [type(v) for v in handed[0]] == [type(v) for v in here[0]]
