"""Matches per second with the local executor and with Ray, same run.

    python bench/scale.py [--bot-matches 200] [--model-matches 24]

Two workloads, each a stored tournament on a fresh database:
- bots: random against random at tic-tac-toe (the coordinator's own cost dominates);
- model: the tiny GGUF (llama.cpp, scored moves) against random at tic-tac-toe.
Executors: local (one asyncio process), then Ray on a local cluster of 1 and of 2 CPUs (for
the model: one replica per CPU, each reserving half a CPU). Prints matches/s, the ratio to
local, and Ray's overhead per match (its seconds per match minus local's, at 1 CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TINY = Path(__file__).resolve().parents[1] / "assets" / "models" / "tictactoe-tiny.f32.gguf"


def _tournament(folder: Path, tag: str, players: list[str], matches: int, extra: dict) -> float:
    from arena.specs import parse_spec
    from arena.store import open_db
    from arena.store.players import add_player
    from arena.tournament.config import parse_config
    from arena.tournament.runner import run_tournament
    from arena.tournament.setup import create_tournament

    db = open_db(folder / f"{tag}.db")
    if "tiny" in players:
        add_player(
            db,
            parse_spec(
                {
                    "name": "tiny",
                    "kind": "llamacpp",
                    "path": str(TINY),
                    "decode": "score",
                    "prompt": {"reasoning": "direct", "repeat_legal_moves": True},
                }
            ),
        )
    if "random-b" in players:
        add_player(db, parse_spec({"name": "random-b", "kind": "bot", "bot": "random"}))
    config = {
        "games": ["tictactoe"],
        "players": players,
        "games_per_pair": matches,
        "concurrency": 8,
        "seed": 1,
        **extra,
    }
    tid = create_tournament(db, parse_config(config))
    t0 = time.perf_counter()
    out = asyncio.run(run_tournament(db, tid))
    elapsed = time.perf_counter() - t0
    assert out["status"] == "finished" and out["matches_played"] == matches, out
    db.close()
    return matches / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot-matches", type=int, default=200)
    parser.add_argument("--model-matches", type=int, default=24)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workloads = [
            ("bots", ["random", "random-b"], args.bot_matches),
            ("model", ["tiny", "random"], args.model_matches),
        ]
        for name, players, n in workloads:
            rows.append((name, "local", _tournament(folder, f"{name}-local", players, n, {})))
        for cpus in (1, 2):
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            try:
                for name, players, n in workloads:
                    extra = {"executor": "ray"}
                    if name == "model":
                        extra |= {"replicas": cpus, "model_cpus": 0.5 if cpus == 1 else 0.75}
                    rate = _tournament(folder, f"{name}-ray{cpus}", players, n, extra)
                    rows.append((name, f"ray {cpus} cpu", rate))
            finally:
                ray.shutdown()
    print(f"{'workload':<8} {'executor':<10} {'matches/s':>10} {'x local':>8} {'+ms/match':>10}")
    local = {w: r for w, e, r in rows if e == "local"}
    for workload, executor, rate in rows:
        extra_ms = (1 / rate - 1 / local[workload]) * 1000
        print(
            f"{workload:<8} {executor:<10} {rate:>10.2f} {rate / local[workload]:>8.2f} "
            f"{extra_ms:>10.1f}"
        )


if __name__ == "__main__":
    main()
