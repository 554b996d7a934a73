"""What a killed trainer leaves behind, and what resuming makes of it: the real `python -m
trainer` on the tiny model, killed with SIGKILL at a named point (`ARENA_TEST_CRASH_AT`, see
trainer/crash.py) and resumed with `arena train resume`.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")

from arena.cli import cli  # noqa: E402
from arena.jobs import (  # noqa: E402
    create_job,
    get_job,
    job_dir,
    list_checkpoints,
    log_tail,
    pid_alive,
    read_metrics,
    start_job,
)
from arena.store import open_db  # noqa: E402
from arena.train_config import TrainConfig  # noqa: E402


def _wait_for(predicate, db, job_id, timeout: float = 180.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: " + "\n".join(log_tail(db, job_id, 40)))


@pytest.fixture
def job(tiny_model_dir, tmp_path, monkeypatch):
    """start(crash_at, **config) -> (db_path, db, job_id) once the trainer killed itself there."""
    monkeypatch.delenv("ARENA_TRAINER_FAKE", raising=False)
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)

    def start(crash_at: str, **config):
        defaults = dict(games=["kuhn_poker"], batch_games=4, device="cpu", include_rules=False)
        job_id = create_job(db, TrainConfig(base=str(tiny_model_dir), **{**defaults, **config}))
        monkeypatch.setenv("ARENA_TEST_CRASH_AT", crash_at)
        pid = start_job(db_path, job_id)
        _wait_for(lambda: not pid_alive(pid), db, job_id, what=f"the crash at {crash_at}")
        monkeypatch.delenv("ARENA_TEST_CRASH_AT")
        lines = log_tail(db, job_id, 200)
        assert any(f"ARENA_TEST_CRASH_AT={crash_at}" in line for line in lines), lines
        assert get_job(db, job_id).status == "running"  # killed: nobody wrote its end
        return db_path, db, job_id

    yield start
    db.conn.close()


def _resume(db_path, db, job_id) -> int:
    """`arena train resume`; returns the step it reports, once the job has finished."""
    out = CliRunner().invoke(cli, ["--db", str(db_path), "train", "resume", str(job_id), "--json"])
    assert out.exit_code == 0, out.output
    reported = json.loads(out.output)["step"]
    _wait_for(
        lambda: get_job(db, job_id).status not in ("created", "running"),
        db,
        job_id,
        what="the resumed job to end",
    )
    job = get_job(db, job_id)
    assert (job.status, job.error) == ("finished", None), log_tail(db, job_id, 60)
    return reported


def _players(db, prefix: str) -> dict[str, str | None]:
    rows = db.conn.execute(
        "SELECT name, parent FROM players WHERE name LIKE ? ORDER BY id", (f"{prefix}@%",)
    )
    return dict(rows.fetchall())


def _metric_steps(db, job_id, name: str) -> list[int]:
    return [s for s, _ in read_metrics(db, job_id).get(name, [])]


def test_a_checkpoint_renamed_into_place_before_a_kill_is_registered_on_resume_once(job):
    db_path, db, job_id = job("after_checkpoint_rename:1", steps=2, checkpoint_every=1, name="kr")
    row = get_job(db, job_id)
    assert [s for s, _ in list_checkpoints(job_dir(row))] == [1]
    assert _players(db, "kr") == {}  # the folder is there, the player is not
    assert _metric_steps(db, job_id, "loss") == [1]  # the step's own metrics were kept
    # only the starting model's, measured as step 0 before training
    assert _metric_steps(db, job_id, "exploitability/kuhn_poker") == [0]

    assert _resume(db_path, db, job_id) == 1
    assert _players(db, "kr") == {"kr@1": None, "kr@2": "kr@1"}  # each once, chained
    assert get_job(db, job_id).step == 2
    assert _metric_steps(db, job_id, "loss") == [1, 2]
    # the checkpoint's own work was completed on resume
    assert _metric_steps(db, job_id, "exploitability/kuhn_poker") == [0, 1, 2]
    lines = log_tail(db, job_id, 200)
    assert sum("registered checkpoint kr@1, left unregistered" in line for line in lines) == 1

    # registering again (a later resume) changes nothing
    from arena.store.jobs import register_checkpoint_player

    assert not register_checkpoint_player(db, job_name="kr", step=1, kind="bot", spec={})
    assert _players(db, "kr") == {"kr@1": None, "kr@2": "kr@1"}


def test_an_evaluation_killed_midway_is_completed_on_resume_without_repeating_a_match(job):
    db_path, db, job_id = job(
        "during_evaluation",
        steps=1,
        checkpoint_every=1,
        eval_games=6,
        evaluate_start=False,  # the checkpoint's evaluation is the one killed
        name="ke",
    )
    tournaments = db.conn.execute(
        "SELECT id, name, status FROM tournaments WHERE name LIKE 'eval ke@1 on %'"
    ).fetchall()
    assert len(tournaments) == 1 and tournaments[0][2] == "running"  # its process is dead
    tid = tournaments[0][0]
    scheduled = db.conn.execute(
        "SELECT COUNT(*) FROM schedule WHERE tournament_id = ?", (tid,)
    ).fetchone()[0]
    played = db.conn.execute(
        "SELECT COUNT(*) FROM matches WHERE tournament_id = ? AND status = 'finished'", (tid,)
    ).fetchone()[0]
    assert 1 <= played < scheduled  # (more matches than run at once: the kill cuts it short)
    assert not any(n.startswith("eval/") for n in read_metrics(db, job_id))

    assert _resume(db_path, db, job_id) == 1
    # the same tournament played on: no second evaluation, no match lost or played twice
    after = db.conn.execute(
        "SELECT id, status FROM tournaments WHERE name LIKE 'eval ke@1 on %'"
    ).fetchall()
    assert after == [(tid, "finished")]
    per_slot = Counter(
        r[0]
        for r in db.conn.execute(
            "SELECT schedule_id FROM matches WHERE tournament_id = ? AND status = 'finished'",
            (tid,),
        )
    )
    assert len(per_slot) == scheduled and set(per_slot.values()) == {1}
    metrics = read_metrics(db, job_id)
    assert metrics["eval/kuhn_poker/random/games"] == [(1, 6.0)]
    assert [s for s, _ in metrics["rating/kuhn_poker/mu"]] == [1]
    assert _players(db, "ke") == {"ke@1": None}


def test_resume_after_a_kill_between_checkpoints_reports_the_checkpoints_step(job):
    db_path, db, job_id = job("after_step_metrics:3", steps=4, checkpoint_every=2, name="kc")
    assert get_job(db, job_id).step == 3  # recorded, but the last checkpoint is step 2
    assert _resume(db_path, db, job_id) == 2
    assert get_job(db, job_id).step == 4
    assert _metric_steps(db, job_id, "loss") == [1, 2, 3, 4]
    assert _players(db, "kc") == {"kc@2": None, "kc@4": "kc@2"}
    steps = Counter(
        int(line.split(" step ")[1].split()[0])
        for line in log_tail(db, job_id, 300)
        if " step " in line and " loss " in line
    )
    assert steps == {1: 1, 2: 1, 3: 2, 4: 1}  # step 3 played again from checkpoint 2


def test_a_stop_during_an_evaluation_leaves_it_for_the_resumed_run(tiny_model_dir, tmp_path):
    """In process: `should_stop` turns true once the first evaluation match is stored; the run
    ends, and the next run completes that evaluation before it trains on."""
    from trainer.run import run_job

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    config = TrainConfig(
        base=str(tiny_model_dir),
        steps=2,
        batch_games=4,
        checkpoint_every=1,
        eval_games=6,  # more matches than run at once: the stop comes midway
        evaluate_start=False,  # the checkpoint's evaluation is the one stopped
        device="cpu",
        include_rules=False,
        name="ks",
    )
    job_id = create_job(db, config)

    def evaluating() -> bool:
        return db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] > 0

    assert run_job(db_path, job_id, should_stop=evaluating) == 1
    first = db.conn.execute("SELECT id, status FROM tournaments").fetchall()
    assert len(first) == 1 and first[0][1] == "interrupted"
    played = db.conn.execute("SELECT COUNT(*) FROM matches WHERE status = 'finished'")
    assert 1 <= played.fetchone()[0] < 12
    assert not any(n.startswith("eval/") for n in read_metrics(db, job_id))

    assert run_job(db_path, job_id) == 2
    names = [r[0] for r in db.conn.execute("SELECT name FROM tournaments ORDER BY id")]
    assert names == ["eval ks@1 on kuhn_poker", "eval ks@2 on kuhn_poker"]
    statuses = {r[0] for r in db.conn.execute("SELECT status FROM tournaments")}
    assert statuses == {"finished"}
    metrics = read_metrics(db, job_id)
    assert [s for s, _ in metrics["rating/kuhn_poker/mu"]] == [1, 2]
    doubles = db.conn.execute(
        "SELECT COUNT(*) FROM (SELECT schedule_id FROM matches WHERE status = 'finished' "
        "GROUP BY schedule_id HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    assert doubles == 0


def test_sigterm_to_the_real_trainer_interrupts_at_a_checkpoint_and_resume_finishes(
    tiny_model_dir, tmp_path, monkeypatch
):
    import os
    import signal

    from arena.jobs import _CHILDREN

    monkeypatch.delenv("ARENA_TRAINER_FAKE", raising=False)
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    config = TrainConfig(
        base=str(tiny_model_dir),
        steps=8,
        batch_games=4,
        checkpoint_every=100,
        device="cpu",
        include_rules=False,
        name="kt",
    )
    job_id = create_job(db, config)
    pid = start_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).step >= 1, db, job_id, what="a first step")
    os.kill(pid, signal.SIGTERM)
    assert _CHILDREN[pid].wait(timeout=120) == 130
    job = get_job(db, job_id)
    assert job.status == "interrupted" and 1 <= job.step < 8, log_tail(db, job_id, 40)
    # it checkpointed the step it stopped at: the resume plays no step twice
    assert list_checkpoints(job_dir(job))[-1][0] == job.step
    assert _players(db, "kt") == {f"kt@{job.step}": None}
    assert _resume(db_path, db, job_id) == job.step
    assert _metric_steps(db, job_id, "loss") == list(range(1, 9))
    assert _players(db, "kt") == {f"kt@{job.step}": None, "kt@8": f"kt@{job.step}"}
    db.conn.close()
