"""The app's speed: process start to first paint on a 10,000-match database, and key handling
under load.

    python bench/tui.py [--matches 10000] [--rounds 5] [--keys]

1. First paint: a fresh process opens the app headless on a database of `--matches` rated
   matches (about 20 players, four games; built once with the store's own functions and
   cached under `.bench-tui/`) and stops at Textual's Ready event (the first frame is on
   screen), the leaderboard table holding its rows. The time runs from just before the
   process is started. Baseline, in the same run, rounds alternating: an empty Textual `App`
   started the same way. Bar (issue 15): at most 0.7 s.
2. With `--keys`, keys under load: while a tournament runs in the app's live view (8 bot
   matches and a tiny llama.cpp model's match at once), key presses are sent and the time until
   each is handled is taken. Bar: under 100 ms at the 95th percentile. Reported against the
   same presses on an idle app.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # bench/games.py must not shadow the games package
CACHE = ROOT / ".bench-tui"
BAR_S = 0.7
GAMES = ("tictactoe", "kuhn_poker", "prisoners_dilemma", "connect_four")

_ARENA_CHILD = """
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

_EMPTY_CHILD = """
import sys, time
t_start = float(sys.argv[2])
from textual import events
from textual.app import App

class Timed(App):
    def on_ready(self, event: events.Ready) -> None:
        print(f"{time.time() - t_start:.4f} 0", flush=True)
        self.exit()

Timed().run(headless=True, size=(120, 40))
"""


def build_db(path: Path, matches: int, seed: int = 0) -> Path:
    """`matches` rated bot matches among 20 players over `GAMES`, played and recorded with the
    arena's own `play_match` and `record_match` (each match its own short transaction, as a
    tournament writes them). Built once per size: later runs reuse the file."""
    if path.exists():
        return path
    import games as game_registry
    from arena.match import play_match
    from arena.players.bot import BotPlayer
    from arena.specs import parse_spec
    from arena.store import open_db
    from arena.store.players import add_player, player_ids
    from arena.store.records import record_match

    partial = path.with_suffix(".partial")
    for stale in path.parent.glob(partial.name + "*"):
        stale.unlink()
    db = open_db(partial)
    names = [f"bot{i:02d}" for i in range(18)] + ["random", "minimax"]
    for name in names[:18]:
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    rng = random.Random(seed)
    ids = {name: player_ids(db, [name])[0] for name in names}
    for i in range(matches):
        game_id = GAMES[i % len(GAMES)]
        seats = rng.sample(names, 2)
        if game_id != "tictactoe" and "minimax" in seats:  # minimax plays tictactoe only
            seats[seats.index("minimax")] = "random" if "random" not in seats else "bot00"
        bots = [BotPlayer(n, "minimax" if n == "minimax" else "random") for n in seats]
        result = asyncio.run(play_match(game_registry.make(game_id), bots, i))
        record_match(db, result, [ids[n] for n in seats])
    db.close()
    for suffix in ("", "-wal", "-shm"):
        done = Path(str(partial) + suffix)
        if done.exists():
            done.rename(Path(str(path) + suffix))
    return path


def first_paints(db: Path, rounds: int) -> tuple[list[float], list[float], int]:
    """Seconds from process start to first paint: arena's app on `db`, an empty `App`;
    `rounds` of each, alternating."""
    env = dict(os.environ, ARENA_NO_SEED="1")
    app_times, empty_times, rows = [], [], 0
    for _ in range(rounds):
        for code, times in ((_EMPTY_CHILD, empty_times), (_ARENA_CHILD, app_times)):
            t0 = time.time()
            out = subprocess.run(
                [sys.executable, "-c", code, str(db), repr(t0)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            )
            seconds, rows_text = out.stdout.split()[-2:]
            times.append(float(seconds))
            if code is _ARENA_CHILD:
                rows = int(rows_text)
    return app_times, empty_times, rows


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", action="store_true", help="Also the key latency rows.")
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--gguf", type=Path, default=None, help="A tiny GGUF (default: made).")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    db = build_db(CACHE / f"matches-{args.matches}.db", args.matches)
    print(f"# database {db.relative_to(ROOT)} ready in {time.perf_counter() - t0:.1f} s")
    app_times, empty_times, rows = first_paints(db, args.rounds)
    launch, base = statistics.median(app_times), statistics.median(empty_times)
    print(f"# arena runs, s: {' '.join(f'{t:.3f}' for t in app_times)}")
    print(f"# empty App runs, s: {' '.join(f'{t:.3f}' for t in empty_times)}")
    print(f"{'row':<58} {'value':>9} {'baseline':>9} {'ratio':>7}")
    print(
        f"{f'first paint, s, median of {args.rounds} (bar <= {BAR_S})':<58} "
        f"{launch:>9.3f} {base:>9.3f} {launch / base:>7.2f}"
    )
    print(f"# the leaderboard held {rows} rows; baseline: an empty Textual App, headless")
    print(f"# {'PASS' if launch <= BAR_S else 'FAIL'}: first paint {launch:.3f} s, bar {BAR_S} s")
    if not args.keys:
        return

    work = Path(tempfile.mkdtemp(prefix="arena-bench-tui-"))
    gguf = args.gguf
    if gguf is None:
        from arena.models.demo import ensure_demo_model

        gguf = ensure_demo_model(work / "models")
    idle = asyncio.run(key_latencies(work / "keys.db", gguf, args.presses, loaded=False))
    busy = asyncio.run(key_latencies(work / "keys.db", gguf, args.presses, loaded=True))
    print(
        f"{'key handled under load, p95 ms (bar < 100)':<58} {p95(busy) * 1e3:>9.1f} {p95(idle) * 1e3:>9.1f} {p95(busy) / p95(idle):>7.2f}"
    )
    print(
        f"{'key handled under load, median ms':<58} {statistics.median(busy) * 1e3:>9.1f} {statistics.median(idle) * 1e3:>9.1f} {statistics.median(busy) / statistics.median(idle):>7.2f}"
    )
    print("# baseline for the key rows: the same presses on the idle app")


if __name__ == "__main__":
    main()
