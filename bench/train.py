"""Does self-play training learn? The issue-6 learning runs, on this machine, as real jobs.

    python bench/train.py [--game kuhn_poker|tictactoe|both] [--minutes 15] [--out DIR]
                          [--export assets/models/tictactoe-tiny.f32.gguf]

Both runs start from the tiny model `arena models make-tiny` makes (built once, cached under
the output folder), create a job in a fresh database and run it in this process through
`trainer.run.run_job` (the code the job's process runs), stopping at `--minutes`. Every
checkpoint is a registered player: the job computes its exact exploitability (kuhn_poker) and
plays recorded, rated evaluation games against the anchors (random, the game's bots, the
previous checkpoint). The script then prints the curves from the job's metrics.

- kuhn_poker: exploitability of the last checkpoint, sampled at temperature 1, against the
  untrained model's in the same run (uniform play is 0.458, the best pure strategy 0.167; the
  bar is 0.10 within 15 minutes on 2 CPU cores).
- tictactoe: a warm start on minimax's recorded moves, then self-play with half the games
  against `random`; the last checkpoint (greedy) then plays 200 recorded games against `random`
  (100 in each seat). The bar: not losing in >= 90% of them in both seats. `--export` writes it
  as GGUF: this is how the shipped `assets/models/tictactoe-tiny.f32.gguf` is made.
In both, the checkpoints' TrueSkill ratings against the anchors should rise over the job.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/games.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import games  # noqa: E402
from arena.jobs import create_job  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.train_config import parse_config  # noqa: E402

RECIPES: dict[str, dict] = {
    # Natural-gradient updates with a magnet toward uniform (magnetic mirror descent) and a
    # decaying step: plain policy gradient collapses to a pure strategy here (see the README).
    "kuhn_poker": dict(
        steps=2500,
        batch_games=128,
        lr=3e-4,
        lr_end_ratio=0.05,
        estimator="natural",
        magnet_coef=0.2,
        entropy_coef=0.0,
        epsilon=0.2,
        checkpoint_every=250,
        eval_games=10,
    ),
    # Self-play from the tiny model alone stalls here (X seat ~0.85, O seat ~0.55 not losing to
    # random after 600 steps): a 2-layer, 64-wide model does not learn to read threats from the
    # board through a terminal reward in that time. So the job warm-starts on minimax's recorded
    # moves (SPIRAL's supervised baseline), then plays itself and a `random` pool; the rules
    # stay out of the prompt (a quarter of the tokens) and checkpoints play greedily.
    "tictactoe": dict(
        teacher_games=600,
        warm_start=["minimax"],
        warm_start_epochs=50,
        warm_start_lr=1e-3,
        include_rules=False,
        steps=400,
        batch_games=32,
        lr=1e-4,
        estimator="importance",
        entropy_coef=0.01,
        epsilon=0.1,
        opponents=["random"],
        opponent_share=0.5,
        checkpoint_every=100,
        eval_games=10,
        player_temperature=0.0,
    ),
}


def tiny_model(out: Path) -> Path:
    """The tiny model of `arena models make-tiny` (its defaults), built once under `out`."""
    from arena.models.tiny import build_tiny

    folder = out / "tiny-model"
    if not (folder / "config.json").exists():
        report = build_tiny(folder)
        print(f"made the tiny model in {report.seconds:.0f} s ({report.parameters:,} parameters)")
    return folder


def untrained_exploitability(model: Path) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.policy import ActionPolicy, exact_exploitability

    torch.set_num_threads(1)
    policy = ActionPolicy(
        AutoModelForCausalLM.from_pretrained(model).eval(), AutoTokenizer.from_pretrained(model)
    )
    return exact_exploitability(policy, games.make("kuhn_poker"))


def record_teacher_games(db, game_id: str, teacher: str, n: int) -> None:
    """`n` recorded games of `teacher` against `random`, seats alternating: what a warm start
    imitates (the teacher's moves only)."""
    import asyncio

    from arena.players.bot import BotPlayer
    from arena.sessions import play_recorded

    game = games.make(game_id)
    bots = [BotPlayer(teacher), BotPlayer("random")]
    for seed in range(n):
        asyncio.run(play_recorded(db, game, bots if seed % 2 else bots[::-1], seed))


def run(
    game: str, model: Path, out: Path, minutes: float, seed: int = 0
) -> tuple[object, int, float]:
    """Create and run the job; returns the database, the job id and the wall time."""
    from trainer.run import run_job

    db_path = out / f"{game}.db"
    for stale in out.glob(f"{game}.db*"):
        stale.unlink()
    db = open_db(db_path)
    recipe = dict(RECIPES[game])
    teacher_games = recipe.pop("teacher_games", 0)
    if teacher_games:
        record_teacher_games(db, game, recipe["warm_start"][0], teacher_games)
    config = parse_config(
        {"games": [game], "base": str(model), "name": f"bench-{game}", "device": "cpu"}
        | recipe
        | {"seed": seed}
    )
    job_id = create_job(db, config)
    t0 = time.perf_counter()
    deadline = t0 + minutes * 60
    run_job(db_path, job_id, should_stop=lambda: time.perf_counter() > deadline)
    return db, job_id, time.perf_counter() - t0


def curve(db, job_id: int) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for step, name, value in db.conn.execute(
        "SELECT step, name, value FROM job_metrics WHERE job_id = ? ORDER BY step", (job_id,)
    ):
        rows.setdefault(step, {})[name] = value
    return rows


def elapsed_at(rows: dict[int, dict[str, float]], step: int) -> float:
    return sum(m.get("step_time_s", 0.0) for s, m in rows.items() if s <= step) / 60


def bench_kuhn(model: Path, out: Path, minutes: float, seed: int = 0) -> None:
    start = untrained_exploitability(model)
    db, job_id, wall = run("kuhn_poker", model, out, minutes, seed)
    rows = curve(db, job_id)
    print(f"\nkuhn_poker: {max(rows)} steps in {wall / 60:.1f} min (exploitability at T=1)")
    k = RECIPES["kuhn_poker"].get("average_checkpoints", 4)
    print(
        f"| step | train min | exploitability | vs untrained | average of the last {k} "
        "checkpoints | TrueSkill mu (conservative) |"
    )
    print("|---|---|---|---|---|---|")
    print(f"| 0 | 0.0 | {start:.3f} | 1.00 | | |")
    for step, m in sorted(rows.items()):
        if "exploitability/kuhn_poker" not in m:
            continue
        e = m["exploitability/kuhn_poker"]
        avg = m.get("exploitability_avg/kuhn_poker")
        rating = ""
        if "rating/kuhn_poker/mu" in m:
            rating = f"{m['rating/kuhn_poker/mu']:.2f} ({m['rating/kuhn_poker/conservative']:.2f})"
        print(
            f"| {step} | {elapsed_at(rows, step):.1f} | {e:.3f} | {e / start:.2f} "
            f"| {'' if avg is None else f'{avg:.3f}'} | {rating} |"
        )
    last = [
        m["exploitability/kuhn_poker"] for m in rows.values() if "exploitability/kuhn_poker" in m
    ]
    print(f"uniform play 0.458; best pure strategy 0.167; bar <= 0.10: last {last[-1]:.3f}")


def bench_tictactoe(
    model: Path, out: Path, minutes: float, export: Path | None = None, seed: int = 0
) -> None:
    from trainer.evaluate import evaluate_checkpoint

    db, job_id, wall = run("tictactoe", model, out, minutes, seed)
    rows = curve(db, job_id)
    print(f"\ntictactoe: {max(rows)} steps in {wall / 60:.1f} min")
    print("| step | train min | score vs random | vs minimax | TrueSkill mu (conservative) |")
    print("|---|---|---|---|---|")
    for step, m in sorted(rows.items()):
        if "rating/tictactoe/mu" not in m:
            continue
        print(
            f"| {step} | {elapsed_at(rows, step):.1f} "
            f"| {m.get('eval/tictactoe/random/score', float('nan')):.2f} "
            f"| {m.get('eval/tictactoe/minimax/score', float('nan')):.2f} "
            f"| {m['rating/tictactoe/mu']:.2f} ({m['rating/tictactoe/conservative']:.2f}) |"
        )
    last = db.conn.execute(
        "SELECT name FROM players WHERE name LIKE 'bench-tictactoe@%' ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]
    final = evaluate_checkpoint(
        out / "tictactoe.db",
        last,
        games=["tictactoe"],
        anchors=["random"],
        games_per_anchor=200,
        seed=12345,
    )
    seat0 = final["eval/tictactoe/random/not_lose/seat0"]
    seat1 = final["eval/tictactoe/random/not_lose/seat1"]
    print(
        f"{last} against random, 200 recorded games: not losing {seat0:.0%} as X (seat 0), "
        f"{seat1:.0%} as O (seat 1); bar >= 90% in both"
    )
    warm = rows.get(0, {})
    if warm:
        print(
            f"warm start: {warm['warm_start/moves']:.0f} minimax moves, loss {warm['warm_start/loss']:.3f}"
        )
    if export is not None:
        from arena.models.gguf_export import export_gguf

        folder = db.conn.execute(
            "SELECT json_extract(spec, '$.model') FROM players WHERE name = ?", (last,)
        ).fetchone()[0]
        export_gguf(Path(folder), export, "f32")
        print(f"exported {last} to {export} ({export.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--game", choices=["kuhn_poker", "tictactoe", "both"], default="both")
    parser.add_argument("--minutes", type=float, default=15.0, help="Training budget per game.")
    parser.add_argument("--out", type=Path, default=Path(".bench-train"))
    parser.add_argument(
        "--export", type=Path, help="Write the last tictactoe checkpoint here as f32 GGUF."
    )
    parser.add_argument("--seed", type=int, default=0, help="The jobs' seed (rollouts, init).")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = tiny_model(args.out)
    if args.game in ("kuhn_poker", "both"):
        bench_kuhn(model, args.out, args.minutes, args.seed)
    if args.game in ("tictactoe", "both"):
        bench_tictactoe(model, args.out, args.minutes, args.export, args.seed)


if __name__ == "__main__":
    main()
