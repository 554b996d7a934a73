"""Memory and time per rank of a job on several ranks: DDP against FSDP, same run (issue 16).

    python bench/train_parallel.py [--ranks 2] [--steps 2] [--games 4] [--tokens 16]
                                   [--device auto|cpu|cuda] [--tiny]

Runs the same seeded generation-mode job (kuhn_poker, full fine-tune) on the real model
(SmolLM2-135M-Instruct, imported once as `bench/train_memory.py` does; `--tiny`: a small
Llama made here) twice, as `arena train start --ranks N` starts it: `parallel=ddp` (every rank
holds the model, its gradients and AdamW's state) and `parallel=fsdp` (those sharded over the
ranks, plus a plain copy of the weights that plays). Prints rank 0's peak memory (the step
metric `peak_rss_mb`, `peak_gpu_mb` on CUDA) and the median step time of each, and their
ratios against DDP. On one machine with gloo the ranks share the CPU, so the times say little;
the memory is the point: FSDP trades 16 bytes a weight for 4 + 12 / N (float32).
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
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--games", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--tiny", action="store_true", help="a tiny model made here")
    args = parser.parse_args()

    from arena.jobs import create_job, get_job, log_tail, read_metrics, start_job
    from arena.store import open_db
    from arena.train_config import TrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        if args.tiny:
            from arena.models.tiny import make_tiny

            base = make_tiny(Path(tmp) / "tiny", train_steps=20)
        else:
            from bench.train_memory import real_model_dir

            base = real_model_dir()
        db_path = Path(tmp) / "arena.db"
        db = open_db(db_path)
        rows = {}
        for parallel in ("ddp", "fsdp"):
            config = TrainConfig(
                base=str(base), games=["kuhn_poker"], policy="generate", steps=args.steps,
                batch_games=args.games, max_new_tokens=args.tokens, ranks=args.ranks,
                parallel=parallel, device=args.device, seed=1, lr=1e-5, evaluate_start=False,
                checkpoint_every=10_000, include_rules=False, name=parallel,
            )  # fmt: skip
            job_id = create_job(db, config)
            start_job(db_path, job_id)
            while get_job(db, job_id).status in ("created", "running"):
                time.sleep(1)
            job = get_job(db, job_id)
            if job.status != "finished":
                print("\n".join(log_tail(db, job_id, 40)))
                raise SystemExit(f"{parallel}: the job ended {job.status}")
            metrics = read_metrics(db, job_id)
            peak_key = "peak_gpu_mb" if "peak_gpu_mb" in metrics else "peak_rss_mb"
            rows[parallel] = (
                max(v for _, v in metrics[peak_key]),
                statistics.median(v for _, v in metrics["step_time_s"]),
                peak_key,
            )
    name = "tiny Llama" if args.tiny else "SmolLM2-135M-Instruct"
    print(
        f"{name}, kuhn_poker, {args.ranks} ranks, {args.steps} steps of {args.games} games, "
        f"{args.tokens} tokens a reply, full fine-tune, device {args.device}"
    )
    base_peak, base_time, key = rows["ddp"]
    for parallel, (peak, step, _) in rows.items():
        print(
            f"{parallel:<5} rank 0 {key} {peak:8.0f} (x{peak / base_peak:.2f})   "
            f"step {step:6.2f} s (x{step / base_time:.2f})"
        )


if __name__ == "__main__":
    main()
