"""Fully sharded training (`parallel = "fsdp"`): the real trainer under torchrun on gloo, two
ranks, the tiny model, generation mode. The same seeded job takes the same steps sharded as
on DDP (same losses within float tolerance), its checkpoint holds the whole model and plays,
and a sharded job killed with SIGKILL resumes from its checkpoint (the optimizer's gathered
state loaded back into the shards) into the same steps as one that never stopped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from arena.jobs import create_job, get_job, log_tail, pid_alive, resume_job, start_job  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.train_config import (
    JobError,  # noqa: E402
    parse_config,  # noqa: E402
)
from tests.test_trainer_ddp import (  # noqa: E402
    COMPARED,
    _config,
    _metrics,
    _wait,
    assert_same_steps,
)
from trainer.crash import ENV as CRASH_ENV  # noqa: E402

# Odd games and one reply per micro-batch: the ranks make different numbers of loss passes.
GENERATE = dict(policy="generate", max_new_tokens=8, ranks=2, batch_games=5, loss_micro_tokens=1)


def test_a_sharded_job_takes_the_same_steps_as_ddp_and_checkpoints_the_whole_model(
    tiny_model_dir, tmp_path
):
    from safetensors.torch import load_file

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    ddp = create_job(db, _config(tiny_model_dir, "ddp", **GENERATE))
    fsdp = create_job(db, _config(tiny_model_dir, "fsdp", parallel="fsdp", **GENERATE))
    for job_id in (ddp, fsdp):
        start_job(db_path, job_id)
        job = _wait(db, job_id)
        assert (job.status, job.step) == ("finished", 3), "\n".join(log_tail(db, job_id, 80))
    shares = [line for line in log_tail(db, fsdp, 400) if "fsdp: rank" in line]
    assert len(shares) == 2, shares  # each rank holds about half of the weights
    for line in shares:
        here, whole = (
            int(w) for w in line.split(" holds ")[1].split(" trained")[0].split(" of the ")
        )
        assert 0.4 * whole < here < 0.6 * whole, line
    assert any("idle passes" in line for line in log_tail(db, fsdp, 400))  # evened
    a, b = _metrics(db, ddp), _metrics(db, fsdp)
    assert_same_steps(a, b, (1, 2, 3), COMPARED)
    assert b[(3, "sync_time_s")] >= 0  # the play copy was given the weights each step
    # The checkpoints hold the same whole models (not shards) and both register as players.
    folders = [Path(tmp_path / "jobs" / name / "step-3") for name in ("ddp", "fsdp")]
    weights = [load_file(str(f / "model.safetensors")) for f in folders]
    assert sorted(weights[0]) == sorted(weights[1])
    for key, tensor in weights[0].items():
        assert weights[1][key].shape == tensor.shape
        assert (weights[1][key] - tensor).abs().max().item() < 1e-4, key
    assert db.conn.execute(
        "SELECT COUNT(*) FROM players WHERE name IN ('ddp@3', 'fsdp@3')"
    ).fetchone() == (2,)


def test_a_sharded_job_killed_resumes_into_the_same_steps(tiny_model_dir, tmp_path, monkeypatch):
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    config = dict(parallel="fsdp", steps=4, checkpoint_every=2, **GENERATE)
    whole = create_job(db, _config(tiny_model_dir, "whole", **config))
    start_job(db_path, whole)
    assert _wait(db, whole).status == "finished", "\n".join(log_tail(db, whole, 80))
    # The same job, rank 0 killed with SIGKILL after step 3 (its checkpoint is step 2's).
    cut = create_job(db, _config(tiny_model_dir, "cut", **config))
    monkeypatch.setenv(CRASH_ENV, "after_step_metrics:3")
    launcher = start_job(db_path, cut)
    deadline = time.monotonic() + 240
    while pid_alive(launcher):  # torchrun ends when a rank dies
        assert time.monotonic() < deadline, "\n".join(log_tail(db, cut, 80))
        time.sleep(0.2)
    monkeypatch.delenv(CRASH_ENV)
    lines = "\n".join(log_tail(db, cut, 200))
    assert f"{CRASH_ENV}=after_step_metrics:3" in lines, lines
    assert get_job(db, cut).status == "running"  # killed: nobody wrote its end
    resume_job(db_path, cut)
    job = _wait(db, cut)
    lines = "\n".join(log_tail(db, cut, 200))
    assert (job.status, job.step) == ("finished", 4), lines
    assert "resuming cut from" in lines and "(step 2)" in lines
    a, b = _metrics(db, whole), _metrics(db, cut)
    assert_same_steps(a, b, (3, 4), COMPARED)


def test_fsdp_is_refused_where_it_does_not_apply(tiny_model_dir) -> None:
    base = dict(base=str(tiny_model_dir), games=["kuhn_poker"])
    with pytest.raises(JobError, match="it needs ranks 2 or more"):
        parse_config({**base, "policy": "generate", "parallel": "fsdp"})
    with pytest.raises(JobError, match="score mode's small models train with ddp"):
        parse_config({**base, "ranks": 2, "parallel": "fsdp"})
    with pytest.raises(JobError, match="with lora, use ddp"):
        parse_config({**base, "ranks": 2, "parallel": "fsdp", "policy": "generate", "lora": True})
