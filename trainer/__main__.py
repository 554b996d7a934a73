"""`python -m trainer --db PATH --job ID`: run one training job in this process.

Started detached by `arena.jobs.start_job`; stdout and stderr go to the job's log. The process
owns its job row while it runs: it claims it (running, with its pid), and at the end records
`finished`, `interrupted` (after SIGTERM or SIGINT: at the next step boundary, with a checkpoint;
a second signal ends it at once, from the last checkpoint) or `failed` with the error. The exit
status is 0 finished, 130 interrupted, 1 failed, 2 refused (no such job, or running elsewhere).
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

from arena.safe_text import visible

if TYPE_CHECKING:
    from sqlite_utils import Database

EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130  # arena.errors.EXIT_INTERRUPTED (imported late: the handler comes first)


class _HardStop(BaseException):
    """A second SIGTERM/SIGINT: stop now, without the step's checkpoint."""


class _StopFlag:
    """Set by SIGTERM/SIGINT; the training loop polls it between steps. A second signal
    raises `_HardStop` wherever the trainer is (transactions roll back; a checkpoint being
    written stays under its temporary name)."""

    def __init__(self) -> None:
        self.set = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.set:
            print(f"received signal {signum} again: stopping now", flush=True)
            raise _HardStop
        print(f"received signal {signum}: stopping at the end of this step", flush=True)
        self.set = True


def _fake_run(db: Database, job_id: int, should_stop: Callable[[], bool]) -> int:
    """A stand-in for `trainer.run.run_job`, ONLY for testing the process machinery
    (`ARENA_TRAINER_FAKE=1`): no model, one metric per step, 0.05 s a step. Like the real one
    it resumes from its latest checkpoint (an empty `step-N/` folder with the state file,
    every `checkpoint_every` steps, at the last step and when stopping), recording steps after
    it again. `ARENA_TRAINER_FAKE_FAIL_AT=N` raises at step N; `ARENA_TEST_CRASH_AT=
    after_step_metrics:N` kills it after step N's metrics. Returns the step reached."""
    from pathlib import Path

    from arena.jobs import CHECKPOINT_STATE_FILE, get_job, job_dir, record_metrics, resume_point
    from arena.store.jobs import rewind_job
    from trainer.crash import crash_point

    job = get_job(db, job_id)
    folder, steps = job_dir(job), int(job.config["steps"])
    every = int(job.config.get("checkpoint_every", 25))
    step = resume_point(job)
    rewind_job(db, job_id, step)
    fail_at = int(os.environ.get("ARENA_TRAINER_FAKE_FAIL_AT", "0"))

    def save(step: int) -> None:
        tmp = Path(folder) / f"step-{step}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / CHECKPOINT_STATE_FILE).write_text(str(step))
        tmp.rename(Path(folder) / f"step-{step}")

    while step < steps:
        time.sleep(0.05)
        step += 1
        if step == fail_at:
            raise RuntimeError(f"fake failure at step {step}")
        record_metrics(db, job_id, step, {"reward": step / 10.0}, set_step=True)
        print(f"step {step}", flush=True)
        crash_point("after_step_metrics", step)
        stopping = should_stop()
        if step % every == 0 or step == steps or stopping:
            save(step)
        if stopping:
            break
    return step


def main(argv: list[str] | None = None) -> int:
    """Run the job; the exit status says how it ended (see the module's doc)."""
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument(
        "--db", help="The arena database file (rank 0's; the other ranks are sent the job)."
    )
    parser.add_argument("--job", required=True, type=int, help="The job id.")
    args = parser.parse_args(argv)

    # first thing: a stop request that arrives while we load must not kill us mid-write
    flag = _StopFlag()
    signal.signal(signal.SIGTERM, flag.handle)
    signal.signal(signal.SIGINT, flag.handle)

    from arena.jobs import JobError, get_job, job_config, pid_alive
    from arena.store import open_db
    from arena.store.jobs import claim_job, end_job
    from arena.store.schema import now

    if int(os.environ.get("RANK", "0")) > 0:
        return _other_rank(flag)
    if args.db is None:
        parser.error("--db is required (rank 0 holds the job's database)")
    # Under torchrun the job belongs to the launcher (the process `arena` started, and the
    # parent of every rank); stop requests come to rank 0 through its pid file.
    ranked = int(os.environ.get("WORLD_SIZE", "1")) > 1
    me = os.getppid() if ranked else os.getpid()
    db = open_db(args.db)
    try:
        job = get_job(db, args.job)
    except JobError as exc:
        print(f"error: {visible(str(exc))}", file=sys.stderr, flush=True)
        return EXIT_REFUSED
    other = claim_job(db, job.id, me, alive=pid_alive)
    if other is not None:
        print(f"error: job {job.name} is already run by pid {other}", file=sys.stderr, flush=True)
        return EXIT_REFUSED
    print(f"--- {now()} trainer pid {me} runs job {job.id} ({visible(job.name)})", flush=True)
    if ranked:
        from arena.jobs import RANK0_PID_FILE, job_dir

        folder = job_dir(job, args.db)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RANK0_PID_FILE).write_text(str(os.getpid()))
    steps = int(job.config.get("steps", 0))
    try:
        config = job_config(job)  # as `arena train start` checked it: a base folder may have gone
        if os.environ.get("ARENA_TRAINER_FAKE") == "1":
            reached = _fake_run(db, job.id, lambda: flag.set)
        else:
            _quiet_logging()
            from trainer.distributed import from_env
            from trainer.run import run_job

            dist = from_env()  # under torchrun: rank 0 of the job's ranks
            reached = run_job(
                args.db, job.id, should_stop=lambda: flag.set, config=config, dist=dist
            )
    except _HardStop:
        reached = -1
    except Exception as exc:
        _ignore_signals()  # the last write is not cut short
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        end_job(db, job.id, "failed", pid=me, error=error)
        print(f"--- {now()} failed: {visible(error)}", flush=True)
        return EXIT_FAILED
    _ignore_signals()
    # a signal before the last step is an interruption; after it the job is done anyway
    interrupted = flag.set and reached < steps
    outcome = "interrupted" if interrupted else "finished"
    end_job(db, job.id, outcome, pid=me)
    print(f"--- {now()} {outcome} at step {get_job(db, job.id).step}", flush=True)
    return EXIT_INTERRUPTED if interrupted else 0


def _other_rank(flag: _StopFlag) -> int:
    """A rank other than 0 under torchrun, on this machine or another: trains its share from
    what rank 0 sends, never opens the database, owns nothing (rank 0 claims the job and
    records how it ended). A failure here is printed to the log and ends this process; rank
    0's next collective then fails and records it."""
    from trainer.distributed import from_env
    from trainer.run import follow_job

    rank = os.environ.get("RANK")
    try:
        _quiet_logging()
        follow_job(from_env(), should_stop=lambda: flag.set)
    except _HardStop:
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        print(f"rank {rank} failed", flush=True)
        return EXIT_FAILED
    return 0


def _ignore_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _quiet_logging() -> None:
    """The log gets the trainer's own lines (steps, checkpoints, evaluations), not the
    libraries' progress bars."""
    import logging

    class VisibleFormatter(logging.Formatter):
        """Log lines quote replies and server messages: their control characters are written
        escaped, so that `tail -f` on the log is as safe as `arena train logs`."""

        def format(self, record: logging.LogRecord) -> str:
            return visible(super().format(record))

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(VisibleFormatter("%(asctime)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


if __name__ == "__main__":
    sys.exit(main())
