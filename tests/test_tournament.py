"""Tournaments end to end on real SQLite files: formats, resume after stop and after kill -9,
multi-player seat rotation, and every bad input refused before anything is written."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from arena.leaderboard import leaderboard
from arena.store import open_db
from arena.store.queries import list_matches
from arena.tournament.config import ConfigError, parse_config
from arena.tournament.runner import TournamentError, run_tournament, summary
from arena.tournament.setup import create_tournament


def _register(db, name: str, bot: str = "random") -> None:
    from arena.specs import parse_spec
    from arena.store.players import add_player

    add_player(db, parse_spec({"name": name, "kind": "bot", "bot": bot}))


def _run(db, tid, **kw):
    return asyncio.run(run_tournament(db, tid, **kw))


def _config(**data):
    base = {"games": ["tictactoe"], "players": ["random", "minimax"], "games_per_pair": 4}
    base.update(data)
    return parse_config(base)


def _finished_per_slot(db, tid) -> Counter:
    return Counter(
        r[0]
        for r in db.conn.execute(
            "SELECT schedule_id FROM matches WHERE tournament_id = ? AND status = 'finished'",
            (tid,),
        )
    )


def test_round_robin_plays_every_pair_both_seats_with_shared_seeds(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    _register(db, "r1")
    config = _config(players=["random", "cfr", "r1"], games=["kuhn_poker"], games_per_pair=2)
    tid = create_tournament(db, config)
    out = _run(db, tid)
    assert out["status"] == "finished"
    assert out["matches_played"] == 6 and out["played_this_run"] == 6
    matches = list_matches(db, tournament=tid)
    pairs = Counter(tuple(m["players"]) for m in matches)
    expected = [("random", "cfr"), ("random", "r1"), ("cfr", "r1")]
    assert pairs == Counter(expected + [(b, a) for a, b in expected])
    by_pair: dict[frozenset, set[int]] = {}
    for m in matches:
        by_pair.setdefault(frozenset(m["players"]), set()).add(m["seed"])
    assert all(len(seeds) == 1 for seeds in by_pair.values())  # the mirrored game shares a seed
    assert summary(db, tid)["pending"] == 0


def test_stop_then_resume_finishes_with_exact_counts(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    tid = create_tournament(db, _config(games_per_pair=40, concurrency=4))
    stop = asyncio.Event()
    seen = []

    def progress(p):
        seen.append(p.done)
        if p.done >= 10:
            stop.set()

    out = _run(db, tid, stop=stop, on_progress=progress)
    assert out["status"] == "interrupted"
    first = out["matches_played"]
    assert 10 <= first < 40
    # in-flight matches were stored as aborted, unrated, and their slots stay pending
    aborted = list_matches(db, tournament=tid, status="aborted")
    assert all(not m["rated"] for m in aborted)
    out = _run(db, tid)
    assert out["status"] == "finished" and out["matches_played"] == 40
    counts = _finished_per_slot(db, tid)
    assert len(counts) == 40 and set(counts.values()) == {1}
    rated = db.conn.execute(
        "SELECT games FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE p.name = 'minimax' AND scope = 'tictactoe'"
    ).fetchone()[0]
    assert rated == 40


def test_resume_after_kill_9_loses_and_repeats_no_match(tmp_path: Path) -> None:
    db_path = tmp_path / "kill.db"
    env = dict(os.environ, ARENA_DB=str(db_path))
    cmd = [
        sys.executable,
        "-m",
        "arena.cli",
        "tournament",
        "run",
        "--game",
        "tictactoe",
        "--player",
        "random",
        "--player",
        "minimax",
        "--games-per-pair",
        "4000",
        "--concurrency",
        "4",
        "--quiet",
        "--json",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    played = 0
    while time.time() < deadline:
        time.sleep(0.3)
        if db_path.exists():
            try:
                db = open_db(db_path)
                played = db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]
                db.close()
            except Exception:
                played = 0
        if played >= 50:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db = open_db(db_path)
    before = db.conn.execute("SELECT COUNT(*) FROM matches WHERE status = 'finished'").fetchone()[0]
    assert 50 <= before < 4000
    assert summary(db, 1)["status"] == "interrupted"  # the dead process is noticed
    out = subprocess.run(
        [sys.executable, "-m", "arena.cli", "tournament", "resume", "1", "--json", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "finished" and data["matches_played"] == 4000
    counts = _finished_per_slot(db, 1)
    assert len(counts) == 4000 and set(counts.values()) == {1}
    assert data["played_this_run"] == 4000 - before


def test_multi_player_games_rotate_seats_and_rate_teams(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    for n in ("r1", "r2", "r3"):
        _register(db, n)
    config = _config(
        players=["random", "r1", "r2", "r3"],
        games=[{"id": "spy", "params": {"num_players": 4}}],
        games_per_pair=4,
    )
    tid = create_tournament(db, config)
    out = _run(db, tid)
    assert out["matches_played"] == 4
    seats = Counter()
    for m in list_matches(db, tournament=tid):
        for seat, name in enumerate(m["players"]):
            seats[(name, seat)] += 1
    assert all(seats[(n, s)] == 1 for n in ("random", "r1", "r2", "r3") for s in range(4))
    # civilians share an outcome: per match, the three civilians' outcomes are equal
    for m in list_matches(db, tournament=tid):
        assert sorted(Counter(m["outcomes"]).values()) == [1, 3]


@pytest.mark.parametrize("fmt", ["swiss", "ladder", "gauntlet"])
def test_other_formats_run_to_the_end(tmp_path: Path, fmt: str) -> None:
    db = open_db(tmp_path / "a.db")
    extra = {
        "swiss": {"rounds": 2},
        "ladder": {"matches": 12, "min_games": 2},
        "gauntlet": {"challenger": "cfr"},
    }[fmt]
    _register(db, "rnd2")
    _register(db, "rnd3")
    players = ["random", "cfr", "rnd3"] if fmt != "gauntlet" else ["random", "rnd3"]
    config = _config(
        format=fmt, players=players + ["rnd2"], games=["kuhn_poker"], games_per_pair=2, **extra
    )
    tid = create_tournament(db, config)
    out = _run(db, tid)
    assert out["status"] == "finished"
    matches = list_matches(db, tournament=tid)
    if fmt == "swiss":
        assert out["matches_played"] == 2 * 2 * 2  # 2 rounds x 2 pairs x 2 games
        rounds = {
            r[0]
            for r in db.conn.execute("SELECT round FROM schedule WHERE tournament_id = ?", (tid,))
        }
        assert rounds == {1, 2}
    elif fmt == "ladder":
        assert out["matches_played"] == 12
        games = Counter(n for m in matches for n in m["players"])
        assert min(games.values()) >= 2  # the floor
    else:
        assert all("cfr" in m["players"] for m in matches)
        assert out["matches_played"] == 3 * 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"games": ["nosuchgame"]}, "unknown game 'nosuchgame'"),
        ({"players": ["random", "ghost"]}, "unknown player 'ghost'"),
        ({"games": ["kuhn_poker"], "players": ["random", "minimax"]}, "cannot play kuhn_poker"),
        ({"games": ["liars_dice"], "format": "swiss"}, None),
        (
            {
                "player": [{"name": "m", "kind": "llamacpp", "path": "/nope/model.gguf"}],
                "players": ["random", "m"],
            },
            "does not exist",
        ),
        (
            {
                "player": [
                    {
                        "name": "api",
                        "kind": "openai",
                        "model": "x",
                        "api_key_env": "ARENA_TEST_UNSET_KEY",
                    }
                ],
                "players": ["random", "api"],
            },
            "ARENA_TEST_UNSET_KEY is not set",
        ),
        ({"format": "gauntlet"}, "needs a challenger"),
        ({"games_per_pair": 0}, "games_per_pair"),
        ({"surprise": 1}, "surprise is not a known setting"),
    ],
)
def test_bad_config_is_refused_before_anything_is_written(tmp_path: Path, data, message) -> None:
    db = open_db(tmp_path / "a.db")
    os.environ.pop("ARENA_TEST_UNSET_KEY", None)
    with pytest.raises(ConfigError) as info:
        create_tournament(db, _config(**data))
    if message:
        assert message in str(info.value)
    assert "\n" not in str(info.value)
    for table in ("tournaments", "schedule", "matches"):
        assert db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    assert db.conn.execute("SELECT COUNT(*) FROM players WHERE builtin = 0").fetchone()[0] == 0


def test_two_tournaments_and_a_reader_share_one_database(tmp_path: Path) -> None:
    db_path = tmp_path / "shared.db"
    env = dict(os.environ, ARENA_DB=str(db_path))
    open_db(db_path).close()
    run = [
        sys.executable,
        "-m",
        "arena.cli",
        "tournament",
        "run",
        "--game",
        "tictactoe",
        "--player",
        "random",
        "--player",
        "minimax",
        "--games-per-pair",
        "300",
        "--json",
        "--quiet",
    ]
    reader = (
        "import time\n"
        "from arena.store import open_db\n"
        "from arena.leaderboard import leaderboard\n"
        "from arena.store.queries import list_matches\n"
        f"db = open_db({str(db_path)!r})\n"
        "end = time.time() + 3\n"
        "while time.time() < end:\n"
        "    leaderboard(db, 'tictactoe'); list_matches(db, limit=50)\n"
    )
    procs = [
        subprocess.Popen(
            run + ["--seed", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            run + ["--seed", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [sys.executable, "-c", reader],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "locked" not in err
    results = [json.loads(out) for out, _ in outs[:2]]
    assert sorted(r["id"] for r in results) == [1, 2]
    assert all(r["matches_played"] == 300 for r in results)
    db = open_db(db_path)
    games_rated = db.conn.execute(
        "SELECT games FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE p.name = 'random' AND scope = 'tictactoe'"
    ).fetchone()[0]
    assert games_rated == 600


def test_a_llamacpp_model_plays_a_tournament_with_its_replies_stored(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    db = open_db(tmp_path / "a.db")
    config = parse_config(
        {
            "games": ["tictactoe"],
            "players": ["random", "tiny"],
            "games_per_pair": 2,
            "concurrency": 2,
            "player": [
                {
                    "name": "tiny",
                    "kind": "llamacpp",
                    "path": str(tiny_gguf),
                    "decode": "constrained",
                    "prompt": {"reasoning": "direct"},
                    "sampling": {"max_tokens": 8},
                },
            ],
        }
    )
    tid = create_tournament(db, config)
    out = _run(db, tid)
    assert out["status"] == "finished" and out["matches_played"] == 2
    rows = db.conn.execute(
        "SELECT mv.prompt, mv.reply, mv.legal, mv.prompt_tokens FROM moves mv JOIN players p "
        "ON p.id = mv.player_id WHERE p.name = 'tiny'"
    ).fetchall()
    assert rows and all(json.loads(r[0])[-1]["role"] == "user" for r in rows)
    assert all(r[2] == 1 and r[3] > 0 for r in rows)  # constrained: always legal; tokens counted
    board = {p["name"]: p for p in leaderboard(db, "tictactoe")["players"]}
    assert board["tiny"]["games"] == 2 and board["tiny"]["tokens"] > 0


def test_demo_without_the_shipped_model_makes_and_plays_the_tiny_model(
    tmp_path: Path, tiny_gguf: Path, monkeypatch
) -> None:
    import shutil

    from click.testing import CliRunner

    from arena.cli import cli

    monkeypatch.setattr("arena.models.demo.shipped_model_path", lambda: None)
    monkeypatch.setattr("arena.models.real.real_model_path", lambda: None)

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_gguf, models / "tiny-demo.f32.gguf")
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(tmp_path / "demo.db"),
            "demo",
            "--models-dir",
            str(models),
            "--games-per-pair",
            "2",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert "tiny-demo" in result.stdout and "minimax" in result.stdout
    db = open_db(tmp_path / "demo.db")
    assert (
        db.conn.execute("SELECT COUNT(*) FROM matches WHERE status = 'finished'").fetchone()[0] == 6
    )


def test_matches_that_end_in_error_are_retried_on_resume_then_failed_never_rated(
    tmp_path: Path,
) -> None:
    db = open_db(tmp_path / "a.db")
    dead = {
        "name": "dead-api",
        "kind": "openai",
        "model": "m",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": None,
        "max_retries": 0,
        "timeout_s": 2,
    }
    config = _config(
        players=["random", "dead-api"], games_per_pair=2, max_error_tries=2, player=[dead]
    )
    tid = create_tournament(db, config)
    out = _run(db, tid)
    assert out["status"] == "interrupted" and out["errors_this_run"] == 2
    assert out["matches_played"] == 0 and out["pending"] == 2
    errors = list_matches(db, tournament=tid, status="error")
    assert len(errors) == 2 and all("dead-api" in m["error"] for m in errors)
    out = _run(db, tid)  # resume: retried once more, then given up
    assert out["errors_this_run"] == 2 and out["failed"] == 2 and out["pending"] == 0
    assert out["status"] == "finished"  # with failures, shown in the summary
    with pytest.raises(TournamentError, match="finished"):
        _run(db, tid)  # nothing left to retry
    assert db.conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0
    assert db.conn.execute("SELECT COUNT(*) FROM matches WHERE rated = 1").fetchone()[0] == 0
    # no error was turned into a move: the dead player's attempts are absent
    assert (
        db.conn.execute(
            "SELECT COUNT(*) FROM moves mv JOIN players p ON p.id = mv.player_id WHERE p.name = 'dead-api'"
        ).fetchone()[0]
        == 0
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_cleanly_marks_interrupted_exits_130_and_resume_completes(
    tmp_path: Path, signum: int
) -> None:
    total = 3000
    db_path = tmp_path / "int.db"
    env = dict(os.environ, ARENA_DB=str(db_path))
    cmd = [
        sys.executable,
        "-m",
        "arena.cli",
        "tournament",
        "run",
        "--game",
        "tictactoe",
        "--player",
        "random",
        "--player",
        "minimax",
        "--games-per-pair",
        str(total),
        "--json",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            db = open_db(db_path)
            n = db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]
            db.close()
        except Exception:
            n = 0
        if n >= 50:
            break
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # interrupted, not a success
    assert "stopping" in err
    data = json.loads(out)
    assert data["status"] == "interrupted" and 50 <= data["matches_played"] < total
    db = open_db(db_path)
    # stored as interrupted by the process itself (not inferred from a dead pid)
    row = db.conn.execute("SELECT status, pid FROM tournaments WHERE id = 1").fetchone()
    assert row == ("interrupted", None)
    # nothing half-written: every stored match has its seats, and finished ones their moves
    assert (
        db.conn.execute(
            "SELECT COUNT(*) FROM matches m WHERE (SELECT COUNT(*) FROM results r WHERE r.match_id = m.id) != 2"
        ).fetchone()[0]
        == 0
    )
    assert (
        db.conn.execute(
            "SELECT COUNT(*) FROM matches WHERE status = 'aborted' AND rated = 1"
        ).fetchone()[0]
        == 0
    )
    assert summary(db, 1)["pending"] == total - data["matches_played"]

    resumed = subprocess.run(
        [sys.executable, "-m", "arena.cli", "tournament", "resume", "1", "--json", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["status"] == "finished" and again["matches_played"] == total
    assert again["played_this_run"] == total - data["matches_played"]
    counts = _finished_per_slot(db, 1)
    assert len(counts) == total and set(counts.values()) == {1}  # none lost, none twice
    rated = db.conn.execute(
        "SELECT games FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE p.name = 'minimax' AND scope = 'tictactoe'"
    ).fetchone()[0]
    assert rated == total


def test_pause_holds_new_matches_and_resume_continues_with_events(tmp_path: Path) -> None:
    from arena.match import MatchEnded, MovePlayed

    db = open_db(tmp_path / "a.db")
    tid = create_tournament(db, _config(games_per_pair=12, concurrency=2))
    go, events = asyncio.Event(), []
    go.set()
    paused_at: list[int] = []

    def progress(p) -> None:
        if p.done >= 4 and not paused_at:
            go.clear()
        if p.paused and p.in_flight == 0 and not paused_at:
            paused_at.append(p.done)

    async def main():
        task = asyncio.ensure_future(
            run_tournament(
                db,
                tid,
                go=go,
                on_progress=progress,
                on_match_event=lambda slot, e: events.append((slot.id, e)),
            )
        )
        while not paused_at:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        held = db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]
        go.set()
        out = await task
        return held, out

    held, out = asyncio.run(main())
    assert held == paused_at[0] and 4 <= held < 12  # nothing started while paused
    assert out["status"] == "finished" and out["matches_played"] == 12
    ended = {slot for slot, e in events if isinstance(e, MatchEnded)}
    assert len(ended) == 12
    assert any(isinstance(e, MovePlayed) for _, e in events)
