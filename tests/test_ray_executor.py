"""Tournaments on a Ray cluster (`executor = "ray"`), against a real local Ray cluster: the same
records and ratings as the local executor, a model loaded once per replica as an actor, and a
worker killed for real mid-tournament losing and duplicating nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'arena-games[ray]')")

from arena.specs import parse_spec  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.store.players import add_player  # noqa: E402
from arena.tournament.config import parse_config  # noqa: E402
from arena.tournament.runner import run_tournament  # noqa: E402
from arena.tournament.setup import create_tournament  # noqa: E402

TINY = Path(__file__).resolve().parents[1] / "assets" / "models" / "tictactoe-tiny.f32.gguf"


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _run(path: Path, config: dict, players: list[dict] = ()) -> tuple[list, list]:
    db = open_db(path)
    for spec in players:
        add_player(db, parse_spec(spec))
    tid = create_tournament(db, parse_config(config))
    out = asyncio.run(run_tournament(db, tid))
    assert out["status"] == "finished", out
    return _records(db), _ratings(db)


def _records(db) -> list:
    rows = db.conn.execute(
        "SELECT m.id, m.schedule_id, m.game, m.seed, m.status FROM matches m ORDER BY m.id"
    ).fetchall()
    out = []
    for mid, sid, game, seed, status in rows:
        moves = db.conn.execute(
            "SELECT idx, attempt, seat, action, reply FROM moves WHERE match_id = ? "
            "ORDER BY idx, attempt",
            (mid,),
        ).fetchall()
        results = db.conn.execute(
            "SELECT p.name, r.seat, r.outcome, r.return FROM results r "
            "JOIN players p ON p.id = r.player_id WHERE r.match_id = ? ORDER BY r.seat",
            (mid,),
        ).fetchall()
        out.append((sid, game, seed, status, moves, results))
    return out


def finished_once(db) -> tuple[int, int]:
    """(finished matches, distinct schedule slots among them): equal when none is stored twice."""
    return db.conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT schedule_id) FROM matches WHERE status = 'finished'"
    ).fetchone()


def _ratings(db) -> list:
    return db.conn.execute(
        "SELECT p.name, r.scope, round(r.mu, 9), round(r.sigma, 9), r.games FROM ratings r "
        "JOIN players p ON p.id = r.player_id ORDER BY p.name, r.scope"
    ).fetchall()


BOTS = {
    "games": ["tictactoe", "connect_four", "kuhn_poker", "liars_dice"],
    "players": ["random", "random-b"],
    "games_per_pair": 3,
    "concurrency": 4,
    "seed": 11,
}
RANDOM_B = {"name": "random-b", "kind": "bot", "bot": "random"}


def test_a_seeded_tournament_of_bots_gives_the_same_records_and_ratings_on_ray(
    cluster, tmp_path: Path
) -> None:
    local = _run(tmp_path / "local.db", BOTS, [RANDOM_B])
    on_ray = _run(tmp_path / "ray.db", {**BOTS, "executor": "ray"}, [RANDOM_B])
    assert len(local[0]) == 4 * 3
    assert on_ray == local
    # and at another concurrency
    again = _run(tmp_path / "ray1.db", {**BOTS, "executor": "ray", "concurrency": 1}, [RANDOM_B])
    assert again == local


def test_a_model_player_is_an_actor_loaded_once_and_plays_as_it_does_locally(
    cluster, tmp_path: Path
) -> None:
    tiny = {
        "name": "tiny",
        "kind": "llamacpp",
        "path": str(TINY),
        "decode": "score",
        "prompt": {"reasoning": "direct", "repeat_legal_moves": True},
        "sampling": {"temperature": 1.0},
    }
    config = {
        "games": ["tictactoe"],
        "players": ["tiny", "random"],
        "games_per_pair": 4,
        "concurrency": 4,
        "seed": 5,
    }
    local = _run(tmp_path / "local.db", config, [tiny])
    on_ray = _run(tmp_path / "ray.db", {**config, "executor": "ray", "model_cpus": 0}, [tiny])
    assert on_ray == local
    played = [r for r in on_ray[0] if any(name == "tiny" for name, *_ in r[5])]
    assert len(played) == 4 and all(r[4] for r in played)


def _running_match_worker() -> int | None:
    """A worker process running a match now: Ray titles a worker "ray::play_slot" while it
    runs that task."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::play_slot"):
            return int(entry.name)
    return None


def test_a_worker_killed_mid_tournament_loses_and_duplicates_nothing(
    cluster, tmp_path: Path
) -> None:
    config = {
        "games": [{"id": "connect_four", "params": {}}],
        "players": ["minimax", "random"],
        "games_per_pair": 6,
        "concurrency": 2,
        "seed": 2,
    }
    local = _run(tmp_path / "local.db", config)

    db = open_db(tmp_path / "ray.db")
    tid = create_tournament(db, parse_config({**config, "executor": "ray"}))
    killed: list[int] = []

    async def main() -> dict:
        run = asyncio.ensure_future(run_tournament(db, tid))
        deadline = time.monotonic() + 60
        while not killed and not run.done() and time.monotonic() < deadline:
            pid = await asyncio.to_thread(_running_match_worker)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)  # a real worker process, killed mid-match
                killed.append(pid)
            await asyncio.sleep(0.05)
        return await run

    out = asyncio.run(main())
    assert killed, "no match was seen running on a worker"
    assert out["status"] == "finished" and out["matches_played"] == 6
    assert finished_once(db) == (6, 6)  # nothing lost, nothing stored twice
    assert (_records(db), _ratings(db)) == local  # the re-run match is the same match


def test_an_api_players_concurrency_holds_across_the_cluster(cluster, fault_proxy, tmp_path):
    """Six matches at once on the cluster against one endpoint whose player allows two
    requests at a time: never more than two reach it."""
    from servers import Fault

    fault_proxy.reset()
    fault_proxy.default = Fault.delay(0.1)  # long enough for requests to overlap
    api = {
        "name": "api",
        "kind": "openai",
        "base_url": fault_proxy.base_url,
        "model": "tiny",
        "api_key_env": "",
        "concurrency": 2,
        "decode": "free",
        "prompt": {"reasoning": "direct"},
        "sampling": {"max_tokens": 4},
    }
    config = {
        "games": ["tictactoe"],
        "players": ["api", "random"],
        "games_per_pair": 6,
        "concurrency": 6,
        "seed": 9,
        "executor": "ray",
        "on_illegal": "random",
    }
    records, _ = _run(tmp_path / "ray.db", config, [api])
    assert len(records) == 6 and all(r[3] == "finished" for r in records)
    assert fault_proxy.count("/chat/completions") >= 6
    assert fault_proxy.max_in_flight == 2
