"""A tournament on a Ray cluster of several nodes on this machine (Ray's own `cluster_utils`):
a whole node killed mid-tournament (its raylet and every worker on it, not gracefully) loses no
finished match and duplicates none; the matches it was playing are re-run from their seeds on
the node that is left, so the records and ratings are those of the local executor."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'arena-games[ray]')")

from arena.store import open_db  # noqa: E402
from arena.tournament.config import parse_config  # noqa: E402
from arena.tournament.runner import run_tournament  # noqa: E402
from arena.tournament.setup import create_tournament  # noqa: E402
from tests.test_ray_executor import (  # noqa: E402
    _ratings,
    _records,
    _run,
    _running_match_worker,
    finished_once,
)


@pytest.fixture
def nodes():
    """A head that runs nothing and two worker nodes of one CPU each."""
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def _node_of(pid: int, workers) -> object | None:
    """The worker node whose raylet `pid` descends from."""
    raylets = {}
    for node in workers:
        for info in node.all_processes.get("raylet", []):
            raylets[info.process.pid] = node
    while pid > 1:
        if pid in raylets:
            return raylets[pid]
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
    return None


def test_a_node_killed_mid_tournament_loses_and_duplicates_nothing(nodes, tmp_path: Path) -> None:
    cluster, workers = nodes
    config = {
        "games": [{"id": "connect_four", "params": {}}],
        "players": ["minimax", "random"],
        "games_per_pair": 6,
        "concurrency": 2,
        "seed": 5,
    }
    local = _run(tmp_path / "local.db", config)

    db = open_db(tmp_path / "ray.db")
    tid = create_tournament(
        db, parse_config({**config, "executor": "ray", "address": cluster.address})
    )
    killed: list[object] = []

    async def main() -> dict:
        run = asyncio.ensure_future(run_tournament(db, tid))
        deadline = time.monotonic() + 90
        while not killed and not run.done() and time.monotonic() < deadline:
            pid = await asyncio.to_thread(_running_match_worker)
            node = _node_of(pid, workers) if pid is not None else None
            if node is not None:
                # The whole node, mid-match: its raylet and its workers, killed.
                raylet = node.all_processes["raylet"][0].process
                await asyncio.to_thread(cluster.remove_node, node, False)
                killed.append(raylet)
            await asyncio.sleep(0.05)
        return await run

    out = asyncio.run(main())
    assert killed, "no match was seen running on a worker node"
    assert killed[0].poll() is not None  # the node's raylet is dead
    assert out["status"] == "finished" and out["matches_played"] == 6
    assert finished_once(db) == (6, 6)  # nothing lost, nothing stored twice
    assert (_records(db), _ratings(db)) == local
