"""Generation mode with `reasoning = think-then-constrained`: the model reasons, then its move is
drawn among the legal moves from their scores after the answer marker (the arena's default for
local models). On the tiny real Llama, on CPU."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from arena.backends.base import Sampling  # noqa: E402
from arena.prompts import PromptOptions, build_messages  # noqa: E402
from arena.train_config import TrainConfig  # noqa: E402
from games.parsing import ANSWER_MARKER  # noqa: E402
from trainer.generate import (  # noqa: E402
    GeneratingPlayer,
    PolicyBackend,
    generation_prompt,
    play_generated,
)
from trainer.policy import ActionPolicy  # noqa: E402
from trainer.rollout import make_pairings  # noqa: E402
from trainer.token_loss import token_policy_loss  # noqa: E402

TEMPERATURE = 1.2


def _player(model, tok, budget: int = 6) -> GeneratingPlayer:
    policy = ActionPolicy(model, tok, "cpu", temperature=TEMPERATURE)
    backend = PolicyBackend(model, tok, scorer=policy)
    prompt = generation_prompt(False, "think-then-constrained", budget)
    sampling = Sampling(temperature=TEMPERATURE, max_tokens=budget, seed=1)
    return GeneratingPlayer("trainee", backend, prompt=prompt, sampling=sampling)


def _episodes(player, game_ids=("kuhn_poker", "tictactoe"), n=4):
    import games

    pairings = make_pairings([games.make(g) for g in game_ids], n, 5, 0, [], 0.0)
    return asyncio.run(play_generated(player, pairings, illegal_penalty=-1.0))


def test_every_move_is_legal_and_each_reply_keeps_its_reasoning_and_its_scored_choice(tiny):
    model, tok = tiny
    episodes = _episodes(_player(model, tok))
    replies = [t for ep in episodes for t in ep.turns]
    assert replies and all(r.legal and r.scored for r in replies)
    assert not any(ep.forfeit for ep in episodes)
    for r in replies:
        assert 1 <= len(r.reply_ids) <= 6 and len(r.logprobs) == len(r.reply_ids)
        assert r.text.endswith(f"{ANSWER_MARKER} {r.action}")
        # the answer's context: the prompt, then the reasoning and the marker written after it
        assert tok.decode(r.answer_prompt[-8:]).rstrip().endswith(ANSWER_MARKER)
        assert len(r.answer_candidates) > r.answer_index >= 0
        assert r.answer_logprob <= 0.0


def test_the_scored_choice_is_the_checkpoint_players_own(tiny, tiny_model_dir):
    """The transformers backend (a registered checkpoint) scores the same answer the same."""
    import random

    import games
    from arena.backends.transformers_backend import TransformersBackend
    from arena.players.base import Turn

    model, tok = tiny
    game = games.make("kuhn_poker")
    state = game.new_initial_state()
    while state.current_player() < 0:
        state.apply(state.chance_outcomes()[0][0])
    turn = Turn(game, state, state.current_player(), state.legal_actions(), random.Random(0), 0)
    messages = build_messages(turn, PromptOptions(reasoning="think-then-constrained"))
    answer = [*messages, {"role": "assistant", "content": f"I hold the jack.\n{ANSWER_MARKER}"}]
    candidates = [f" {a}" for a in turn.legal_actions]
    policy = ActionPolicy(model, tok, "cpu")
    mine = asyncio.run(PolicyBackend(model, tok, scorer=policy).score(answer, candidates))
    hf = TransformersBackend(str(tiny_model_dir), device="cpu", threads=1)
    try:
        theirs = asyncio.run(hf.score(answer, candidates))
    finally:
        asyncio.run(hf.aclose())
    assert mine == pytest.approx(theirs, abs=1e-4)


def test_the_answer_term_pushes_the_chosen_moves_probability_by_the_advantage(tiny):
    model, tok = tiny
    episodes = _episodes(_player(model, tok), ("kuhn_poker",), 2)
    reply = episodes[0].turns[0]
    policy = ActionPolicy(model, tok, "cpu", temperature=TEMPERATURE)

    def chosen_logprob() -> float:
        from trainer.policy import Position

        pos = Position(reply.answer_prompt, reply.answer_candidates, ("a",) * 2)
        with torch.no_grad():
            scores = policy.scores([pos])[0]
        return float(torch.log_softmax(scores / TEMPERATURE, -1)[reply.answer_index])

    # At rollout time the recorded log-probability is the policy's.
    assert chosen_logprob() == pytest.approx(reply.answer_logprob, abs=1e-4)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        for advantage, direction in ((1.0, 1), (-1.0, -1)):
            model.load_state_dict(state)
            before = chosen_logprob()
            opt = torch.optim.SGD(model.parameters(), lr=0.5)
            opt.zero_grad()
            token_policy_loss(model, [(reply, advantage)], temperature=TEMPERATURE, scorer=policy)
            opt.step()
            assert direction * (chosen_logprob() - before) > 0
    finally:
        model.load_state_dict(state)


def test_ppo_clips_the_answers_ratio_too(tiny):
    model, tok = tiny
    reply = _episodes(_player(model, tok), ("kuhn_poker",), 2)[0].turns[0]
    policy = ActionPolicy(model, tok, "cpu", temperature=TEMPERATURE)
    # Pretend the move was drawn with far lower probability: the ratio is far above 1 + clip,
    # and with a positive advantage the clipped objective has no gradient for the answer.
    reply.answer_logprob = math.log(1e-6)
    reply.logprobs = tuple(lp - 50.0 for lp in reply.logprobs)  # the reasoning's too
    model.zero_grad()
    stats = token_policy_loss(
        model, [(reply, 1.0)], temperature=TEMPERATURE, scorer=policy, algorithm="ppo"
    )
    assert stats.answer_clip_fraction == 1.0
    assert all(p.grad is None or float(p.grad.abs().max()) == 0.0 for p in model.parameters())


def test_a_job_in_this_mode_trains_and_registers_checkpoints_that_play_the_same_way(
    tiny_model_dir, tmp_path
):
    from arena.jobs import create_job
    from arena.store import open_db
    from trainer.run import run_job

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    config = TrainConfig(
        base=str(tiny_model_dir),
        games=["kuhn_poker"],
        steps=1,
        batch_games=2,
        checkpoint_every=1,
        name="kc",
        device="cpu",
        policy="generate",
        reasoning="think-then-constrained",
        max_new_tokens=6,
        algorithm="ppo",
    )
    job_id = create_job(db, config)
    assert run_job(db_path, job_id) == 1
    spec = json.loads(db.conn.execute("SELECT spec FROM players WHERE name = 'kc@1'").fetchone()[0])
    assert spec["decode"] == "score"
    assert spec["prompt"]["reasoning"] == "think-then-constrained"
    assert spec["prompt"]["reasoning_tokens"] == 6
    metrics = dict(db.conn.execute("SELECT name, value FROM job_metrics WHERE step = 1").fetchall())
    assert metrics["invalid_rate"] == 0.0 and metrics["loss"] == metrics["loss"]
    rows = [
        json.loads(line)
        for line in next(tmp_path.rglob("samples/step-0.jsonl")).read_text().splitlines()
    ]
    assert rows and all(ANSWER_MARKER in r["text"] and r["legal"] for r in rows)


def test_a_bfloat16_generation_step_trains_as_on_a_gpu(tiny_model_dir, tmp_path):
    """The dtype a GPU job gets by default (bf16), on this CPU: sampling, scoring and the loss
    keep their float32 arithmetic where it matters and the step trains."""
    from trainer.run import Trainer

    config = TrainConfig(
        base=str(tiny_model_dir),
        games=["kuhn_poker"],
        steps=1,
        batch_games=2,
        name="bf",
        device="cpu",
        dtype="bfloat16",
        policy="generate",
        reasoning="think-then-constrained",
        max_new_tokens=4,
        lr=1e-2,
    )
    trainer = Trainer(config, tmp_path)
    try:
        assert next(trainer.model.parameters()).dtype == torch.bfloat16
        before = [p.detach().clone() for p in trainer.model.parameters()]
        metrics = trainer.train_step()
    finally:
        trainer.close()
    assert math.isfinite(metrics["loss"]) and metrics["invalid_rate"] == 0.0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device here: the trainer's GPU path (bf16 on cuda) runs where one is",
)
def test_on_cuda_a_generation_step_trains_in_bfloat16(tiny_model_dir, tmp_path):
    from trainer.run import Trainer

    config = TrainConfig(
        base=str(tiny_model_dir),
        games=["kuhn_poker", "tictactoe"],
        steps=1,
        batch_games=4,
        name="gpu",
        device="cuda",
        policy="generate",
        reasoning="think-then-constrained",
        max_new_tokens=8,
        algorithm="ppo",
        kl_coef=0.05,
    )
    trainer = Trainer(config, tmp_path)
    try:
        param = next(trainer.model.parameters())
        assert param.device.type == "cuda" and param.dtype == torch.bfloat16  # auto on a GPU
        metrics = trainer.train_step()
    finally:
        trainer.close()
    assert math.isfinite(metrics["loss"]) and metrics["rollout_tokens_per_s"] > 0
