"""The app's speed: launch to the first painted leaderboard, and key handling under load.

    python bench/tui.py [--matches 10000] [--repeats 5]

1. Launch: a fresh process opens the app (headless) on a database of `--matches` matches and
   stops at Textual's Ready event (the first frame is on screen) once the leaderboard table
   holds its rows. Reported against `python -c pass` started the same way in the same run.
   Bar (issue 5): under 1.5 s.
2. Keys under load: while a tournament runs in the app's live view (8 bot matches and a tiny
   llama.cpp model's match at once), key presses are sent and the time until each is handled
   is taken. Bar: under 100 ms at the 95th percentile. Reported against the same presses on
   an idle app.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # bench/games.py must not shadow the games package

_CHILD = """
import sys, time
t_start = float(sys.argv[2])
from arena.tui.app import make_app
from textual import events

class Timed(type(make_app())):
    def on_ready(self, event: events.Ready) -> None:
        table = self.screen.query_one("DataTable")
        print(f"{time.time() - t_start:.4f} {table.row_count}", flush=True)
        self.exit()

Timed(sys.argv[1], seed_first_run=False).run(headless=True, size=(120, 40))
"""


def _load_bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def launch_times(db: Path, repeats: int) -> tuple[list[float], list[float], int]:
    env = dict(os.environ, ARENA_NO_SEED="1")
    app_times, base_times, rows = [], [], 0
    for _ in range(repeats):
        t0 = time.time()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
        base_times.append(time.time() - t0)
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(db), repr(t0)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        seconds, rows_text = out.stdout.split()[-2:]
        app_times.append(float(seconds))
        rows = int(rows_text)
    return app_times, base_times, rows


async def key_latencies(db: Path, gguf: Path | None, presses: int, loaded: bool) -> list[float]:
    """Seconds from sending a key to its binding running, on the tournament screen."""
    from textual.binding import Binding

    from arena.specs import parse_spec
    from arena.store import open_db
    from arena.store.players import add_player, find_player
    from arena.tournament.config import parse_config
    from arena.tournament.setup import create_tournament
    from arena.tui.app import ArenaApp

    handled: list[float] = []

    class Timed(ArenaApp):
        BINDINGS = [Binding("f9", "ping", "ping", show=False)]

        def action_ping(self) -> None:
            handled.append(time.perf_counter())

    app = Timed(db, seed_first_run=False)
    store = open_db(db)
    players = ["random", "minimax"]
    if gguf is not None and find_player(store, "bench-tiny") is None:
        add_player(
            store,
            parse_spec(
                {
                    "name": "bench-tiny",
                    "kind": "llamacpp",
                    "path": str(gguf),
                    "decode": "constrained",
                    "prompt": {"reasoning": "direct"},
                    "sampling": {"max_tokens": 8},
                }
            ),
        )
    if gguf is not None:
        players.append("bench-tiny")
    config = parse_config(
        {
            "games": ["tictactoe"],
            "players": players,
            "games_per_pair": 4000,
            "concurrency": 9,
            "name": "load",
        }
    )
    latencies = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        if loaded:  # started through the live view: its tables and spectator redraw meanwhile
            screen.start_run(create_tournament(app.db, config))
            await asyncio.sleep(1.0)
        for _ in range(presses):
            sent = time.perf_counter()
            before = len(handled)
            app.post_message(_key("f9"))  # what the terminal driver does with a key press
            while len(handled) == before:
                await asyncio.sleep(0.001)
            latencies.append(handled[-1] - sent)
            await asyncio.sleep(0.02)
        if loaded:
            print(f"# under load: {screen.live_run.done} matches finished while keys were pressed")
            screen.stop_event.set()
            await screen.run_task
    return latencies


def _key(key: str):
    from textual import events

    return events.Key(key, None)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--gguf", type=Path, default=None, help="A tiny GGUF (default: made).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arena-bench-tui-"))
    scale = _load_bench_module("tournament")
    t0 = time.perf_counter()
    total = scale.build_scale_db(work / "big.db", 3000, args.matches)
    from arena.store import open_db
    from arena.store.recompute import recompute_ratings

    recompute_ratings(open_db(work / "big.db"))
    print(f"# database of {total} matches built in {time.perf_counter() - t0:.1f} s")
    app_times, base_times, rows = launch_times(work / "big.db", args.repeats)
    launch, base = statistics.median(app_times), statistics.median(base_times)

    gguf = args.gguf
    if gguf is None:
        from arena.models.demo import ensure_demo_model

        gguf = ensure_demo_model(work / "models")
    idle = asyncio.run(key_latencies(work / "keys.db", gguf, args.presses, loaded=False))
    busy = asyncio.run(key_latencies(work / "keys.db", gguf, args.presses, loaded=True))

    print(f"{'row':<58} {'value':>9} {'baseline':>9} {'ratio':>7}")
    print(
        f"{'launch to painted leaderboard, s (bar < 1.5)':<58} {launch:>9.3f} {base:>9.3f} {launch / base:>7.2f}"
    )
    print(f"# the leaderboard held {rows} rows; baseline: python -c pass")
    print(
        f"{'key handled under load, p95 ms (bar < 100)':<58} {p95(busy) * 1e3:>9.1f} {p95(idle) * 1e3:>9.1f} {p95(busy) / p95(idle):>7.2f}"
    )
    print(
        f"{'key handled under load, median ms':<58} {statistics.median(busy) * 1e3:>9.1f} {statistics.median(idle) * 1e3:>9.1f} {statistics.median(busy) / statistics.median(idle):>7.2f}"
    )
    print("# baseline for the key rows: the same presses on the idle app")


if __name__ == "__main__":
    main()
