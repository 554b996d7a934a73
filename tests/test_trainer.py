"""The self-play trainer: policy scoring, rollouts, advantages, loss, checkpoints, the job loop.

All on the tiny real Llama (`tiny_model_dir`), on CPU, with kuhn_poker's small batches.
"""

from __future__ import annotations

import json
import math
import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import games  # noqa: E402
from arena.players.base import Turn  # noqa: E402
from arena.prompts import PromptOptions, build_messages  # noqa: E402
from arena.train_config import TrainConfig  # noqa: E402
from games.analysis import exploitability  # noqa: E402
from trainer.checkpoint import latest_checkpoint, load_training_state  # noqa: E402
from trainer.loss import Baselines, assign_advantages, policy_loss  # noqa: E402
from trainer.policy import ActionPolicy, exact_exploitability  # noqa: E402
from trainer.rollout import Episode, TurnRecord, choose, rollout  # noqa: E402
from trainer.run import Trainer, run_job  # noqa: E402


def _first_decision(game_id: str, chance_pick: int = 0):
    game = games.make(game_id)
    state = game.new_initial_state()
    while state.current_player() < 0:
        outcomes = state.chance_outcomes()
        state.apply(outcomes[min(chance_pick, len(outcomes) - 1)][0])
    return game, state


def _direct_scores(model, tok, game, state) -> list[float]:
    """Each legal action's log-probability as the assistant's reply, one full forward per
    candidate: the plain computation the batched, prefix-shared one must agree with."""
    turn = Turn(
        game, state.clone(), state.current_player(), state.legal_actions(), random.Random(0), 0
    )
    messages = build_messages(turn, PromptOptions(reasoning="direct"))
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt = tok.encode(text, add_special_tokens=False)
    out = []
    for action in state.legal_actions():
        cand = tok.encode(action, add_special_tokens=False)
        with torch.no_grad():
            logits = model(torch.tensor([prompt + cand])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        out.append(sum(logp[len(prompt) - 1 + k, t].item() for k, t in enumerate(cand)))
    return out


@pytest.mark.parametrize("game_id", ["kuhn_poker", "tictactoe"])
def test_policy_probabilities_sum_to_one_and_match_a_direct_computation(tiny, game_id):
    model, tok = tiny
    policy = ActionPolicy(model, tok, temperature=1.5)
    game, state = _first_decision(game_id)
    probs = policy.policy_fn(game)(state)
    assert list(probs) == state.legal_actions()
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
    direct = _direct_scores(model, tok, game, state)
    top = max(d / 1.5 for d in direct)
    weights = [math.exp(d / 1.5 - top) for d in direct]
    expected = [w / sum(weights) for w in weights]
    assert list(probs.values()) == pytest.approx(expected, abs=1e-5)
    pos = policy.position_for_state(game, state)
    with torch.no_grad():
        (scores,) = policy.scores([pos])
    assert scores.tolist() == pytest.approx(direct, abs=1e-4)


def test_batched_scores_agree_with_scoring_each_position_alone(tiny):
    model, tok = tiny
    policy = ActionPolicy(model, tok)
    game = games.make("kuhn_poker")
    positions = []
    for pick, history in [(0, []), (2, []), (1, ["check"]), (0, ["bet"])]:
        # Other cards and histories: prompts of different lengths, padded differently.
        _, state = _first_decision("kuhn_poker", pick)
        for action in history:
            state.apply(action)
        positions.append(policy.position_for_state(game, state))
    assert len({len(p.prompt) for p in positions}) > 1
    with torch.no_grad():
        together = policy.scores(positions)
        alone = [policy.scores([p])[0] for p in positions]
    for a, b in zip(together, alone, strict=True):
        assert a.tolist() == pytest.approx(b.tolist(), abs=1e-4)


def test_exploitability_of_the_untrained_tiny_model_on_kuhn_is_exact(tiny):
    model, tok = tiny
    game = games.make("kuhn_poker")
    value = exact_exploitability(ActionPolicy(model, tok), game)
    assert 0.0 < value < 1.0
    # The same figure from the analysis module asking a fresh policy one state at a time.
    assert value == pytest.approx(exploitability(game, ActionPolicy(model, tok).policy_fn(game)))


def test_choose_reports_the_epsilon_mixture_probability():
    rng = random.Random(3)
    draws = [choose([0.9, 0.1], rng, 0.2) for _ in range(4000)]
    for index, prob in draws:
        assert prob == pytest.approx(0.8 * [0.9, 0.1][index] + 0.2 / 2)
    share = sum(1 for i, _ in draws if i == 1) / len(draws)
    assert share == pytest.approx(0.8 * 0.1 + 0.1, abs=0.03)


def test_rollout_records_every_decision_of_every_seat(tiny):
    model, tok = tiny
    policy = ActionPolicy(model, tok)
    game = games.make("kuhn_poker")
    episodes = rollout(policy, [game], batch_games=6, seed=1, step=0, epsilon=0.3)
    assert len(episodes) == 6
    assert len({ep.seed for ep in episodes}) == 6
    for ep in episodes:
        assert sum(ep.returns) == pytest.approx(0.0)
        assert 2 <= len(ep.turns) <= 3  # kuhn: two or three bets and checks
        assert {t.seat for t in ep.turns} == {0, 1}
        for t in ep.turns:
            assert t.position.actions[t.chosen] in ("check", "bet", "call", "fold")
            assert 0 < t.behaviour_prob <= 1 and 0 < t.policy_prob <= 1
    # Same seed and step, same model: the same games.
    again = rollout(policy, [game], batch_games=6, seed=1, step=0, epsilon=0.3)
    assert [e.returns for e in again] == [e.returns for e in episodes]


def test_baselines_follow_each_seats_mean_return_and_give_advantages():
    def ep(returns):
        turns = [TurnRecord("g", s, None, 0, 1.0, 1.0) for s in range(2)]  # type: ignore[arg-type]
        return Episode("g", 0, returns, turns)

    baselines = Baselines(decay=0.5)
    batch = assign_advantages([ep([1.0, -1.0]), ep([2.0, -2.0])], baselines)
    # Advantages use the baseline before the batch (0), then b = 0.5 * 0 + 0.5 * mean.
    assert [a for _, a in batch] == [1.0, -1.0, 2.0, -2.0]
    assert baselines.values == {"g/0": 0.75, "g/1": -0.75}
    batch = assign_advantages([ep([0.0, 0.0])], baselines)
    assert [a for _, a in batch] == [-0.75, 0.75]
    assert baselines.values == {"g/0": 0.375, "g/1": -0.375}
    normed = assign_advantages([ep([1.0, -1.0]), ep([-1.0, 1.0])], Baselines(), normalize=True)
    assert [a for _, a in normed] == pytest.approx([1.0, -1.0, -1.0, 1.0], abs=1e-5)


@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_a_few_steps_change_the_parameters_and_lower_the_loss_on_a_fixed_batch(
    tiny_model_dir, algorithm
):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = ActionPolicy(model, tok)
    game = games.make("kuhn_poker")
    episodes = rollout(policy, [game], batch_games=8, seed=0, step=0, epsilon=0.2)
    batch = assign_advantages(episodes, Baselines())
    assert any(a != 0 for _, a in batch)
    before = [p.detach().clone() for p in model.parameters()]
    # Small steps: one Adam step of 1e-4 already moves this tiny policy by over 20%.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        stats = policy_loss(policy, batch, algorithm=algorithm, entropy_coef=0.01)
        losses.append(stats.loss)
        opt.step()
    final = policy_loss(policy, batch, algorithm=algorithm, entropy_coef=0.01, backward=False)
    assert final.loss < losses[0]
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert changed > 0


def test_kl_to_the_reference_is_zero_for_the_reference_itself(tiny):
    model, tok = tiny
    policy = ActionPolicy(model, tok)
    episodes = rollout(policy, [games.make("kuhn_poker")], batch_games=4, seed=2, step=0)
    batch = assign_advantages(episodes, Baselines())
    with torch.no_grad():
        stats = policy_loss(
            policy, batch, kl_coef=1.0, reference=ActionPolicy(model, tok), backward=False
        )
    assert stats.kl == pytest.approx(0.0, abs=1e-6)
    assert stats.entropy > 0


def _config(base, **kw) -> TrainConfig:
    defaults = dict(
        games=["kuhn_poker"],
        base=str(base),
        steps=2,
        batch_games=4,
        lr=1e-3,
        epsilon=0.1,
        seed=7,
        device="cpu",
        name="kt",
    )
    return TrainConfig(**{**defaults, **kw})


def test_resume_from_a_checkpoint_takes_the_same_next_step(tiny_model_dir, tmp_path):
    straight = Trainer(_config(tiny_model_dir), tmp_path / "a")
    straight.train_step()
    straight.train_step()

    first = Trainer(_config(tiny_model_dir), tmp_path / "b")
    first.train_step()
    first.save()
    saved = load_training_state(latest_checkpoint(tmp_path / "b"))
    assert saved.step == 1 and saved.baselines == first.baselines.values
    resumed = Trainer(_config(tiny_model_dir), tmp_path / "b")
    assert resumed.step == 1
    assert resumed.baselines.values == first.baselines.values
    opt_a = resumed.optimizer.state_dict()["state"]
    opt_b = first.optimizer.state_dict()["state"]
    assert opt_a.keys() == opt_b.keys()
    assert all(torch.equal(opt_a[k]["exp_avg"], opt_b[k]["exp_avg"]) for k in opt_a)
    resumed.train_step()
    assert resumed.baselines.values == pytest.approx(straight.baselines.values)
    for p, q in zip(resumed.model.parameters(), straight.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


def _job_db(tmp_path, config: dict) -> tuple[object, int]:
    from arena.store import open_db, write
    from arena.store.schema import now

    path = tmp_path / "arena.db"
    db = open_db(path)
    with write(db):
        cur = db.conn.execute(
            "INSERT INTO jobs (name, status, config, log_path, created_at) VALUES (?, ?, ?, ?, ?)",
            # the log where arena.jobs puts it: <db folder>/jobs/<id>.log
            ("kt", "running", json.dumps(config), str(tmp_path / "jobs" / "1.log"), now()),
        )
    return path, cur.lastrowid


def test_run_job_registers_checkpoints_as_players_and_writes_metrics(tiny_model_dir, tmp_path):
    from arena.store import open_db

    config = _config(tiny_model_dir, checkpoint_every=2).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    assert run_job(path, job_id) == 2
    db = open_db(path)
    player = db.conn.execute("SELECT kind, spec FROM players WHERE name = 'kt@2'").fetchone()
    assert player is not None and player[0] == "transformers"
    spec = json.loads(player[1])
    assert spec["decode"] == "score" and spec["sampling"]["temperature"] == 1.0
    assert (tmp_path / "jobs" / "kt" / "step-2" / "model.safetensors").exists()
    assert spec["model"] == str(tmp_path / "jobs" / "kt" / "step-2")
    assert db.conn.execute("SELECT step FROM jobs WHERE id = ?", (job_id,)).fetchone()[0] == 2
    metrics = {
        (s, n): v
        for s, n, v in db.conn.execute(
            "SELECT step, name, value FROM job_metrics WHERE job_id = ?", (job_id,)
        )
    }
    for step in (1, 2):
        for name in (
            "loss",
            "entropy",
            "advantage",
            "step_time_s",
            "reward/kuhn_poker/0",
            "reward/kuhn_poker/1",
        ):
            assert (step, name) in metrics
    assert 0.0 < metrics[(2, "exploitability/kuhn_poker")] < 1.0
    assert (1, "exploitability/kuhn_poker") not in metrics  # only at checkpoints


def test_run_job_stops_when_asked_with_a_checkpoint_and_resumes_after_it(tiny_model_dir, tmp_path):
    from arena.store import open_db

    config = _config(tiny_model_dir, steps=3, checkpoint_every=10).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    assert run_job(path, job_id, should_stop=lambda: True) == 1
    assert (tmp_path / "jobs" / "kt" / "step-1").is_dir()
    assert run_job(path, job_id) == 3  # resumes at step 1: two more steps, not three
    db = open_db(path)
    names = {r[0] for r in db.conn.execute("SELECT name FROM players WHERE name LIKE 'kt@%'")}
    assert names == {"kt@1", "kt@3"}
    parent = db.conn.execute("SELECT parent FROM players WHERE name = 'kt@3'").fetchone()[0]
    assert parent == "kt@1"
    steps = [
        r[0]
        for r in db.conn.execute(
            "SELECT DISTINCT step FROM job_metrics WHERE name = 'loss' ORDER BY step"
        )
    ]
    assert steps == [1, 2, 3]


def test_run_job_plays_pool_opponents_and_evaluates_checkpoints_against_anchors(
    tiny_model_dir, tmp_path
):
    from arena.store import open_db

    config = _config(
        tiny_model_dir,
        checkpoint_every=1,
        opponents=["random"],
        opponent_share=0.5,
        eval_games=2,
        player_temperature=0.0,
        include_rules=False,
    ).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    assert run_job(path, job_id) == 2
    db = open_db(path)
    names = {n for (n,) in db.conn.execute("SELECT DISTINCT name FROM job_metrics")}
    assert "score/kuhn_poker/vs-random" in names or "reward/kuhn_poker/0/vs-random" in names
    for anchor in ("random", "cfr"):
        assert f"eval/kuhn_poker/{anchor}/score" in names
    assert "eval/kuhn_poker/kt@1/score" in names  # the second checkpoint meets the first
    assert "rating/kuhn_poker/mu" in names
    # Evaluation games are stored and rated like any match.
    rated = db.conn.execute(
        "SELECT count(*) FROM results r JOIN players p ON p.id = r.player_id WHERE p.name = 'kt@2'"
    ).fetchone()[0]
    assert rated == 2 * 3  # two games against random, cfr and kt@1
    games_rated = db.conn.execute(
        "SELECT games FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE p.name = 'kt@2' AND r.scope = 'kuhn_poker'"
    ).fetchone()[0]
    assert games_rated == 6
    spec = json.loads(db.conn.execute("SELECT spec FROM players WHERE name = 'kt@2'").fetchone()[0])
    assert spec["sampling"]["temperature"] == 0.0  # registered (and evaluated) greedy
    assert spec["prompt"]["include_rules"] is False  # prompted as it was trained
    prompt = db.conn.execute(
        "SELECT m.prompt FROM moves m JOIN results r ON r.match_id = m.match_id "
        "AND r.seat = m.seat JOIN players p ON p.id = r.player_id WHERE p.name = 'kt@2' LIMIT 1"
    ).fetchone()[0]
    assert "Rules:" not in prompt and "Kuhn poker" in prompt


def test_the_learning_rate_decays_linearly_to_its_end_ratio_by_step(tiny_model_dir, tmp_path):
    trainer = Trainer(_config(tiny_model_dir, steps=11, lr=1e-3, lr_end_ratio=0.1), tmp_path)
    rates = []
    for step in range(11):
        trainer.step = step  # the schedule is a function of the step alone (resume-safe)
        rates.append(trainer.learning_rate())
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    trainer.step = 0
    trainer.train_step()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_a_lora_job_checkpoints_its_adapters_and_resumes_them(tiny_model_dir, tmp_path):
    pytest.importorskip("peft")

    config = _config(tiny_model_dir, lora=True, lora_rank=4)
    straight = Trainer(config, tmp_path / "a")
    trainable = [n for n, p in straight.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    straight.train_step()
    straight.train_step()

    first = Trainer(config, tmp_path / "b")
    first.train_step()
    folder = first.save()
    # The checkpoint holds the adapters alone; transformers loads it as base + adapters and
    # it scores like the adapted model it came from.
    assert (folder / "adapter_config.json").is_file()
    assert not (folder / "model.safetensors").exists()
    plain = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    pos = first.policy.position_for_state(*_first_decision("kuhn_poker"))
    with torch.no_grad():
        (mine,) = first.policy.scores([pos])
        (theirs,) = ActionPolicy(plain.eval(), first.tokenizer).scores([pos])
    assert torch.allclose(mine, theirs, atol=1e-4)

    resumed = Trainer(config, tmp_path / "b")
    assert resumed.step == 1
    resumed.train_step()
    for p, q in zip(resumed.model.parameters(), straight.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


def test_a_job_warm_starts_on_a_bots_recorded_moves_before_self_play(tiny_model_dir, tmp_path):
    import asyncio

    from arena.players.bot import BotPlayer
    from arena.sessions import play_recorded
    from arena.store import open_db

    config = _config(tiny_model_dir, steps=1, warm_start=["cfr"]).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    db = open_db(path)
    game = games.make("kuhn_poker")
    for seed in range(12):
        seats = [BotPlayer("cfr"), BotPlayer("random")][:: 1 if seed % 2 else -1]
        asyncio.run(play_recorded(db, game, seats, seed))
    cfr_moves = db.conn.execute(
        "SELECT count(*) FROM moves m JOIN results r ON r.match_id = m.match_id "
        "AND r.seat = m.seat JOIN players p ON p.id = r.player_id WHERE p.name = 'cfr'"
    ).fetchone()[0]
    assert run_job(path, job_id) == 1
    metrics = dict(
        db.conn.execute(
            "SELECT name, value FROM job_metrics WHERE job_id = ? AND step = 0", (job_id,)
        )
    )
    assert metrics["warm_start/moves"] == cfr_moves > 0
    assert metrics["warm_start/loss"] > 0
    # The warm-started model is checkpoint 0, a player like the others, parent of the next.
    assert 0 < metrics["exploitability/kuhn_poker"] < 1
    parent = db.conn.execute("SELECT parent FROM players WHERE name = 'kt@1'").fetchone()[0]
    assert parent == "kt@0"
    assert (tmp_path / "jobs" / "kt" / "step-0").is_dir()


def test_a_warm_start_with_no_recorded_moves_fails_clearly(tiny_model_dir, tmp_path):
    config = _config(tiny_model_dir, steps=1, warm_start=["cfr"]).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    with pytest.raises(ValueError, match="cfr"):
        run_job(path, job_id)


def test_a_registered_model_in_the_pool_plays_through_its_backend_across_steps(
    tiny_model_dir, tmp_path
):
    from arena.specs import PromptSpec, SamplingSpec, TransformersSpec
    from arena.store import open_db
    from arena.store.players import add_player

    config = _config(
        tiny_model_dir, steps=2, checkpoint_every=10, opponents=["old@1"], opponent_share=1.0
    ).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    db = open_db(path)
    # An earlier checkpoint, registered as jobs register them: a transformers player.
    add_player(
        db,
        TransformersSpec(
            name="old@1",
            model=str(tiny_model_dir),
            decode="score",
            prompt=PromptSpec(reasoning="direct"),
            sampling=SamplingSpec(temperature=1.0),
            device="cpu",
            threads=1,
        ),
    )
    assert run_job(path, job_id) == 2
    rows = db.conn.execute(
        "SELECT step, value FROM job_metrics WHERE name = 'score/kuhn_poker/vs-old@1' ORDER BY step"
    ).fetchall()
    assert [s for s, _ in rows] == [1, 2]  # the backend outlives a step's event loop run
    assert all(0.0 <= v <= 1.0 for _, v in rows)


def test_the_trainer_process_trains_logs_its_steps_and_finishes_the_job(tiny_model_dir, tmp_path):
    """The real `python -m trainer` on the tiny model, started as `arena train start` does."""
    import time

    from arena.jobs import create_job, get_job, log_tail, start_job
    from arena.store import open_db

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    config = TrainConfig(
        base=str(tiny_model_dir),
        steps=3,
        batch_games=4,
        checkpoint_every=3,
        name="proc",
        device="cpu",
    )
    job_id = create_job(db, config)
    start_job(db_path, job_id)
    deadline = time.monotonic() + 120
    while get_job(db, job_id).status in ("created", "running"):
        assert time.monotonic() < deadline, log_tail(db, job_id, 40)
        time.sleep(0.2)
    job = get_job(db, job_id)
    lines = log_tail(db, job_id, 200)
    assert (job.status, job.step) == ("finished", 3), lines
    assert sum(" step " in line and " loss " in line for line in lines) == 3
    assert any("proc@3 exploitability on kuhn_poker" in line for line in lines)
    assert not any("Loading weights" in line for line in lines)  # no progress bars in the log
    assert db.conn.execute("SELECT 1 FROM players WHERE name = 'proc@3'").fetchone()


def test_checkpoints_store_their_policy_and_the_job_measures_their_average(
    tiny_model_dir, tmp_path
):
    from games.analysis import GameTree, average_policy
    from games.analysis import exploitability as exact
    from trainer.policy import table_policy

    config = _config(
        tiny_model_dir, steps=3, checkpoint_every=1, average_checkpoints=2, lr=1e-3
    ).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    assert run_job(path, job_id) == 3
    from arena.store import open_db

    metrics = {
        (s, n): v
        for s, n, v in open_db(path).conn.execute(
            "SELECT step, name, value FROM job_metrics WHERE name LIKE 'exploitability%'"
        )
    }
    assert (1, "exploitability_avg/kuhn_poker") not in metrics  # one checkpoint: no average
    tables = {
        step: json.loads(
            (tmp_path / "jobs" / "kt" / f"step-{step}" / "policy-kuhn_poker.json").read_text()
        )
        for step in (1, 2, 3)
    }
    tree = GameTree.build(games.make("kuhn_poker"))
    for step in (1, 2, 3):  # each stored policy is the one measured at its checkpoint
        assert exact(tree, table_policy(tables[step])) == pytest.approx(
            metrics[(step, "exploitability/kuhn_poker")], abs=1e-9
        )
    for step in (2, 3):  # the average of this checkpoint and the one before
        mix = average_policy(tree, [table_policy(tables[step - 1]), table_policy(tables[step])])
        assert metrics[(step, "exploitability_avg/kuhn_poker")] == pytest.approx(exact(tree, mix))


def test_an_unknown_pool_opponent_fails_the_job_clearly_before_training(tiny_model_dir, tmp_path):
    config = _config(tiny_model_dir, opponents=["nobody"]).model_dump(mode="json")
    path, job_id = _job_db(tmp_path, config)
    with pytest.raises(Exception, match="nobody"):
        run_job(path, job_id)
    assert not (tmp_path / "jobs" / "kt").exists()  # no checkpoint, no step taken


def test_a_stored_config_is_parsed_with_the_clis_checks_before_training(tiny_model_dir, tmp_path):
    """The trainer reads a job's JSON with `TrainConfig`, the model the CLI and the TUI use:
    what `arena train start` refuses, the trainer refuses too, before any step."""
    from arena.jobs import JobError

    for bad, match in (
        ({"ppo_epochs": 9}, "ppo_epochs"),
        ({"lr": "inf"}, "lr"),
        ({"device": "gpu"}, "device"),
        ({"temperature": 6.0}, "temperature"),  # the checkpoints' players could not be registered
        ({"typo": 1}, "typo is not a known setting"),
    ):
        folder = tmp_path / next(iter(bad))
        folder.mkdir()
        path, job_id = _job_db(folder, {**_config(tiny_model_dir).model_dump(mode="json"), **bad})
        with pytest.raises(JobError, match=match):
            run_job(path, job_id)
        assert not (folder / "jobs" / "kt").exists()


def test_a_nan_or_infinite_metric_is_recorded_as_missing_and_the_job_trains_on(
    tiny_model_dir, tmp_path, monkeypatch, caplog
):
    """A diverged step (NaN loss, infinite gradient norm) goes through the trainer's one
    metrics path: those values are left out, logged once a step, and the job goes on."""
    import logging

    from arena.store import open_db

    real_step = Trainer.train_step

    def diverging_step(self):
        metrics = real_step(self)
        metrics.update(loss=float("nan"), grad_norm=float("inf"))
        return metrics

    monkeypatch.setattr(Trainer, "train_step", diverging_step)
    path, job_id = _job_db(tmp_path, _config(tiny_model_dir, checkpoint_every=10).model_dump())
    with caplog.at_level(logging.WARNING, logger="arena.jobs"):
        assert run_job(path, job_id) == 2
    db = open_db(path)
    assert db.conn.execute("SELECT step FROM jobs WHERE id = ?", (job_id,)).fetchone()[0] == 2
    stored = {(s, n) for s, n in db.conn.execute("SELECT step, name FROM job_metrics")}
    for step in (1, 2):
        assert (step, "entropy") in stored and (step, "reward/kuhn_poker/0") in stored
        assert (step, "loss") not in stored and (step, "grad_norm") not in stored
    assert (2, "exploitability/kuhn_poker") in stored
    warnings = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert warnings == [
        f"step {step}: 2 non-finite metric(s) not recorded: grad_norm, loss" for step in (1, 2)
    ]
