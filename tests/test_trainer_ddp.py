"""Training on several ranks (`ranks = 2`): the real trainer under torchrun on the gloo backend,
on the tiny model, started as `arena train start` starts it. A seeded job takes the same steps
on 1 and on 2 ranks (same losses within float tolerance), and a rank killed with SIGKILL
fails the job cleanly; `resume` starts it again the same way and finishes it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from arena.jobs import create_job, get_job, log_tail, start_job  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.train_config import TrainConfig  # noqa: E402

COMPARED = ("loss", "pg_loss", "entropy", "advantage", "grad_norm", "reward/kuhn_poker/0")


def _config(tiny_model_dir: Path, name: str, **kw) -> TrainConfig:
    base = dict(
        base=str(tiny_model_dir),
        steps=3,
        batch_games=6,
        checkpoint_every=3,
        name=name,
        device="cpu",
        games=["kuhn_poker"],
        lr=1e-3,
        seed=4,
        evaluate_start=False,
    )
    return TrainConfig(**(base | kw))


def _wait(db, job_id: int, until: tuple[str, ...] = ("finished", "failed"), timeout=240):
    deadline = time.monotonic() + timeout
    while get_job(db, job_id).status not in until:
        assert time.monotonic() < deadline, "\n".join(log_tail(db, job_id, 60))
        time.sleep(0.2)
    return get_job(db, job_id)


def _metrics(db, job_id: int) -> dict[tuple[int, str], float]:
    rows = db.conn.execute(
        "SELECT step, name, value FROM job_metrics WHERE job_id = ?", (job_id,)
    ).fetchall()
    return {(s, n): v for s, n, v in rows}


def assert_same_steps(a: dict, b: dict, steps: tuple[int, ...], names: tuple[str, ...]) -> None:
    """Jobs `a` and `b` (their `_metrics`) recorded the same values at `steps`, up to float
    rounding (different batching of the same passes)."""
    for step in steps:
        for name in names:
            assert b[(step, name)] == pytest.approx(a[(step, name)], rel=1e-4, abs=1e-6), (
                step,
                name,
            )


def test_a_seeded_job_takes_the_same_steps_on_one_and_two_ranks(tiny_model_dir, tmp_path):
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    one = create_job(db, _config(tiny_model_dir, "one"))
    two = create_job(db, _config(tiny_model_dir, "two", ranks=2))
    start_job(db_path, one)
    assert _wait(db, one).status == "finished", "\n".join(log_tail(db, one, 60))
    start_job(db_path, two)
    job = _wait(db, two)
    lines = log_tail(db, two, 200)
    assert (job.status, job.step) == ("finished", 3), "\n".join(lines)
    assert any("torch.distributed.run" in line and "--nproc-per-node=2" in line for line in lines)
    # rank 1 played its share of each step's 6 games (rank 0 the other 3)
    assert sum("rank 1 step" in line and ": 3 games here" in line for line in lines) == 3
    a, b = _metrics(db, one), _metrics(db, two)
    assert_same_steps(a, b, (1, 2, 3), COMPARED)
    # one writer: each step's metrics once, and the checkpoint registered once
    assert db.conn.execute(
        "SELECT COUNT(*) FROM job_metrics WHERE job_id = ? AND name = 'loss'", (two,)
    ).fetchone() == (3,)
    assert db.conn.execute("SELECT COUNT(*) FROM players WHERE name = 'two@3'").fetchone() == (1,)
    # the exact exploitability of both checkpoints agrees too
    assert b[(3, "exploitability/kuhn_poker")] == pytest.approx(
        a[(3, "exploitability/kuhn_poker")], abs=1e-4
    )


def _ranks(launcher: int) -> list[int]:
    """The trainer processes torchrun started (children of the launcher)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == launcher and b"trainer" in cmd:
            out.append(int(entry.name))
    return out


def _rank_of(pid: int) -> int:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for item in env:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return -1


def test_a_rank_killed_fails_the_job_cleanly_and_resume_finishes_it(tiny_model_dir, tmp_path):
    from arena.jobs import resume_job

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    job_id = create_job(db, _config(tiny_model_dir, "kill", ranks=2, steps=4, checkpoint_every=1))
    launcher = start_job(db_path, job_id)
    deadline = time.monotonic() + 180
    while get_job(db, job_id).step < 1:  # a checkpoint exists: there is something to resume
        assert time.monotonic() < deadline, "\n".join(log_tail(db, job_id, 60))
        assert get_job(db, job_id).status == "running", "\n".join(log_tail(db, job_id, 60))
        time.sleep(0.1)
    victim = next(p for p in _ranks(launcher) if _rank_of(p) == 1)
    os.kill(victim, signal.SIGKILL)  # rank 1 dies for real, mid-job
    job = _wait(db, job_id, until=("failed", "finished"))
    lines = "\n".join(log_tail(db, job_id, 200))
    assert job.status == "failed", lines
    assert job.error, lines  # the reason is recorded
    deadline = time.monotonic() + 30
    while _ranks(launcher):  # torchrun took the other rank down with it
        assert time.monotonic() < deadline, _ranks(launcher)
        time.sleep(0.1)
    resume_job(db_path, job_id)
    job = _wait(db, job_id)
    lines = "\n".join(log_tail(db, job_id, 400))
    assert (job.status, job.step) == ("finished", 4), lines
    assert lines.count("--nproc-per-node=2") == 2  # resumed the way it was launched
    steps = [
        s
        for (s,) in db.conn.execute(
            "SELECT step FROM job_metrics WHERE job_id = ? AND name = 'loss' ORDER BY step",
            (job_id,),
        )
    ]
    assert steps == [1, 2, 3, 4]  # no step lost, none recorded twice


def test_a_stop_reaches_every_rank_at_the_step_end_and_resume_goes_on(tiny_model_dir, tmp_path):
    from arena.jobs import resume_job, stop_job

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    job_id = create_job(db, _config(tiny_model_dir, "stop", ranks=2, steps=30, checkpoint_every=10))
    launcher = start_job(db_path, job_id)
    deadline = time.monotonic() + 180
    while get_job(db, job_id).step < 1:
        assert time.monotonic() < deadline, "\n".join(log_tail(db, job_id, 60))
        time.sleep(0.1)
    status = stop_job(db, job_id, timeout_s=120)
    lines = "\n".join(log_tail(db, job_id, 300))
    assert status in ("stopped", "interrupted"), lines
    job = get_job(db, job_id)
    assert 1 <= job.step < 30, lines
    assert not _ranks(launcher)  # both ranks ended (rank 1 learned of the stop from rank 0)
    assert (tmp_path / "jobs" / "stop" / f"step-{job.step}").is_dir()  # checkpoint at the stop
    resume_job(db_path, job_id)
    job = _wait(db, job_id, timeout=400)
    assert (job.status, job.step) == ("finished", 30), "\n".join(log_tail(db, job_id, 80))
