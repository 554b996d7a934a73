"""A seeded tournament's records and ratings depend on its seed alone: matches are rated in
schedule order whatever order they finish in (concurrency), and a stopped run resumes to the
same end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arena.store import open_db
from arena.store.standings import ratings_of
from arena.tournament.config import parse_config
from arena.tournament.runner import run_tournament
from arena.tournament.setup import create_tournament

PLAYERS = ["random", "minimax", "r2", "r3"]
GAMES = ["tictactoe", "connect_four"]  # matches of very different lengths finish out of order


def _tournament(path: Path, concurrency: int):
    from arena.specs import parse_spec
    from arena.store.players import add_player

    db = open_db(path)
    for name in ("r2", "r3"):
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    config = parse_config(
        {
            "games": GAMES,
            "players": PLAYERS,
            "games_per_pair": 3,
            "seed": 5,
            "concurrency": concurrency,
        }
    )
    return db, create_tournament(db, config)


def _state(db, tid):
    from arena.store.tournaments import finish_order

    records = finish_order(db, tid)
    ratings = {g: ratings_of(db, g, PLAYERS) for g in GAMES}
    return records, {g: {p: (r.mu, r.sigma) for p, r in rs.items()} for g, rs in ratings.items()}


@pytest.mark.parametrize("concurrency", [4, 16])
def test_ratings_and_records_are_the_same_at_any_concurrency(tmp_path: Path, concurrency):
    one, tid1 = _tournament(tmp_path / "one.db", 1)
    asyncio.run(run_tournament(one, tid1))
    many, tid2 = _tournament(tmp_path / "many.db", concurrency)
    asyncio.run(run_tournament(many, tid2))
    records1, ratings1 = _state(one, tid1)
    records2, ratings2 = _state(many, tid2)
    assert len(records1) == 36
    assert records2 == records1  # the same matches, stored (and rated) in the same order
    assert ratings2 == ratings1  # exactly


def test_a_stopped_run_resumes_to_the_uninterrupted_ratings(tmp_path: Path):
    straight, tid1 = _tournament(tmp_path / "straight.db", 8)
    asyncio.run(run_tournament(straight, tid1))
    db, tid2 = _tournament(tmp_path / "stopped.db", 8)
    stop = asyncio.Event()

    def progress(p):
        if p.done >= 7:
            stop.set()

    out = asyncio.run(run_tournament(db, tid2, stop=stop, on_progress=progress))
    assert out["status"] == "interrupted"
    out = asyncio.run(run_tournament(db, tid2))
    assert out["status"] == "finished"
    records1, ratings1 = _state(straight, tid1)
    records2, ratings2 = _state(db, tid2)
    assert records2 == records1 and ratings2 == ratings1
