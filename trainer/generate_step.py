"""One training step of generation mode (`TrainConfig.policy == "generate"`).

Rollout (`trainer.generate`: the model writes whole replies through the arena's match loop),
the replies' advantages (`trainer.loss.assign_advantages`, the same role baselines as scoring
mode), the token-level loss (`trainer.token_loss`), one optimizer step (or `ppo_epochs`).
The first `SAMPLES_PER_STEP` replies go to `<job_dir>/samples/step-<N>.jsonl`, N the steps the
model had taken when it wrote them, so step 0's file holds what the base model thought.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from arena.backends.base import Sampling
from trainer.generate import (
    GeneratingPlayer,
    PolicyBackend,
    generation_metrics,
    generation_prompt,
    play_generated,
    write_samples,
)
from trainer.loss import assign_advantages
from trainer.policy import pad_id
from trainer.rollout import make_pairings
from trainer.token_loss import TokenLossStats, token_policy_loss

if TYPE_CHECKING:
    from trainer.run import Trainer


def make_generating_player(trainer: Trainer) -> GeneratingPlayer:
    """The trained model as the player generation mode plays with (and its checkpoints are
    registered as): `think` prompt, free text sampled at `temperature`, `max_new_tokens`."""
    s = trainer.config
    backend = PolicyBackend(trainer.model, trainer.tokenizer, trainer.policy.device)
    sampling = Sampling(temperature=s.temperature, max_tokens=s.max_new_tokens, seed=s.seed)
    return GeneratingPlayer(
        "trainee", backend, prompt=generation_prompt(s.include_rules), sampling=sampling
    )


def generate_step(trainer: Trainer, player: GeneratingPlayer) -> dict[str, float]:
    """Play one batch of games with generated replies, take one optimizer step (`ppo_epochs`
    with PPO); return the step's metrics."""
    import torch

    from trainer.run import MAX_GRAD_NORM, episode_metrics

    s = trainer.config
    t0 = time.perf_counter()
    pairings = make_pairings(
        trainer.games, s.batch_games, s.seed, trainer.step, trainer.opponents, s.opponent_share
    )
    play = play_generated(
        player, pairings, illegal_penalty=s.illegal_penalty, format_reward=s.format_reward
    )
    episodes = trainer.loop.run_until_complete(play)
    t_rollout = time.perf_counter() - t0
    write_samples(trainer.job_dir, trainer.step, episodes)
    batch = assign_advantages(episodes, trainer.baselines, normalize=s.normalize_advantages)
    lr = trainer.learning_rate()
    for group in trainer.optimizer.param_groups:
        group["lr"] = lr
    stats: TokenLossStats | None = None
    grad_norm = 0.0
    reference = trainer.reference.model if trainer.reference is not None else None
    for _ in range(s.ppo_epochs if s.algorithm == "ppo" else 1):
        trainer.optimizer.zero_grad(set_to_none=True)
        stats = token_policy_loss(
            trainer.model,
            batch,  # type: ignore[arg-type]
            temperature=s.temperature,
            algorithm=s.algorithm,
            clip=s.clip,
            kl_coef=s.kl_coef,
            reference=reference,
            pad_id=pad_id(trainer.tokenizer),
            device=trainer.policy.device,
        )
        params = [p for p in trainer.model.parameters() if p.grad is not None]
        if params:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM))
            trainer.optimizer.step()
    trainer.policy.invalidate()
    trainer.step += 1
    assert stats is not None
    metrics = episode_metrics(episodes, trainer.baselines)
    metrics.update(generation_metrics(episodes))
    metrics.update(
        loss=stats.loss,
        pg_loss=stats.pg_loss,
        entropy=stats.entropy,
        kl=stats.kl,
        advantage=stats.advantage,
        grad_norm=grad_norm,
        lr=lr,
        step_time_s=time.perf_counter() - t0,
        rollout_time_s=t_rollout,
    )
    if s.algorithm == "ppo":
        metrics["clip_fraction"] = stats.clip_fraction
    return metrics
