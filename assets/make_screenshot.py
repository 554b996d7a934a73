"""Make the README's screenshot from the app itself: `python assets/make_screenshot.py`.

Plays a small bot round-robin on a throwaway database, opens the app headless at 110x32 on the
leaderboard, and saves `assets/screenshot.svg`."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.store import open_db  # noqa: E402
from arena.tournament.config import parse_config  # noqa: E402
from arena.tournament.runner import run_tournament  # noqa: E402
from arena.tournament.setup import create_tournament  # noqa: E402
from arena.tui.app import make_app  # noqa: E402


async def main(out: Path) -> None:
    path = Path(tempfile.mkdtemp(prefix="arena-shot-")) / "arena.db"
    db = open_db(path)
    for game, players in (
        ("tictactoe", ["random", "minimax"]),
        ("kuhn_poker", ["random", "cfr"]),
        ("connect_four", ["random", "minimax"]),
    ):
        config = parse_config(
            {"games": [game], "players": players, "games_per_pair": 8, "seed": 1, "concurrency": 1}
        )
        await run_tournament(db, create_tournament(db, config))
    db.close()
    app = make_app(path, seed_first_run=False)
    async with app.run_test(size=(110, 32)) as pilot:
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "screenshot.svg"
    asyncio.run(main(target))
    print(f"wrote {target}")
