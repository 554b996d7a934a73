"""Training jobs as real detached processes, against real database files.

The trainer runs with `ARENA_TRAINER_FAKE=1`: its stand-in loop writes one metric per step every
0.05 s, so these tests exercise the process machinery (spawn, signals, death, resume) and not
the learning algorithm.
"""

from __future__ import annotations

import json
import math
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
    create_job,
    get_job,
    job_status,
    list_jobs,
    log_tail,
    mark_dead_jobs,
    pid_alive,
    read_metrics,
    record_metrics,
    resume_job,
    start_job,
    stop_job,
)
from arena.store import open_db
from arena.train_config import TrainConfig, parse_config

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
        (["--set", "warp_factor=9"], "warp_factor is not a known setting"),
        (["--set", "epsilon=2"], "epsilon"),
        (["--set", "oops"], "KEY=VALUE"),
        (["--set", "estimator=magic"], "estimator"),
        (["--set", "opponent_share=1.5"], "opponent_share"),
        (["--opponent", "nobody"], "opponents: unknown player 'nobody'"),
        (["--set", 'anchors=["ghost"]'], "anchors: unknown player 'ghost'"),
        (["--lr", "inf"], "lr must be a finite number"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--set", "lr=Infinity"], "lr must be a finite number"),
        (["--lr", "-0.1"], "lr must be more than 0"),
        (["--lr", "0"], "lr must be more than 0"),
        (["--set", "warm_start_lr=NaN"], "warm_start_lr must be a finite number"),
        (["--set", "warm_start_file=/no/such/moves.jsonl"], "warm_start_file: no such file"),
        (["--steps", "0"], "steps must be at least 1"),
        (["--steps", "-5"], "steps must be at least 1"),
        (["--set", "batch_games=0"], "batch_games must be at least 1"),
        (["--set", "eval_games=-1"], "eval_games must be at least 0"),
        (["--checkpoint-every", "0"], "checkpoint_every"),
        (["--set", "games=[]"], "games needs at least 1 item"),
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
    with pytest.raises(JobError, match="nope is not a known setting"):
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
    skipped = record_metrics(
        db, job_id, 1, {"loss": 2.0, "reward": float("nan"), "kl": -math.inf, "x": None}
    )
    assert skipped == ["reward", "kl", "x"]
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


def _bad_base_folders(tmp_path: Path) -> list[tuple[Path, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    gguf_only = tmp_path / "gguf-only"
    gguf_only.mkdir()
    (gguf_only / "model.gguf").write_bytes(b"GGUF")
    no_weights = stub_model_folder(tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("hello")
    return [
        (empty, "base: "),
        (empty, "no config.json"),
        (gguf_only, "import-gguf"),
        (no_weights, "has no weights"),
        (not_a_model, "no model folder"),
    ]


def test_a_base_that_is_not_a_model_is_refused_naming_the_field(tmp_path):
    db_path = tmp_path / "arena.db"
    for base, message in _bad_base_folders(tmp_path):
        result = CliRunner().invoke(
            cli, ["--db", str(db_path), "train", "start", "--base", str(base)]
        )
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert "base: " in lines[0] and message in lines[0], lines[0]
    assert not db_path.exists()


def test_device_cuda_without_cuda_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import arena.jobs

    base = stub_model_folder(tmp_path / "base")
    db_path = tmp_path / "arena.db"
    monkeypatch.setattr(arena.jobs, "cuda_available", lambda: False)
    argv = ["--db", str(db_path), "train", "start", "--base", str(base), "--device", "cuda"]
    result = CliRunner().invoke(cli, argv)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "device: cuda was asked but no CUDA device is available" in lines[0]
    assert not db_path.exists()
    # the TUI's form goes through create_job, which makes the same check
    db = open_db(db_path)
    with pytest.raises(JobError, match="device: cuda"):
        create_job(db, TrainConfig(base=str(base), device="cuda"))
    assert list_jobs(db) == []


def test_the_cuda_probe_keeps_torch_out_of_the_asking_process():
    code = (
        "import os, sys\n"
        "os.environ['CUDA_VISIBLE_DEVICES'] = ''\n"  # no device, whatever the machine
        "from arena.jobs import cuda_available\n"
        "print(cuda_available(), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() in (["False", "False"], ["None", "False"])  # None: no torch


def test_named_players_must_be_bots_or_registered_and_active(arena):
    from arena.specs import parse_spec
    from arena.store.players import add_player, remove_player

    db_path, db, base = arena
    for name in ("old@1", "gone@1"):
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    db.conn.execute("UPDATE players SET retired_at = '2020-01-01' WHERE name = 'gone@1'")
    ok = create_job(db, TrainConfig(base=str(base), opponents=["random", "cfr", "old@1"]))
    assert get_job(db, ok).config["opponents"] == ["random", "cfr", "old@1"]
    for field, name, message in [
        ("opponents", "nobody", "opponents: unknown player 'nobody'"),
        ("anchors", "gone@1", "anchors: player 'gone@1' is retired"),
        ("warm_start", "ghost", "warm_start: unknown player 'ghost'"),
    ]:
        with pytest.raises(JobError, match=message):
            create_job(db, TrainConfig(base=str(base), **{field: [name]}))
    assert [j.id for j in list_jobs(db)] == [ok]
    # with a move file, warm_start names the file's players: they need no registration here
    moves = db_path.parent / "moves.jsonl"
    moves.write_text("")
    from_file = create_job(
        db, TrainConfig(base=str(base), warm_start=["ghost"], warm_start_file=str(moves))
    )
    assert get_job(db, from_file).config["warm_start_file"] == str(moves.resolve())
    # with a database, the CLI knows its registered players
    argv = ["--db", str(db_path), "train", "start", "--base", str(base), "--opponent", "old@1"]
    result = CliRunner().invoke(cli, [*argv, "--json"])
    assert result.exit_code == 0, result.output
    remove_player(db, "old@1")  # no matches: removed outright
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1 and "unknown player 'old@1'" in result.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_trainer_marks_the_job_interrupted_and_it_resumes(arena, signum):
    from arena.jobs import _CHILDREN, job_dir, list_checkpoints

    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=40, checkpoint_every=10))
    pid = start_job(db_path, job_id)
    _wait_for(lambda: get_job(db, job_id).step >= 3, what="three steps")
    os.kill(pid, signum)  # from outside, as a supervisor or a terminal would
    assert _CHILDREN[pid].wait(timeout=15) == 130  # interrupted: not a success
    job = get_job(db, job_id)
    assert job.status == "interrupted" and job.finished_at is not None and job.error is None
    assert job_status(job) == "interrupted" and mark_dead_jobs(db) == []
    # it saved a checkpoint where it stopped, so nothing is played twice after the resume
    assert list_checkpoints(job_dir(job))[-1][0] == job.step < 40

    runner = CliRunner()
    out = runner.invoke(cli, ["--db", str(db_path), "train", "resume", str(job_id), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["step"] == job.step
    _wait_for(lambda: get_job(db, job_id).status == "finished", what="the job to finish")
    assert get_job(db, job_id).step == 40
    steps = _log_steps(db, job_id)
    assert sorted(steps) == list(range(1, 41)) and set(steps.values()) == {1}
    assert [s for s, _ in read_metrics(db, job_id)["reward"]] == list(range(1, 41))


def test_resume_after_kill_9_between_checkpoints_reports_and_replays_from_the_checkpoint(
    arena, monkeypatch
):
    db_path, db, base = arena
    monkeypatch.setenv("ARENA_TEST_CRASH_AT", "after_step_metrics:7")
    job_id = create_job(db, TrainConfig(base=str(base), steps=12, checkpoint_every=5))
    pid = start_job(db_path, job_id)
    _wait_for(lambda: not pid_alive(pid), what="the crash at step 7")
    assert get_job(db, job_id).step == 7  # steps 6 and 7 are recorded but not checkpointed
    monkeypatch.delenv("ARENA_TEST_CRASH_AT")

    runner = CliRunner()
    out = runner.invoke(cli, ["--db", str(db_path), "train", "resume", str(job_id)])
    assert out.exit_code == 0, out.output
    assert "from step 5," in out.output  # where it resumes, not the last step it recorded
    _wait_for(lambda: get_job(db, job_id).status == "finished", what="the job to finish")
    job = get_job(db, job_id)
    assert job.step == 12 and job.error is None
    steps = _log_steps(db, job_id)
    assert sorted(steps) == list(range(1, 13))
    assert {s for s, n in steps.items() if n == 2} == {6, 7}  # played again, from step 5
    assert [s for s, _ in read_metrics(db, job_id)["reward"]] == list(range(1, 13))


def test_a_job_log_and_its_folder_are_private_whatever_the_umask(arena):
    db_path, db, base = arena
    job_id = create_job(db, TrainConfig(base=str(base), steps=2))
    old = os.umask(0o022)
    try:
        start_job(db_path, job_id)
    finally:
        os.umask(old)
    _wait_for(lambda: job_status(get_job(db, job_id)) != "running", what="the job to end")
    log = Path(get_job(db, job_id).log_path)
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.parent.stat().st_mode & 0o777 == 0o700
