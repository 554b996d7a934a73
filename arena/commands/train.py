"""`arena train start|list|show|logs|samples|stop|resume`: self-play training jobs, headless.

A job runs as its own detached process (`python -m trainer`); these commands create it, start
it, and follow it through the database and its log. A `JobError` (an `ArenaError`) reaches the
CLI's one handler: one line, exit 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from arena.commands.context import echo_json, open_store, say
from arena.commands.params import parse_params


@click.group("train")
def train_group() -> None:
    """Start, list, follow, stop and resume self-play training jobs."""


def _db_path(ctx: click.Context) -> Path:
    """The command's database file (it may not exist yet)."""
    from arena.store import default_db_path

    path = (ctx.find_root().obj or {}).get("db")
    return Path(path).expanduser() if path else default_db_path()


@train_group.command("start")
@click.option("--game", "games", multiple=True, help="A game id (repeat for a mixture).")
@click.option(
    "--base",
    required=True,
    type=click.Path(),
    help="The Hugging Face model folder to start from (`arena models import-gguf` makes one "
    "from a GGUF file).",
)
@click.option(
    "--opponent",
    "opponents",
    multiple=True,
    help="A pool opponent: a built-in bot, a checkpoint or any registered player (repeat).",
)
@click.option("--steps", type=int, help="Training steps in all (at least 1).")
@click.option(
    "--lr",
    type=float,
    help="Learning rate (positive, finite; default: from the base model's size, see `train show`).",
)
@click.option("--algorithm", type=click.Choice(["reinforce", "ppo"]), help="Policy gradient.")
@click.option(
    "--policy",
    type=click.Choice(["score", "generate"]),
    help="score: the model scores each legal move; generate: it writes whole replies "
    "(reasoning, then 'Final answer: <move>'), trained on the generated tokens.",
)
@click.option("--checkpoint-every", type=int, help="Steps between checkpoints.")
@click.option("--name", help="The job's name (default: <game>-<id>).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train.")
@click.option(
    "--ranks",
    type=int,
    help="Data-parallel processes under torchrun (gloo on CPU, one GPU each with CUDA).",
)
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other config field (batch_games=32, epsilon=0.1, lora=true, ...).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def start_command(
    ctx: click.Context,
    games: tuple[str, ...],
    opponents: tuple[str, ...],
    extra: tuple[str, ...],
    as_json: bool,
    **opts: Any,
) -> None:
    """Create a training job and start it in the background; prints its id.

    Everything is checked before the database is written or a process started: the config's
    fields, the base model folder, the warm-start file, the players it names (opponents,
    anchors, warm_start) and, for --device cuda, that a CUDA device is there."""
    from arena.errors import ArenaUsageError
    from arena.jobs import check_job_config, create_job, get_job, start_job
    from arena.train_config import parse_config

    data: dict[str, Any] = {k: v for k, v in opts.items() if v is not None}
    if games:
        data["games"] = list(games)
    if opponents:
        data["opponents"] = list(opponents)
    try:
        data.update(parse_params(extra))
    except ValueError as exc:
        raise ArenaUsageError(f"--set: {exc}") from None
    # JobError (an ArenaError) for anything wrong, before the database is touched
    config = parse_config(data)
    if not _db_path(ctx).exists():  # no database yet: only built-in bots are players
        check_job_config(config, None)
    db = open_store(ctx)
    job_id = create_job(db, config)  # checks again, with the registered players
    pid = start_job(db.path, job_id)  # type: ignore[attr-defined]
    job = get_job(db, job_id)
    if as_json:
        echo_json({"id": job.id, "name": job.name, "pid": pid, "log_path": job.log_path})
    else:
        say(f"started job {job.id} ({job.name}), pid {pid}; log: {job.log_path}")


def _latest(metrics: dict[str, list[tuple[int, float]]]) -> dict[str, dict[str, float]]:
    return {name: {"step": pts[-1][0], "value": pts[-1][1]} for name, pts in metrics.items()}


@train_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Every job, newest first (jobs whose process died are marked failed)."""
    from arena.jobs import list_jobs, mark_dead_jobs

    db = open_store(ctx)
    mark_dead_jobs(db)
    jobs = list_jobs(db)
    if as_json:
        echo_json([j.to_dict() for j in jobs])
        return
    if not jobs:
        say("no jobs yet: `arena train start --game kuhn_poker --base MODEL_DIR`")
        return
    width = max(len(j.name) for j in jobs)
    for j in jobs:
        games = ",".join(j.config.get("games", []))
        progress = f"{j.step}/{j.config.get('steps', '?')}"
        say(f"{j.id:>4}  {j.name:<{width}}  {j.status:<11}  {progress:>9}  {games}")


@train_group.command("show")
@click.argument("job")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, job: str, as_json: bool) -> None:
    """A job's config, status, step and latest metrics."""
    from arena.jobs import get_job, mark_dead_jobs, node_commands, read_metrics, thinking_collapse

    db = open_store(ctx)
    mark_dead_jobs(db)
    row = get_job(db, job)
    data = row.to_dict()
    data["node_commands"] = node_commands(row)
    metrics = read_metrics(db, row.id)
    data["latest_metrics"] = _latest(metrics)
    data["warning"] = thinking_collapse(metrics)
    if as_json:
        echo_json(data)
        return
    say(f"job {row.id} {row.name}: {row.status}, step {row.step}/{row.config.get('steps')}")
    if row.error:
        say(f"error: {row.error}")
    if data["warning"]:
        say(f"warning: {data['warning']}")
    for key in ("pid", "log_path", "created_at", "started_at", "finished_at"):
        if data[key] is not None:
            say(f"{key}: {data[key]}")
    for k, command in enumerate(data["node_commands"], start=1):
        say(f"on node {k}: {command}")
    say("config:")
    for key, value in row.config.items():
        say(f"  {key}: {value}")
    if data["latest_metrics"]:
        say("latest metrics:")
        for name, point in data["latest_metrics"].items():
            say(f"  {name}: {point['value']:.4g} (step {point['step']})")


@train_group.command("logs")
@click.argument("job")
@click.option("-n", "lines", type=int, default=50, show_default=True, help="Lines to show.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
@click.pass_context
def logs_command(ctx: click.Context, job: str, lines: int, follow: bool) -> None:
    """The tail of a job's log."""
    from arena.jobs import get_job, job_status, log_tail

    db = open_store(ctx)
    row = get_job(db, job)
    for line in log_tail(db, row.id, lines):
        say(line)
    if not follow or not row.log_path:
        return
    try:
        with open(row.log_path, "rb") as fh:
            fh.seek(0, 2)  # the tail is printed: follow from the end
            while True:
                chunk = fh.read()
                if chunk:
                    say(chunk.decode("utf-8", errors="replace"), nl=False)
                elif job_status(get_job(db, row.id)) != "running":
                    return
                else:
                    time.sleep(0.3)
    except KeyboardInterrupt:
        from arena.errors import EXIT_INTERRUPTED

        ctx.exit(EXIT_INTERRUPTED)  # the job runs on: only the following ended
    except FileNotFoundError:
        return


@train_group.command("stop")
@click.argument("job")
@click.option("--timeout", type=float, default=30, show_default=True, help="Seconds to wait.")
@click.pass_context
def stop_command(ctx: click.Context, job: str, timeout: float) -> None:
    """Stop a running job at its next step boundary (it saves a checkpoint first)."""
    from arena.jobs import get_job, stop_job

    db = open_store(ctx)
    status = stop_job(db, job, timeout_s=timeout)
    row = get_job(db, job)
    if status == "running":
        say(f"job {row.id} ({row.name}) was asked to stop; it stops after its current step")
    else:
        say(f"job {row.id} ({row.name}) {status} at step {row.step}")


@train_group.command("resume")
@click.argument("job")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def resume_command(ctx: click.Context, job: str, as_json: bool) -> None:
    """Start a stopped, interrupted or failed job again from its last checkpoint (the step
    reported; steps recorded after it are played again)."""
    from arena.jobs import get_job, resume_job, resume_point

    db = open_store(ctx)
    row = get_job(db, job)
    step = resume_point(row, db.path)  # type: ignore[attr-defined]
    pid = resume_job(db.path, row.id)  # type: ignore[attr-defined]
    if as_json:
        echo_json({"id": row.id, "name": row.name, "pid": pid, "step": step})
    else:
        say(f"resumed job {row.id} ({row.name}) from step {step}, pid {pid}")


@train_group.command("samples")
@click.argument("job")
@click.option(
    "--step",
    "steps",
    type=click.IntRange(min=0),
    multiple=True,
    help="A step whose replies to show (repeat; default: the first and the latest).",
)
@click.option(
    "-n", "limit", type=click.IntRange(min=1), help="Replies to show per step (default: all)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def samples_command(
    ctx: click.Context, job: str, steps: tuple[int, ...], limit: int | None, as_json: bool
) -> None:
    """The replies a generation-mode job sampled at some steps (step 0: the base model), to see
    how its reasoning changes. Lines of a samples file that cannot be read are skipped and
    counted."""
    from arena.jobs import (
        NO_SAMPLES,
        cut_reply,
        get_job,
        read_samples,
        sample_heading,
        sample_steps,
        step_title,
    )

    db = open_store(ctx)
    row = get_job(db, job)
    db_path = db.path  # type: ignore[attr-defined]
    if steps:
        chosen = sorted(set(steps))
    else:
        have = sample_steps(row, db_path)
        chosen = sorted({have[0], have[-1]}) if have else []
    found: dict[int, list[dict[str, Any]]] = {}
    skipped: dict[int, int] = {}
    total: dict[int, int] = {}
    for step in chosen:  # JobError (exit 1) for a step without samples, naming those with
        samples, bad = read_samples(row, db_path, step)
        found[step] = samples[:limit] if limit else samples
        skipped[step] = bad
        total[step] = len(samples)
    if as_json:
        echo_json({"job": row.name, "job_id": row.id, "steps": found, "skipped": skipped})
        return
    if not chosen:
        say(NO_SAMPLES.format(name=row.name))
        return
    steps_named = ("steps " if len(chosen) > 1 else "step ") + ", ".join(map(str, chosen))
    say(f"job {row.id} ({row.name}): replies sampled at {steps_named}")
    for step in chosen:
        say()
        say(f"== {step_title(step, total[step], skipped[step], len(found[step]))} ==")
        for sample in found[step]:
            say()
            say(f"-- {sample_heading(sample)}")
            say(cut_reply(sample["text"]))
