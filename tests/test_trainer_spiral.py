"""SPIRAL's and MARS's parts of the trainer, each shown doing what it says: role baselines that
track each seat's mean return, MARS's turn-level returns-to-go with per-role normalisation,
the filter of drawn games, and population self-play (the job's own checkpoints in its pool).
The token loss's mask and PPO's clip are shown in `test_trainer_generate.py`."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import pytest

from arena.train_config import TrainConfig, parse_config
from trainer.loss import Baselines, assign_advantages, drawn, turn_returns
from trainer.rollout import Episode


def _turn(seat: int, reward: float = 0.0):
    return SimpleNamespace(seat=seat, reward=reward, game_id="g")


def _episode(returns, turns, **kw) -> Episode:
    return Episode("g", 0, list(returns), list(turns), **kw)


# --- role-conditioned baselines (SPIRAL) ---------------------------------------------------
def test_the_baselines_track_each_seats_mean_return_on_a_game_with_known_odds():
    # Seat 0 wins 70% of the games (+1, the loser -1): the true mean returns are +0.4 and -0.4.
    rng = random.Random(5)
    baselines = Baselines(decay=0.95)
    for _ in range(400):
        batch = []
        for _ in range(16):
            win = 1.0 if rng.random() < 0.7 else -1.0
            batch.append(_episode([win, -win], [_turn(0), _turn(1)]))
        assign_advantages(batch, baselines)
    assert baselines.get("g/0") == pytest.approx(0.4, abs=0.06)
    assert baselines.get("g/1") == pytest.approx(-0.4, abs=0.06)


def test_advantages_are_read_before_the_batch_moves_the_baseline():
    baselines = Baselines(decay=0.5, values={"g/0": 1.0, "g/1": -1.0})
    batch = assign_advantages([_episode([1.0, -1.0], [_turn(0), _turn(1), _turn(0)])], baselines)
    assert [a for _, a in batch] == [0.0, 0.0, 0.0]  # at the baseline: no push either way
    batch = assign_advantages([_episode([-1.0, 1.0], [_turn(0), _turn(1)])], baselines)
    assert [a for _, a in batch] == [-2.0, 2.0]  # against the old baselines
    assert baselines.get("g/0") == 0.0 and baselines.get("g/1") == 0.0  # then moved halfway


def test_a_pool_opponents_seat_has_no_baseline_and_no_turns():
    ep = _episode([1.0, -1.0], [_turn(0)], opponent="random", opponent_seat=1)
    baselines = Baselines()
    batch = assign_advantages([ep], baselines)
    assert len(batch) == 1 and set(baselines.values) == {"g/0/vs-random"}


# --- MARS: turn-level returns-to-go ---------------------------------------------------------
def test_turn_returns_credit_each_turns_own_reward_and_discount_the_rest():
    # Seat 0: three turns, format rewards 0.1, 0, 0.1 (part of its return 1.2 = 1 + 0.2).
    turns = [_turn(0, 0.1), _turn(1, 0.05), _turn(0, 0.0), _turn(0, 0.1)]
    ep = _episode([1.2, -0.95], turns)
    assert turn_returns(ep, 0, gamma=1.0) == pytest.approx([1.2, 1.1, 1.1])
    # gamma 0.5: G2 = 0.1 + 1.0, G1 = 0 + 0.5 G2, G0 = 0.1 + 0.5 G1
    assert turn_returns(ep, 0, gamma=0.5) == pytest.approx([0.375, 0.55, 1.1])
    assert turn_returns(ep, 1, gamma=0.5) == pytest.approx([-0.95])
    assert turn_returns(_episode([0.0, 0.0], []), 0) == []


def test_turn_level_advantages_use_returns_to_go_against_a_per_turn_baseline():
    ep = _episode([1.0, -1.0], [_turn(0), _turn(1), _turn(0)])
    baselines = Baselines(decay=0.0)  # the baseline becomes the batch's mean at once
    batch = assign_advantages([ep], baselines, advantage="turn", gamma=0.5)
    # seat 0's turns: G = 0.5, 1.0 (the last one holds the whole return)
    assert [a for _, a in batch] == pytest.approx([0.5, 1.0, -1.0])
    assert baselines.get("g/0") == pytest.approx(0.75)  # mean return-to-go per turn
    batch = assign_advantages([ep], baselines, advantage="turn", gamma=0.5)
    assert [a for _, a in batch] == pytest.approx([-0.25, 0.25, 0.0])


def test_per_role_normalisation_gives_each_role_unit_spread():
    rng = random.Random(1)
    # Seat 0's returns spread ten times wider than seat 1's: each is scaled to unit spread.
    eps = [
        _episode([10 * rng.uniform(-1, 1), rng.uniform(-1, 1)], [_turn(0), _turn(1), _turn(0)])
        for _ in range(64)
    ]
    batch = assign_advantages(eps, Baselines(), normalize=True, advantage="turn", gamma=0.9)
    for seat in (0, 1):
        advs = [a for t, a in batch if t.seat == seat]
        rms = math.sqrt(sum(a * a for a in advs) / len(advs))  # (the baseline started at 0)
        assert rms == pytest.approx(1.0, abs=1e-3)


def test_an_unknown_estimator_is_refused():
    with pytest.raises(ValueError, match="estimator"):
        assign_advantages([], Baselines(), advantage="episode")


# --- draws -------------------------------------------------------------------------------
def test_a_draw_is_an_equal_result_without_a_forfeit_whatever_the_format_reward():
    assert drawn(_episode([0.0, 0.0], []))
    # the format reward shaped the returns apart; the game's own result was a draw
    assert drawn(_episode([0.3, 0.1], [], outcome=[0.0, 0.0]))
    assert not drawn(_episode([1.0, -1.0], []))
    # an illegal answer ended the game: penalised, not drawn (even with a penalty of 0)
    assert not drawn(_episode([0.0, 0.0], [], forfeit=True))


# --- in the trainer, on the tiny real Llama ----------------------------------------------
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _config(base, **kw) -> TrainConfig:
    defaults = dict(
        games=["tictactoe"],
        base=str(base),
        steps=1,
        batch_games=8,
        lr=1e-3,
        epsilon=0.5,
        seed=3,
        device="cpu",
        name="sp",
        include_rules=False,
        evaluate_start=False,
    )
    return TrainConfig(**{**defaults, **kw})


def test_filtered_draws_leave_the_loss_and_the_baselines(tiny_model_dir, tmp_path):
    from trainer.run import Trainer

    trainer = Trainer(_config(tiny_model_dir, filter_draws=True), tmp_path)
    try:
        from trainer.rollout import rollout

        episodes = rollout(
            trainer.policy, trainer.games, batch_games=24, seed=11, step=0, epsilon=1.0,
            loop=trainer.loop,
        )  # fmt: skip
        draws = [ep for ep in episodes if drawn(ep)]
        decisive = [ep for ep in episodes if not drawn(ep)]
        assert draws and decisive  # random tic-tac-toe has both
        batch = trainer.advantages(episodes)
        assert len(batch) == sum(len(ep.turns) for ep in decisive)
        assert {id(t) for t, _ in batch} == {id(t) for ep in decisive for t in ep.turns}
        # the baselines moved toward the decisive games' mean returns alone
        mean0 = sum(ep.returns[0] for ep in decisive) / len(decisive)
        assert trainer.baselines.get("tictactoe/0") == pytest.approx(0.1 * mean0)
    finally:
        trainer.close()


def test_a_config_with_a_population_and_no_pool_share_is_refused(tiny_model_dir):
    with pytest.raises(Exception, match="opponent_share"):
        parse_config(
            _config(tiny_model_dir, population=2, opponent_share=0.0).model_dump(mode="json")
            | {"population": 2}
        )


def _job_db(tmp_path, config: dict) -> tuple[object, int]:
    from arena.store import open_db, write
    from arena.store.schema import now

    path = tmp_path / "arena.db"
    db = open_db(path)
    with write(db):
        cur = db.conn.execute(
            "INSERT INTO jobs (name, status, config, log_path, created_at) VALUES (?, ?, ?, ?, ?)",
            ("sp", "running", json.dumps(config), str(tmp_path / "jobs" / "1.log"), now()),
        )
    db.conn.close()
    return path, cur.lastrowid


def _job_step(path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT step FROM jobs").fetchone()[0]


def _roles_by_step(path) -> dict[int, set[str]]:
    from arena.store import open_db

    db = open_db(path)
    out: dict[int, set[str]] = {}
    for step, name in db.conn.execute("SELECT step, name FROM job_metrics"):
        if name.startswith("reward/") and "/vs-" in name:
            out.setdefault(step, set()).add(name.split("/vs-")[1])
    db.conn.close()
    return out


def test_population_self_play_meets_the_jobs_latest_checkpoints_and_resumes_with_them(
    tiny_model_dir, tmp_path
):
    from trainer.run import run_job

    config = _config(
        tiny_model_dir,
        games=["kuhn_poker"],
        steps=4,
        checkpoint_every=1,
        population=2,
        opponent_share=1.0,
        epsilon=0.1,
    ).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    assert run_job(path, job_id, lambda: _job_step(path) >= 3) == 3  # a stop after step 3
    roles = _roles_by_step(path)
    # Step 1 meets the starting model only; step k meets checkpoints k-2 and k-1.
    assert roles[1] == {"sp@0"}
    assert roles[2] <= {"sp@0", "sp@1"} and "sp@1" in roles[2]
    assert roles[3] <= {"sp@1", "sp@2"} and "sp@2" in roles[3]
    # Resumed from checkpoint 3, the pool holds checkpoints 2 and 3 as it would have.
    assert run_job(path, job_id) == 4
    roles = _roles_by_step(path)
    assert roles[4] <= {"sp@2", "sp@3"} and "sp@3" in roles[4]


def test_generation_mode_trains_against_its_population_with_turn_level_returns(
    tiny_model_dir, tmp_path
):
    from trainer.run import run_job

    config = _config(
        tiny_model_dir,
        games=["kuhn_poker"],
        policy="generate",
        max_new_tokens=8,
        batch_games=4,
        steps=2,
        checkpoint_every=1,
        population=1,
        opponent_share=1.0,
        advantage="turn",
        gamma=0.9,
        normalize_advantages=True,
        filter_draws=True,
        format_reward=0.2,
    ).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    assert run_job(path, job_id) == 2
    roles = _roles_by_step(path)
    assert roles == {1: {"sp@0"}, 2: {"sp@1"}}  # one member: always the latest checkpoint
    from arena.store import open_db

    db = open_db(path)
    spec = json.loads(db.conn.execute("SELECT spec FROM players WHERE name = 'sp@0'").fetchone()[0])
    assert spec["decode"] == "free" and spec["prompt"]["reasoning"] == "think"  # as trained
    names = {n for (n,) in db.conn.execute("SELECT DISTINCT name FROM job_metrics")}
    assert {"invalid_rate", "drawn_rate", "loss"} <= names
