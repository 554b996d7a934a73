"""Generation mode's rollout speed on the real model: replies sampled one at a time against the
concurrent games' replies sampled together (issue 14).

    python bench/rollout.py [--games 16] [--tokens 24] [--rounds 3] [--reasoning think]
                            [--device auto|cpu|cuda] [--lora] [--engine torch|vllm] [--steps 2]

Imports the shipped SmolLM2-135M-Instruct GGUF once into `.bench-train/` (as
`bench/train_memory.py` does), then plays the same kuhn_poker rollout (same seeds) with
`max_batch` 1 (each reply alone, as before batching) and with the default batch, `--rounds`
times in alternating order, and prints the median generated tokens per second of each and their
ratio. `--reasoning think-then-constrained` adds each move's scoring among the legal moves to
the rollout (not batched: one forward per decision). `--engine vllm` (a GPU with vLLM) adds
the same rollout sampled by the job's vLLM engine, in the same alternation. Then `--steps`
whole training steps (rollout, loss, update, and with vLLM the weights' hand-over), their
median time and its split.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # bench/games.py must not shadow the package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reasoning", default="think", choices=["think", "think-then-constrained"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--engine", default="torch", choices=["torch", "vllm"])
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()

    from arena.train_config import parse_config
    from bench.train_memory import real_model_dir
    from trainer.generate import MAX_BATCH, play_generated
    from trainer.rollout import make_pairings
    from trainer.run import Trainer

    config = parse_config(
        dict(
            base=str(real_model_dir()),
            games=["kuhn_poker"],
            policy="generate",
            batch_games=args.games,
            max_new_tokens=args.tokens,
            reasoning=args.reasoning,
            include_rules=False,
            lora=args.lora,
            device=args.device,
            seed=0,
            rollout_engine=args.engine,
        )
    )
    with tempfile.TemporaryDirectory() as job_dir:
        trainer = Trainer(config, job_dir)
        player = trainer.generator
        assert player is not None
        backend = player.backend
        pairings = make_pairings(trainer.games, args.games, 0, 0, [], 0.0)
        engine = backend.sampler  # type: ignore[attr-defined]
        modes = ["one", "batched"] + (["vllm"] if engine is not None else [])
        rates: dict[str, list[float]] = {m: [] for m in modes}
        sizes: dict[str, list[int]] = {}
        for r in range(args.rounds):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                backend.max_batch = 1 if mode == "one" else MAX_BATCH  # type: ignore[attr-defined]
                backend.sampler = engine if mode == "vllm" else None  # type: ignore[attr-defined]
                backend.batches.clear()  # type: ignore[attr-defined]
                t0 = time.perf_counter()
                episodes = trainer.loop.run_until_complete(
                    play_generated(player, pairings, illegal_penalty=-1.0)
                )
                wall = time.perf_counter() - t0
                tokens = sum(len(t.reply_ids) for ep in episodes for t in ep.turns)
                rates[mode].append(tokens / wall)
                sizes[mode] = list(backend.batches)  # type: ignore[attr-defined]
        backend.sampler = engine  # type: ignore[attr-defined]
        backend.max_batch = MAX_BATCH  # type: ignore[attr-defined]
        steps = [trainer.train_step() for _ in range(args.steps)]
        trainer.close()
    print(
        f"kuhn_poker, {args.games} games, {args.tokens} tokens a reply, {args.reasoning}, "
        f"{'LoRA' if args.lora else 'full'}, device {trainer.policy.device}, {args.rounds} rounds"
    )
    one = statistics.median(rates["one"])
    print(f"one reply at a time : {one:7.1f} tokens/s")
    for mode in modes[1:]:
        rate = statistics.median(rates[mode])
        label = f"batched (up to {MAX_BATCH:>2})" if mode == "batched" else "vLLM engine       "
        print(f"{label}: {rate:7.1f} tokens/s  (x{rate / one:.2f})")
        print(f"  batch sizes: {sizes[mode]}")
    if steps:
        keys = ["step_time_s", "rollout_time_s", "score_time_s", "update_time_s", "sync_time_s"]
        parts = [
            f"{k.removesuffix('_time_s')} {statistics.median(m.get(k, 0.0) for m in steps):.2f} s"
            for k in keys
            if k in steps[0]
        ]
        print(f"training step (median of {len(steps)}): " + ", ".join(parts))


if __name__ == "__main__":
    main()
