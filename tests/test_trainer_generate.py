"""Generation mode of the trainer: the model writes whole replies, the loss falls on the
generated tokens. All on the tiny real Llama (`tiny_model_dir`), on CPU, with kuhn_poker."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import games  # noqa: E402
from arena.backends.base import Generation, Sampling  # noqa: E402
from arena.players.base import Turn  # noqa: E402
from arena.prompts import PromptOptions, build_messages  # noqa: E402
from arena.train_config import TrainConfig  # noqa: E402
from trainer.generate import (  # noqa: E402
    Generated,
    GeneratingPlayer,
    PolicyBackend,
    generation_metrics,
    play_generated,
    sample_reply,
)
from trainer.rollout import make_pairings  # noqa: E402
from trainer.run import Trainer  # noqa: E402
from trainer.token_loss import token_objective, token_policy_loss  # noqa: E402

TEMPERATURE = 1.3


def _turn(game_id: str = "kuhn_poker") -> Turn:
    game = games.make(game_id)
    state = game.new_initial_state()
    while state.current_player() < 0:
        state.apply(state.chance_outcomes()[0][0])
    return Turn(
        game, state.clone(), state.current_player(), state.legal_actions(), random.Random(0), 0
    )


def _sample(model, tok, seed: int = 3, max_new_tokens: int = 12) -> Generated:
    backend = PolicyBackend(model, tok)
    prompt = backend.prompt_ids(build_messages(_turn(), PromptOptions(reasoning="think")))
    ids, logps, finish = sample_reply(
        model,
        prompt,
        temperature=TEMPERATURE,
        max_new_tokens=max_new_tokens,
        seed=seed,
        eos_ids=backend.eos_ids,
    )
    return Generated("kuhn_poker", 0, 0, tuple(prompt), tuple(ids), tuple(logps), "", "", finish)


def _plain_logps(model, sample: Generated):
    """The generated tokens' log-probabilities from one plain forward pass of prompt + reply."""
    ids = list(sample.prompt_ids) + list(sample.reply_ids)
    logits = model(torch.tensor([ids])).logits[0].float() / TEMPERATURE
    logp = torch.log_softmax(logits, dim=-1)
    n = len(sample.prompt_ids)
    return torch.stack([logp[n - 1 + k, t] for k, t in enumerate(sample.reply_ids)])


def test_the_sampled_logprobs_are_the_plain_forward_passes(tiny):
    model, tok = tiny
    sample = _sample(model, tok)
    with torch.no_grad():
        plain = _plain_logps(model, sample)
    assert list(sample.logprobs) == pytest.approx(plain.tolist(), abs=1e-4)


def test_the_loss_falls_on_the_generated_tokens_only(tiny):
    """The masked, padded, batched loss equals -A * mean of the generated tokens' log-probs
    computed plainly, value and gradient: no prompt token (nor padding) contributes."""
    model, tok = tiny
    short, long = _sample(model, tok, seed=1, max_new_tokens=4), _sample(model, tok, seed=2)
    assert len(short.reply_ids) != len(long.reply_ids) or short.reply_ids != long.reply_ids
    batch = [(short, 0.7), (long, -1.3)]
    model.zero_grad(set_to_none=True)
    stats = token_policy_loss(model, batch, temperature=TEMPERATURE)
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    expected = sum(-a * _plain_logps(model, s).mean() for s, a in batch) / len(batch)
    expected.backward()
    assert stats.loss == pytest.approx(expected.item(), abs=1e-5)
    assert stats.tokens == len(short.reply_ids) + len(long.reply_ids)
    for name, p in model.named_parameters():
        assert torch.allclose(got[name], p.grad, atol=1e-5), name
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_ppo_clip_stops_the_gradient_where_the_ratio_left_the_range(adv):
    clip = 0.2
    # ratios 1.5, 0.5, 1.05: above, below and inside [0.8, 1.2]
    old = torch.log(torch.tensor([1.0 / 1.5, 1.0 / 0.5, 1.0 / 1.05]))
    logp = torch.zeros(3, requires_grad=True)
    per_token, outside = token_objective(logp, adv, old, clip)
    per_token.sum().backward()
    grad = logp.grad.tolist()
    assert outside == pytest.approx(2 / 3)
    ratios = [1.5, 0.5, 1.05]
    for r, g in zip(ratios, grad, strict=True):
        # PPO: a ratio past 1 + clip with A > 0, or below 1 - clip with A < 0, gives nothing
        clipped = (adv > 0 and r > 1 + clip) or (adv < 0 and r < 1 - clip)
        assert g == pytest.approx(0.0 if clipped else adv * r, abs=1e-6)


def test_a_reply_whose_every_ratio_is_clipped_leaves_the_weights_alone(tiny):
    model, tok = tiny
    sample = _sample(model, tok)
    # the recorded probabilities are 1/1.5 of today's: every ratio is 1.5
    sample.logprobs = tuple(lp - float(torch.log(torch.tensor(1.5))) for lp in sample.logprobs)
    model.zero_grad(set_to_none=True)
    stats = token_policy_loss(model, [(sample, 1.0)], temperature=TEMPERATURE, algorithm="ppo")
    assert stats.clip_fraction == 1.0
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    model.zero_grad(set_to_none=True)
    token_policy_loss(model, [(sample, -1.0)], temperature=TEMPERATURE, algorithm="ppo")
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.zero_grad(set_to_none=True)


class _ScriptedPolicyBackend(PolicyBackend):
    """Answers every prompt with `answer(legal moves)`: a reply whose legality is known."""

    def __init__(self, model, tok, answer) -> None:
        super().__init__(model, tok)
        self.answer = answer

    async def generate(self, messages, sampling, *, choices=None, on_text=None) -> Generation:
        last = messages[-1]["content"]
        legal = last.split("Legal moves: ")[1].split("\n")[0].rstrip(".").split(", ")
        return Generation(
            text=self.answer(legal),
            finish_reason="stop",
            token_ids=[5, 6, 7],
            meta={"prompt_ids": [1, 2], "logprobs": [-1.0, -1.0, -1.0]},
        )


def _play(model, tok, answer, **kw):
    backend = _ScriptedPolicyBackend(model, tok, answer)
    player = GeneratingPlayer(
        "trainee",
        backend,
        prompt=PromptOptions(reasoning="think"),
        sampling=Sampling(temperature=1.0, max_tokens=8),
    )
    pairings = make_pairings([games.make("kuhn_poker")], 4, seed=1, step=0)
    return asyncio.run(play_generated(player, pairings, **kw))


def test_an_illegal_answer_ends_the_game_with_the_illegal_penalty(tiny):
    model, tok = tiny
    episodes = _play(model, tok, lambda legal: "Hmm.\nFinal answer: banana", illegal_penalty=-3.0)
    for ep in episodes:
        assert ep.returns == [-3.0, 0.0]  # the first to answer forfeits; nobody else gains
        assert len(ep.turns) == 1 and not ep.turns[0].legal and ep.turns[0].action is None
    metrics = generation_metrics(episodes)
    assert metrics["invalid_rate"] == 1.0 and metrics["mean_reply_tokens"] == 3.0


def test_legal_well_formed_answers_earn_the_format_reward(tiny):
    model, tok = tiny
    episodes = _play(
        model, tok, lambda legal: f"I think.\nFinal answer: {legal[0]}", illegal_penalty=-3.0
    )
    shaped = _play(
        model,
        tok,
        lambda legal: f"I think.\nFinal answer: {legal[0]}",
        illegal_penalty=-3.0,
        format_reward=0.25,
    )
    for ep, ep2 in zip(episodes, shaped, strict=True):
        assert all(t.legal and t.formatted for t in ep.turns)
        assert sorted(ep.returns) == [-1.0, 1.0]  # check, check: the showdown decides
        assert ep2.returns == [r + 0.25 for r in ep.returns]
    assert generation_metrics(episodes)["invalid_rate"] == 0.0


def test_the_players_prompt_is_the_transformers_backends(tiny, tiny_model_dir):
    """A checkpoint registered with the same options reads the very ids the rollout read."""
    from arena.backends.transformers_backend import TransformersBackend

    model, tok = tiny
    messages = build_messages(_turn(), PromptOptions(reasoning="think"))
    hf = TransformersBackend(str(tiny_model_dir), device="cpu", threads=1)
    try:
        expected = asyncio.run(hf.prompt_tokens(messages))
    finally:
        asyncio.run(hf.aclose())
    assert PolicyBackend(model, tok).prompt_ids(messages) == expected


def test_a_generate_mode_step_trains_and_keeps_the_replies(tiny_model_dir, tmp_path):
    config = TrainConfig(
        games=["kuhn_poker"],
        base=str(tiny_model_dir),
        steps=2,
        batch_games=2,
        lr=1e-3,
        seed=7,
        device="cpu",
        name="kg",
        policy="generate",
        max_new_tokens=16,
        algorithm="ppo",
        kl_coef=0.1,
    )
    trainer = Trainer(config, tmp_path)
    try:
        before = [p.detach().clone() for p in trainer.model.parameters()]
        first = trainer.train_step()
        second = trainer.train_step()
    finally:
        trainer.close()
    for metrics in (first, second):
        assert 0.0 <= metrics["invalid_rate"] <= 1.0
        assert 1.0 <= metrics["mean_reply_tokens"] <= 16.0
        assert {"loss", "kl", "clip_fraction", "reward/kuhn_poker/0"} <= metrics.keys()
    assert trainer.step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    for step in (0, 1):
        lines = (tmp_path / "samples" / f"step-{step}.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert rows and all(
            {"text", "action", "legal", "return", "prompt_tail"} <= r.keys() for r in rows
        )
        assert all(r["legal"] == (r["action"] is not None) for r in rows)


def test_train_start_takes_the_policy_option(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from model_folders import stub_model_folder

    import arena.jobs
    from arena.cli import cli
    from arena.jobs import get_job
    from arena.store import open_db

    base = stub_model_folder(tmp_path / "base")
    db_path = tmp_path / "arena.db"
    monkeypatch.setattr(arena.jobs, "start_job", lambda *a, **k: 4242)  # no process here
    argv = ["--db", str(db_path), "train", "start", "--base", str(base), "--json"]
    result = CliRunner().invoke(cli, [*argv, "--policy", "generate", "--set", "max_new_tokens=32"])
    assert result.exit_code == 0, result.output
    job = get_job(open_db(db_path), json.loads(result.output)["id"])
    assert job.config["policy"] == "generate" and job.config["max_new_tokens"] == 32
    result = CliRunner().invoke(cli, [*argv, "--policy", "sample"])
    assert result.exit_code != 0 and "sample" in result.output
    assert TrainConfig(base=str(base)).policy == "score"  # today's behaviour by default


def test_a_generate_job_registers_checkpoints_that_play_as_they_were_trained(
    tiny_model_dir, tmp_path
):
    from arena.jobs import create_job
    from arena.match import play_match
    from arena.players.factory import BackendPool
    from arena.sessions import players_by_name
    from arena.store import open_db
    from trainer.run import run_job

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    config = TrainConfig(
        base=str(tiny_model_dir),
        steps=1,
        batch_games=2,
        checkpoint_every=1,
        name="kg",
        device="cpu",
        policy="generate",
        max_new_tokens=8,
    )
    job_id = create_job(db, config)
    assert run_job(db_path, job_id) == 1
    spec = json.loads(db.conn.execute("SELECT spec FROM players WHERE name = 'kg@1'").fetchone()[0])
    assert spec["decode"] == "free" and spec["prompt"]["reasoning"] == "think"
    assert spec["sampling"]["max_tokens"] == 8
    assert len(list(tmp_path.rglob("samples/step-0.jsonl"))) == 1  # in the job's folder

    async def one_game():
        pool = BackendPool()
        try:
            seats = players_by_name(db, ["kg@1", "random"], pool)
            return await play_match(games.make("kuhn_poker"), seats, seed=3)
        finally:
            await pool.aclose()

    result = asyncio.run(one_game())
    assert result.status == "finished"


def test_replies_sampled_together_keep_each_rows_own_logprobs_and_stops(tiny):
    """Left-padded rows of different prompts: each row's recorded log-probabilities are the
    plain forward pass of its own prompt + reply, and each stops on its own budget."""
    from trainer.generate import SampleRequest, sample_replies

    model, tok = tiny
    backend = PolicyBackend(model, tok)
    prompts = [
        backend.prompt_ids(build_messages(_turn(g), PromptOptions(reasoning="think")))
        for g in ("kuhn_poker", "tictactoe", "leduc_poker")
    ]
    assert len({len(p) for p in prompts}) == 3  # really padded
    requests = [
        SampleRequest(p, TEMPERATURE, budget, seed)
        for p, budget, seed in zip(prompts, (3, 12, 7), (1, 2, 3), strict=True)
    ]
    results = sample_replies(model, requests, eos_ids=backend.eos_ids)
    for request, (ids, logps, finish) in zip(requests, results, strict=True):
        assert len(ids) == len(logps) <= request.max_new_tokens
        assert finish == ("length" if len(ids) == request.max_new_tokens else "stop")
        sample = Generated(
            "g", 0, 0, tuple(request.prompt), tuple(ids), tuple(logps), "", "", finish
        )
        with torch.no_grad():
            plain = _plain_logps(model, sample)
        assert plain.tolist() == pytest.approx(logps, abs=2e-4)


def test_a_rollouts_concurrent_games_sample_their_replies_in_batches(tiny):
    model, tok = tiny
    backend = PolicyBackend(model, tok)
    player = GeneratingPlayer(
        "trainee",
        backend,
        prompt=PromptOptions(reasoning="think"),
        sampling=Sampling(temperature=TEMPERATURE, max_tokens=6, seed=0),
    )
    pairings = make_pairings([games.make("kuhn_poker")], 6, 1, 0, [], 0.0)
    episodes = asyncio.run(play_generated(player, pairings, illegal_penalty=-1.0))
    assert len(episodes) == 6
    assert backend.batches[0] == 6 and sum(backend.batches) == sum(len(ep.turns) for ep in episodes)
