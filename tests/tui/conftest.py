"""Fixtures for the app's Pilot tests: a real database with a few real bot matches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arena.store import open_db
from arena.tournament.config import parse_config
from arena.tournament.runner import run_tournament
from arena.tournament.setup import create_tournament


def seed_matches(path: Path, games_per_pair: int = 6, seed: int = 1) -> Path:
    """A database holding one finished bot round-robin at tictactoe."""
    db = open_db(path)
    config = parse_config(
        {
            "name": "seeded",
            "games": ["tictactoe"],
            "players": ["random", "minimax"],
            "games_per_pair": games_per_pair,
            "seed": seed,
            "concurrency": 1,  # one finish order, hence the same ratings every run
        }
    )
    asyncio.run(run_tournament(db, create_tournament(db, config)))
    db.close()
    return path


@pytest.fixture(autouse=True)
def no_chess_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app as a machine without a UCI chess engine shows it, wherever the tests run: the
    `stockfish` bot is offered only where an engine is installed, and the screens (and their
    snapshots) must not depend on that."""
    from games.chess_game import Chess

    bots = {name: path for name, path in Chess.BOTS.items() if name != "stockfish"}
    monkeypatch.setattr(Chess, "BOTS", bots)


@pytest.fixture()
def seeded_db(tmp_path: Path) -> Path:
    return seed_matches(tmp_path / "arena.db")


@pytest.fixture()
def empty_db(tmp_path: Path) -> Path:
    return tmp_path / "empty.db"
