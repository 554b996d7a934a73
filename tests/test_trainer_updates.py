"""What the trainer's update rules do to a real tiny policy: the natural estimator moves moves
the policy has all but given up, the magnet pulls toward uniform, and pool opponents take one
seat with their own baselines."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import games  # noqa: E402
from arena.players.bot import BotPlayer  # noqa: E402
from trainer.loss import Baselines, assign_advantages, policy_loss  # noqa: E402
from trainer.policy import ActionPolicy  # noqa: E402
from trainer.rollout import TurnRecord, rollout  # noqa: E402
from trainer.step_metrics import episode_metrics  # noqa: E402


def _policy(model_dir):
    torch.set_num_threads(1)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return ActionPolicy(model.eval(), tok)


def _facing_a_bet(policy):
    """Kuhn poker, player 1 holding the jack after a bet: the tiny model calls ~always."""
    game = games.make("kuhn_poker")
    state = game.new_initial_state()
    while state.current_player() < 0:
        state.apply(state.chance_outcomes()[0][0])
    state.apply("bet")
    pos = policy.position_for_state(game, state)
    assert set(pos.actions) == {"call", "fold"}
    return pos


def _train_on(policy, batch, estimator, steps=5, lr=0.05, magnet=0.0):
    # Plain SGD: the update's size is the gradient's (Adam would rescale a tiny gradient).
    opt = torch.optim.SGD(policy.model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        policy_loss(policy, batch, estimator=estimator, magnet_coef=magnet)
        opt.step()
        policy.invalidate()


def _fold_after(model_dir, estimator):
    policy = _policy(model_dir)
    pos = _facing_a_bet(policy)
    fold, call = pos.actions.index("fold"), pos.actions.index("call")
    (probs,) = policy.probabilities([pos])
    # Epsilon 0.2 over two moves: fold was explored with probability ~0.1 and did better than
    # the baseline, which call (played almost always) defines.
    mu = [0.8 * p + 0.1 for p in probs]
    batch = [
        (TurnRecord("kuhn_poker", 1, pos, fold, mu[fold], probs[fold]), 1.0),
        (TurnRecord("kuhn_poker", 1, pos, call, mu[call], probs[call]), 0.0),
    ]
    _train_on(policy, batch, estimator, steps=1, lr=0.01)
    (after,) = policy.probabilities([pos])
    return probs[fold], after[fold]


def test_the_natural_estimator_revives_a_move_the_policy_gave_up(tiny_model_dir):
    before, natural = _fold_after(tiny_model_dir, "natural")
    _, importance = _fold_after(tiny_model_dir, "importance")
    assert before < 0.05
    # The importance weight pi/mu of a given-up move is ~0: REINFORCE barely moves it.
    assert natural - before > 0.01
    assert natural - before > 10 * (importance - before)


def test_the_magnet_pulls_a_sure_move_toward_uniform(tiny_model_dir):
    policy = _policy(tiny_model_dir)
    pos = _facing_a_bet(policy)
    (probs,) = policy.probabilities([pos])
    call = pos.actions.index("call")
    # No advantage at all: only the magnet acts.
    batch = [(TurnRecord("kuhn_poker", 1, pos, call, probs[call], probs[call]), 0.0)]
    _train_on(policy, batch, "natural", steps=5, lr=1e-3, magnet=1.0)
    (after,) = policy.probabilities([pos])
    assert probs[call] > 0.95
    assert after[call] == pytest.approx(0.5, abs=0.1)


def test_pool_opponents_take_one_seat_and_keep_baselines_of_their_own(tiny_model_dir):
    policy = _policy(tiny_model_dir)
    game = games.make("tictactoe")
    episodes = rollout(
        policy,
        [game],
        batch_games=6,
        seed=3,
        step=0,
        opponents=[BotPlayer("random")],
        opponent_share=1.0,
    )
    assert all(ep.opponent == "random" for ep in episodes)
    assert {ep.opponent_seat for ep in episodes} == {0, 1}  # seats alternate
    for ep in episodes:
        assert ep.turns and all(t.seat != ep.opponent_seat for t in ep.turns)
    baselines = Baselines(decay=0.5)
    batch = assign_advantages(episodes, baselines)
    assert len(batch) == sum(len(ep.turns) for ep in episodes)
    assert set(baselines.values) <= {"tictactoe/0/vs-random", "tictactoe/1/vs-random"}
    metrics = episode_metrics(episodes, baselines)
    score = metrics["score/tictactoe/vs-random"]
    wins = sum(ep.returns[1 - ep.opponent_seat] > ep.returns[ep.opponent_seat] for ep in episodes)
    draws = sum(ep.returns[0] == ep.returns[1] for ep in episodes)
    assert score == pytest.approx((wins + 0.5 * draws) / len(episodes))


def test_no_pool_share_means_pure_self_play(tiny_model_dir):
    policy = _policy(tiny_model_dir)
    episodes = rollout(
        policy,
        [games.make("kuhn_poker")],
        batch_games=4,
        seed=3,
        step=0,
        opponents=[BotPlayer("random")],
        opponent_share=0.0,
    )
    assert all(ep.opponent is None and {t.seat for t in ep.turns} == {0, 1} for ep in episodes)
