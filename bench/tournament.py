"""Tournament speed and scale: recorded matches per second, leaderboard and recompute at scale.

    python bench/tournament.py [--matches 2000] [--scale 100000]

1. A bot-only tictactoe tournament (minimax against random, every move stored) through
   `run_tournament`, against the raw rate of `play_match` without storage, in the same run.
2. A database of `--scale` matches: a real round-robin of a few thousand bot matches, copied
   with SQL until it holds that many (every copy a full record with its moves), then
   `ratings recompute` and the leaderboard query timed on it.
Bars (issue 4): at least 500 recorded matches/s; leaderboard under 0.3 s; recompute under 10 s
(per million matches: the row scaled to 1M makes a `--scale 100000` run comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/games.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import games  # noqa: E402
from arena.leaderboard import leaderboard  # noqa: E402
from arena.match import play_match  # noqa: E402
from arena.players.bot import BotPlayer  # noqa: E402
from arena.specs import parse_spec  # noqa: E402
from arena.store import open_db, write  # noqa: E402
from arena.store.players import add_player  # noqa: E402
from arena.store.recompute import recompute_ratings  # noqa: E402
from arena.tournament.config import parse_config  # noqa: E402
from arena.tournament.runner import run_tournament  # noqa: E402
from arena.tournament.setup import create_tournament  # noqa: E402


async def raw_rate(n: int) -> float:
    a, b = BotPlayer("minimax"), BotPlayer("random")
    game = games.make("tictactoe")
    t0 = time.perf_counter()
    for i in range(n):
        await play_match(game, [a, b] if i % 2 == 0 else [b, a], i)
    return n / (time.perf_counter() - t0)


def stored_rate(path: Path, n: int, concurrency: int) -> float:
    db = open_db(path)
    config = parse_config(
        {
            "games": ["tictactoe"],
            "players": ["minimax", "random"],
            "games_per_pair": n,
            "concurrency": concurrency,
        }
    )
    tid = create_tournament(db, config)
    t0 = time.perf_counter()
    out = asyncio.run(run_tournament(db, tid))
    elapsed = time.perf_counter() - t0
    assert out["matches_played"] == n, out
    return n / elapsed


def build_scale_db(path: Path, seed_matches: int, scale: int) -> int:
    """A real tournament of `seed_matches`, then copies of its records up to `scale`."""
    db = open_db(path)
    for i in range(4):
        add_player(db, parse_spec({"name": f"rand{i}", "kind": "bot", "bot": "random"}))
    players = ["minimax", "random", "rand0", "rand1", "rand2", "rand3"]
    per_pair = max(1, seed_matches // 15)
    config = parse_config(
        {"games": ["tictactoe"], "players": players, "games_per_pair": per_pair, "concurrency": 8}
    )
    asyncio.run(run_tournament(db, create_tournament(db, config)))
    base = db.conn.execute("SELECT MAX(id) FROM matches").fetchone()[0]
    copies = 0
    while db.conn.execute("SELECT MAX(id) FROM matches").fetchone()[0] < scale:
        copies += 1
        top = db.conn.execute("SELECT MAX(id) FROM matches").fetchone()[0]
        take = min(base, scale - top)
        with write(db):
            db.conn.execute(
                "INSERT INTO matches (id, tournament_id, schedule_id, game, params, seed, status, "
                "error, forfeit_seat, rated, num_moves, duration_s, finished_at) "
                "SELECT id + ?, tournament_id, NULL, game, params, seed, status, error, "
                "forfeit_seat, rated, num_moves, duration_s, finished_at FROM matches "
                "WHERE id <= ?",
                (top, take),
            )
            db.conn.execute(
                "INSERT INTO results SELECT match_id + ?, seat, player_id, team, return, rank, "
                "outcome, decisions, attempts, invalid_moves, latency_s, tokens, cost_usd "
                "FROM results WHERE match_id <= ?",
                (top, take),
            )
            db.conn.execute(
                "INSERT INTO moves SELECT match_id + ?, idx, attempt, seat, player_id, action, "
                "forced, prompt, reply, parsed, legal, error, latency_s, prompt_tokens, "
                "completion_tokens, cost_usd, finish_reason, timed_out, policy, reasoning FROM moves "
                "WHERE match_id <= ?",
                (top, take),
            )
    return db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=2000, help="Matches for the rate rows.")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--scale", type=int, default=100_000, help="Matches in the scale db.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arena-bench-"))

    asyncio.run(raw_rate(200))  # warm the bots' caches so both rows measure steady state
    raws, stored = [], []
    for r in range(args.repeats):
        raws.append(asyncio.run(raw_rate(args.matches)))
        stored.append(stored_rate(work / f"rate{r}.db", args.matches, args.concurrency))
    raw, rec = statistics.median(raws), statistics.median(stored)
    print(f"{'row':<52} {'value':>12} {'baseline':>12} {'ratio':>7}")
    print(
        f"{'recorded tournament matches/s (bar >= 500)':<52} {rec:>12.0f} "
        f"{raw:>12.0f} {rec / raw:>7.2f}"
    )

    t0 = time.perf_counter()
    total = build_scale_db(work / "scale.db", 3000, args.scale)
    print(f"# built a database of {total} matches in {time.perf_counter() - t0:.1f} s")
    db = open_db(work / "scale.db")
    t0 = time.perf_counter()
    replayed = recompute_ratings(db)
    recompute = time.perf_counter() - t0
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        board = leaderboard(db, "tictactoe")
        times.append(time.perf_counter() - t0)
    overall = []
    for _ in range(5):
        t0 = time.perf_counter()
        leaderboard(db)
        overall.append(time.perf_counter() - t0)
    assert replayed == total and board["players"][0]["games"] > 0
    print(
        f"{'ratings recompute, s (bar < 10)':<52} {recompute:>12.2f} {'':>12} {recompute / 10:>7.2f}"
    )
    per_million = recompute * 1e6 / total
    print(
        f"{'ratings recompute, s per 1M matches (bar < 10)':<52} {per_million:>12.2f} {'':>12} "
        f"{per_million / 10:>7.2f}"
    )
    lb = statistics.median(times)
    print(
        f"{'leaderboard --game tictactoe, ms (bar < 300)':<52} {lb * 1e3:>12.2f} {'':>12} "
        f"{lb / 0.3:>7.4f}"
    )
    lo = statistics.median(overall)
    print(
        f"{'leaderboard overall, ms (bar < 300)':<52} {lo * 1e3:>12.2f} {'':>12} {lo / 0.3:>7.4f}"
    )
    print("# ratio: against the raw play_match rate (row 1) or against the bar (rows 2-5)")


if __name__ == "__main__":
    main()
