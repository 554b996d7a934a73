"""Generation mode's rollout speed on the real model: replies sampled one at a time against the
concurrent games' replies sampled together (issue 14).

    python bench/rollout.py [--games 16] [--tokens 24] [--rounds 3] [--reasoning think]
                            [--device auto|cpu|cuda] [--lora]

Imports the shipped SmolLM2-135M-Instruct GGUF once into `.bench-train/` (as
`bench/train_memory.py` does), then plays the same kuhn_poker rollout (same seeds) with
`max_batch` 1 (each reply alone, as before batching) and with the default batch, `--rounds`
times in alternating order, and prints the median generated tokens per second of each and their
ratio. `--reasoning think-then-constrained` adds each move's scoring among the legal moves to
the rollout (not batched: one forward per decision).
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
        )
    )
    with tempfile.TemporaryDirectory() as job_dir:
        trainer = Trainer(config, job_dir)
        player = trainer.generator
        assert player is not None
        backend = player.backend
        pairings = make_pairings(trainer.games, args.games, 0, 0, [], 0.0)
        rates: dict[int, list[float]] = {1: [], MAX_BATCH: []}
        sizes: dict[int, list[int]] = {}
        for r in range(args.rounds):
            order = [1, MAX_BATCH] if r % 2 == 0 else [MAX_BATCH, 1]
            for max_batch in order:
                backend.max_batch = max_batch  # type: ignore[attr-defined]
                backend.batches.clear()  # type: ignore[attr-defined]
                t0 = time.perf_counter()
                episodes = trainer.loop.run_until_complete(
                    play_generated(player, pairings, illegal_penalty=-1.0)
                )
                wall = time.perf_counter() - t0
                tokens = sum(len(t.reply_ids) for ep in episodes for t in ep.turns)
                rates[max_batch].append(tokens / wall)
                sizes[max_batch] = list(backend.batches)  # type: ignore[attr-defined]
        trainer.close()
    print(
        f"kuhn_poker, {args.games} games, {args.tokens} tokens a reply, {args.reasoning}, "
        f"{'LoRA' if args.lora else 'full'}, device {trainer.policy.device}, {args.rounds} rounds"
    )
    one, many = statistics.median(rates[1]), statistics.median(rates[MAX_BATCH])
    print(f"one reply at a time : {one:7.1f} tokens/s")
    print(f"batched (up to {MAX_BATCH:>2}): {many:7.1f} tokens/s  (x{many / one:.2f})")
    print(f"batch sizes: {sizes[MAX_BATCH]}")


if __name__ == "__main__":
    main()
