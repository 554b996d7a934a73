"""`python -m trainer --db PATH --job ID`: run one training job in this process.

Started detached by `arena.jobs.start_job`; stdout and stderr go to the job's log. The process
owns its job row while it runs: it marks itself running with its pid, and at the end `finished`,
`stopped` (after SIGTERM or SIGINT, at the next step boundary) or `failed` with the error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database


class _StopFlag:
    """Set by SIGTERM/SIGINT; the training loop polls it between steps."""

    def __init__(self) -> None:
        self.set = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        print(f"received signal {signum}: stopping at the end of this step", flush=True)
        self.set = True


def _fake_run(db: Database, job_id: int, should_stop: Callable[[], bool]) -> None:
    """A stand-in for `trainer.run.run_job`, ONLY for testing the process machinery
    (`ARENA_TRAINER_FAKE=1`): no model, one metric per step, 0.05 s a step, from the job's
    stored step up to its config's `steps`. `ARENA_TRAINER_FAKE_FAIL_AT=N` raises at step N."""
    from arena.jobs import get_job, record_metrics, set_job_state

    job = get_job(db, job_id)
    fail_at = int(os.environ.get("ARENA_TRAINER_FAKE_FAIL_AT", "0"))
    for step in range(job.step + 1, int(job.config["steps"]) + 1):
        if should_stop():
            return
        time.sleep(0.05)
        if step == fail_at:
            raise RuntimeError(f"fake failure at step {step}")
        record_metrics(db, job_id, step, {"reward": step / 10.0})
        set_job_state(db, job_id, step=step)
        print(f"step {step}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the job; the exit status is 0 when it finished or stopped, 1 when it failed."""
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument("--db", required=True, help="The arena database file.")
    parser.add_argument("--job", required=True, type=int, help="The job id.")
    args = parser.parse_args(argv)

    # first thing: a stop request that arrives while we load must not kill us mid-write
    flag = _StopFlag()
    signal.signal(signal.SIGTERM, flag.handle)
    signal.signal(signal.SIGINT, flag.handle)

    from arena.jobs import JobError, get_job, parse_config, pid_alive, set_job_state
    from arena.store import open_db
    from arena.store.schema import now

    db = open_db(args.db)
    try:
        job = get_job(db, args.job)
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    if job.status == "running" and job.pid not in (None, os.getpid()) and pid_alive(job.pid):
        print(f"error: job {job.name} is already run by pid {job.pid}", file=sys.stderr)
        return 2
    set_job_state(
        db,
        job.id,
        status="running",
        pid=os.getpid(),
        error=None,
        started_at=now(),
        finished_at=None,
    )
    print(f"--- {now()} trainer pid {os.getpid()} runs job {job.id} ({job.name})", flush=True)
    try:
        config = parse_config(job.config)  # a base folder may have gone since
        if os.environ.get("ARENA_TRAINER_FAKE") == "1":
            outcome = _fake_run(db, job.id, lambda: flag.set)
        else:
            _quiet_logging()
            from trainer.run import run_job

            outcome = run_job(args.db, job.id, should_stop=lambda: flag.set)
    except Exception as exc:
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        set_job_state(db, job.id, status="failed", error=error, finished_at=now())
        print(f"--- {now()} failed: {error}", flush=True)
        return 1
    # run_job may say how it ended; otherwise a stop before the last step is a stop
    if outcome not in ("stopped", "finished"):
        step = get_job(db, job.id).step
        outcome = "stopped" if flag.set and step < config.steps else "finished"
    set_job_state(db, job.id, status=outcome, finished_at=now())
    print(f"--- {now()} {outcome} at step {get_job(db, job.id).step}", flush=True)
    return 0


def _quiet_logging() -> None:
    """The log gets the trainer's own lines (steps, checkpoints, evaluations), not the
    libraries' progress bars."""
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout, force=True
    )
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


if __name__ == "__main__":
    sys.exit(main())
