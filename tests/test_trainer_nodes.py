"""A training job on several machines (`nodes = 2`), both nodes on this machine: node 0 is
started by `arena train start` and holds the database; node 1 runs the command `arena train
show` prints for it, from another folder, with no database path at all. The job takes the same
steps as on one process (same losses within float tolerance), with its opponent pool and
population sent by rank 0."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402

from arena.cli import cli  # noqa: E402
from arena.jobs import create_job, get_job, log_tail, node_commands, start_job  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.train_config import JobError, parse_config  # noqa: E402
from tests.test_trainer_ddp import (  # noqa: E402
    COMPARED,
    _config,
    _metrics,
    _wait,
    assert_same_steps,
)

ROOT = Path(__file__).resolve().parents[1]
POOL = dict(opponents=["random"], opponent_share=0.5, population=1, steps=3, checkpoint_every=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_job_on_two_nodes_takes_the_steps_of_one_process(tiny_model_dir, tmp_path):
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    one = create_job(db, _config(tiny_model_dir, "one", **POOL))
    start_job(db_path, one)
    assert _wait(db, one).status == "finished", "\n".join(log_tail(db, one, 60))

    master = f"127.0.0.1:{_free_port()}"
    two = create_job(db, _config(tiny_model_dir, "two", nodes=2, master=master, **POOL))
    (command,) = node_commands(get_job(db, two), sys.executable)
    assert "--node-rank=1" in command and "--db" not in command  # node 1 gets no database
    shown = CliRunner().invoke(cli, ["--db", str(db_path), "train", "show", "two"])
    assert "on node 1: " in shown.output and "--node-rank=1" in shown.output, shown.output
    start_job(db_path, two)
    elsewhere = tmp_path / "node1"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with (elsewhere / "out.log").open("w") as out:
        node1 = subprocess.Popen(
            shlex.split(command), cwd=elsewhere, stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            job = _wait(db, two, timeout=300)
        finally:
            node1.wait(timeout=120)
    node1_log = (elsewhere / "out.log").read_text()
    lines = "\n".join(log_tail(db, two, 300))
    assert (job.status, job.step) == ("finished", 3), lines + "\n" + node1_log
    assert node1.returncode == 0, node1_log
    assert "on node 1 run:" in lines and "--nnodes=2" in lines
    assert node1_log.count("rank 1 step") == 3  # node 1 trained every step
    assert "population: two@0 joined the pool" in node1_log  # sent by rank 0
    a, b = _metrics(db, one), _metrics(db, two)
    assert_same_steps(a, b, (1, 2, 3), COMPARED)


def test_several_nodes_need_the_address_of_node_0(tiny_model_dir) -> None:
    base = dict(base=str(tiny_model_dir), games=["kuhn_poker"])
    with pytest.raises(JobError, match="nodes above 1 need master: HOST:PORT"):
        parse_config({**base, "nodes": 2})
    with pytest.raises(JobError, match="nodes above 1 need master"):
        parse_config({**base, "nodes": 2, "master": "no port"})
    assert parse_config({**base, "nodes": 2, "master": "10.0.0.5:29500"}).master == "10.0.0.5:29500"
