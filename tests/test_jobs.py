"""Training jobs as real detached processes, against real database files.

The trainer runs with `ARENA_TRAINER_FAKE=1`: its stand-in loop writes one metric per step every
0.05 s, so these tests exercise the process machinery (spawn, signals, death, resume) and not
the learning algorithm.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from model_folders import stub_model_folder

from arena.cli import cli
from arena.jobs import (
    DIED,
    JobError,
    TrainConfig,
    create_job,
    get_job,
    job_status,
    list_jobs,
    log_tail,
    mark_dead_jobs,
    parse_config,
    pid_alive,
    read_metrics,
    record_metrics,
    resume_job,
    start_job,
    stop_job,
)
from arena.store import open_db

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def arena(tmp_path, monkeypatch):
    """A database path, a base folder, the fake trainer; kills leftover trainers at the end."""
    monkeypatch.setenv("ARENA_TRAINER_FAKE", "1")
    monkeypatch.delenv("ARENA_TRAINER_FAKE_FAIL_AT", raising=False)
    base = stub_model_folder(tmp_path / "base-model")
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    yield db_path, db, base
    for job in list_jobs(db):
        if job.pid and pid_alive(job.pid):
            os.kill(job.pid, signal.SIGKILL)
    db.conn.close()


def _log_steps(db, job_id: int) -> Counter[int]:
    """How many times the trainer logged each step."""
    lines = log_tail(db, job_id, 10_000)
    return Counter(int(line.split()[1]) for line in lines if line.startswith("step "))


def test_started_job_runs_records_metrics_and_stops_keeping_its_step(arena):
    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=10_000))
    assert get_job(db, job_id).status == "created"
    pid = start_job(db_path, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.pid) == ("running", pid)
    _wait_for(lambda: get_job(db, job_id).step >= 3, what="three steps")
    assert job_status(get_job(db, job_id)) == "running"
    rewards = read_metrics(db, job_id)["reward"]
    assert [s for s, _ in rewards[:3]] == [1, 2, 3]

    assert stop_job(db, job_id, timeout_s=10) == "stopped"
    job = get_job(db, job_id)
    assert job.status == "stopped" and job.finished_at is not None and job.error is None
    assert 3 <= job.step < 10_000
    assert not pid_alive(pid)
    # the step it kept is the last one it recorded: nothing half-done after the stop
    assert max(s for s, _ in read_metrics(db, job_id)["reward"]) == job.step
    time.sleep(0.2)
    assert get_job(db, job_id).step == job.step


def test_resume_continues_from_the_stored_step_without_repeating_steps(arena):
    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=25))
    start_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).step >= 3, what="three steps")
    assert stop_job(db, job_id, timeout_s=10) == "stopped"
    stopped_at = get_job(db, job_id).step
    assert stopped_at < 25

    new_pid = resume_job(db_path, job_id)
    assert get_job(db, job_id).pid == new_pid
    _wait_for(lambda: get_job(db, job_id).status == "finished", what="the job to finish")
    job = get_job(db, job_id)
    assert job.step == 25 and job.error is None
    steps = _log_steps(db, job_id)
    assert sorted(steps) == list(range(1, 26))
    assert set(steps.values()) == {1}, "a step ran twice"
    with pytest.raises(JobError, match="finished"):
        resume_job(db_path, job_id)


def test_killed_trainer_is_detected_and_marked_failed_with_the_error(arena):
    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=10_000))
    pid = start_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).step >= 2, what="two steps")
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not pid_alive(pid), what="the process to die")

    job = get_job(db, job_id)
    assert job.status == "running"  # nobody wrote anything yet...
    assert job_status(job) == "failed"  # ...but it is shown as failed
    assert mark_dead_jobs(db) == [job_id]
    job = get_job(db, job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error.startswith(DIED)
    last = [line for line in log_tail(db, job_id, 5) if line.strip()][-1]
    assert job.error == f"{DIED}: {last}"
    assert mark_dead_jobs(db) == []  # once

    # a failed job resumes from where it was
    kept = job.step
    resume_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).step > kept, what="a step after the resume")
    assert min(_log_steps(db, job_id).keys() - set(range(1, kept + 1))) == kept + 1


def test_an_exception_in_the_trainer_fails_the_job_with_type_message_and_traceback(
    arena, monkeypatch
):
    db_path, db, base = arena
    monkeypatch.setenv("ARENA_TRAINER_FAKE_FAIL_AT", "3")
    job_id = create_job(db, TrainConfig(base=str(base), steps=100))
    start_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).status != "running", what="the job to end")
    job = get_job(db, job_id)
    assert job.status == "failed"
    assert job.error == "RuntimeError: fake failure at step 3"
    assert job.step == 2
    assert any(line.startswith("Traceback") for line in log_tail(db, job_id, 100))


def test_a_job_whose_base_folder_vanished_fails_with_a_clear_error(arena):
    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=100))
    shutil.rmtree(base)
    start_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).status != "running", what="the job to end")
    job = get_job(db, job_id)
    assert job.status == "failed"
    assert "no model folder" in job.error and job.error.startswith("JobError")


def test_job_started_by_the_cli_survives_the_cli_exiting(arena):
    db_path, db, base = arena
    env = dict(os.environ, ARENA_TRAINER_FAKE="1")
    out = subprocess.run(
        [sys.executable, "-m", "arena.cli", "--db", str(db_path), "train", "start"]
        + ["--game", "tictactoe", "--base", str(base), "--steps", "10000", "--json"]
        + ["--opponent", "random", "--opponent", "minimax"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    started = json.loads(out.stdout)
    job = get_job(db, started["id"])
    assert job.name == f"tictactoe-{job.id}" and job.pid == started["pid"]
    # the CLI has exited: the trainer is not its child any more, yet it keeps stepping
    first = get_job(db, job.id).step
    _wait_for(lambda: get_job(db, job.id).step >= first + 3, what="steps after the CLI exited")
    assert pid_alive(job.pid)
    assert os.getsid(job.pid) == job.pid  # a session of its own: a closed terminal spares it

    runner = CliRunner()
    listed = runner.invoke(cli, ["--db", str(db_path), "train", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["status"] == "running"
    stopped = runner.invoke(cli, ["--db", str(db_path), "train", "stop", str(job.id)])
    assert stopped.exit_code == 0, stopped.output
    assert "stopped at step" in stopped.output
    shown = runner.invoke(cli, ["--db", str(db_path), "train", "show", job.name, "--json"])
    data = json.loads(shown.output)
    assert data["status"] == "stopped" and data["config"]["games"] == ["tictactoe"]
    assert data["config"]["opponents"] == ["random", "minimax"]
    assert data["latest_metrics"]["reward"]["step"] == data["step"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--game", "no_such_game"], "unknown game 'no_such_game'"),
        (["--base", "/definitely/not/here"], "no model folder"),
        (["--set", "warp_factor=9"], "unknown config field 'warp_factor'"),
        (["--set", "epsilon=2"], "epsilon"),
        (["--set", "oops"], "KEY=VALUE"),
        (["--set", "estimator=magic"], "estimator"),
        (["--set", "opponent_share=1.5"], "opponent_share"),
    ],
)
def test_bad_start_input_is_a_one_line_error_and_writes_nothing(tmp_path, args, message):
    base = stub_model_folder(tmp_path / "base")
    db_path = tmp_path / "arena.db"
    argv = ["--db", str(db_path), "train", "start", "--base", str(base), *args]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
    assert not db_path.exists()
    assert not (tmp_path / "jobs").exists()


def test_job_names_default_to_game_and_id_and_are_unique(arena):
    db_path, db, base = arena
    first = create_job(db, TrainConfig(base=str(base), games=["leduc_poker", "kuhn_poker"]))
    job = get_job(db, first)
    assert job.name == f"leduc_poker-{first}"
    assert job.log_path == str(db_path.parent.resolve() / "jobs" / f"{first}.log")
    named = create_job(db, TrainConfig(base=str(base), name="mine"))
    assert get_job(db, "mine").id == named == get_job(db, str(named)).id
    with pytest.raises(JobError, match="already exists"):
        create_job(db, TrainConfig(base=str(base), name="mine"))
    with pytest.raises(JobError, match="no job"):
        get_job(db, "nobody")
    assert [j.id for j in list_jobs(db)] == [named, first]


def test_config_is_stored_as_plain_json_and_validates_back(arena):
    _, db, base = arena
    config = parse_config(
        {"base": str(base), "algorithm": "ppo", "lora": True, "opponents": ["random"]}
    )
    job = get_job(db, create_job(db, config))
    row = next(iter(db.query("SELECT config FROM jobs WHERE id = ?", [job.id])))
    assert json.loads(row["config"]) == job.config
    assert job.config["base"] == str(base.resolve()) and job.config["name"] == job.name
    assert parse_config(job.config) == config.model_copy(update={"name": job.name})
    with pytest.raises(JobError, match="unknown config field 'nope'"):
        parse_config({**job.config, "nope": 1})


def test_stop_and_resume_refuse_jobs_in_the_wrong_state(arena):
    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=10_000))
    with pytest.raises(JobError, match="not running"):
        stop_job(db, job_id)
    start_job(db_path, job_id)
    with pytest.raises(JobError, match="already running"):
        resume_job(db_path, job_id)
    with pytest.raises(JobError, match="already running"):
        start_job(db_path, job_id)
    assert stop_job(db, job_id, timeout_s=10) == "stopped"


def test_metrics_skip_non_finite_values_and_can_be_read_from_a_step_on(arena):
    _, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base)))
    record_metrics(db, job_id, 1, {"loss": 2.0, "reward": float("nan")})
    record_metrics(db, job_id, 2, {"loss": 1.5, "reward": 0.25})
    record_metrics(db, job_id, 2, {"loss": 1.25})  # written again: replaces
    assert read_metrics(db, job_id) == {"loss": [(1, 2.0), (2, 1.25)], "reward": [(2, 0.25)]}
    assert read_metrics(db, job_id, since_step=1) == {"loss": [(2, 1.25)], "reward": [(2, 0.25)]}


def test_log_tail_returns_the_last_lines_of_a_large_log(arena):
    _, db, base = arena
    job = get_job(db, create_job(db, TrainConfig(base=str(base))))
    assert log_tail(db, job.id) == []  # not started yet: no file
    Path(job.log_path).write_text("".join(f"line {i} {'x' * 50}\n" for i in range(5000)))
    tail = log_tail(db, job.id, 3)
    assert tail == [f"line {i} {'x' * 50}" for i in (4997, 4998, 4999)]
    assert len(log_tail(db, job.id, 2000)) == 2000  # more than one 64 KiB block back


def test_importing_the_job_machinery_loads_no_model_library_or_trainer():
    code = (
        "import sys\n"
        "import arena.jobs, arena.commands.train\n"
        "heavy = ('torch', 'transformers', 'peft', 'textual', 'trainer')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
