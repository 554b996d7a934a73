"""Snapshots of the main screens at fixed terminal sizes (pytest-textual-snapshot).

Update them after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and review the SVG diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.tui.app import make_app


@pytest.fixture()
def snap_db(seeded_db: Path) -> Path:
    """Six seeded bot matches: the same standings every run. Wall-clock figures (latency,
    timestamps) vary between runs, so they are fixed here."""
    from arena.store import open_db

    db = open_db(seeded_db)
    with db.conn:
        db.conn.execute("UPDATE ratings SET latency_s = 0")
        db.conn.execute("UPDATE results SET latency_s = 0")
        db.conn.execute("UPDATE moves SET latency_s = 0")
        db.conn.execute("UPDATE matches SET duration_s = 0, finished_at = '2026-01-01T00:00:00'")
    db.close()
    return seeded_db


def test_leaderboard_snapshot(snap_compare, snap_db: Path) -> None:
    assert snap_compare(make_app(snap_db, seed_first_run=False), terminal_size=(100, 30))


def test_leaderboard_snapshot_80x24(snap_compare, snap_db: Path) -> None:
    assert snap_compare(make_app(snap_db, seed_first_run=False), terminal_size=(80, 24))


def test_help_snapshot(snap_compare, snap_db: Path) -> None:
    assert snap_compare(
        make_app(snap_db, seed_first_run=False), press=["question_mark"], terminal_size=(100, 30)
    )


def test_player_detail_snapshot(snap_compare, snap_db: Path) -> None:
    async def open_detail(pilot) -> None:
        await pilot.pause()
        pilot.app.screen.query_one("DataTable").focus()
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(
        make_app(snap_db, seed_first_run=False), run_before=open_detail, terminal_size=(100, 30)
    )


@pytest.mark.parametrize(
    "key", ["g", "r", "p", "t"], ids=["play", "replays", "players", "tournament"]
)
def test_section_snapshots(snap_compare, snap_db: Path, key: str) -> None:
    async def settle(pilot) -> None:
        await pilot.pause()

    assert snap_compare(
        make_app(snap_db, seed_first_run=False),
        press=[key],
        run_before=settle,
        terminal_size=(100, 30),
    )


# Every screen at the smallest supported terminal and at a wide one. Leaderboard at 80x24 is
# `test_leaderboard_snapshot_80x24` above.
SCREEN_KEYS = {
    "leaderboard": [],
    "players": ["p"],
    "play": ["g"],
    "tournament": ["t"],
    "replays": ["r"],
    "training": ["j"],
    "help": ["question_mark"],
    "player-detail": None,  # Enter on the leaderboard's first row
}
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.mark.parametrize(
    ("screen", "size"),
    [
        (screen, size)
        for screen in SCREEN_KEYS
        for size in SIZES
        if (screen, size) != ("leaderboard", "80x24")
    ],
)
def test_screen_snapshots(snap_compare, snap_db: Path, screen: str, size: str) -> None:
    async def open_screen(pilot) -> None:
        await pilot.pause()
        keys = SCREEN_KEYS[screen]
        if keys is None:
            pilot.app.screen.query_one("DataTable").focus()
            keys = ["enter"]
        await pilot.press(*keys)
        await pilot.pause()

    assert snap_compare(
        make_app(snap_db, seed_first_run=False), run_before=open_screen, terminal_size=SIZES[size]
    )
