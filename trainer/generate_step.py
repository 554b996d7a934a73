"""One training step of generation mode (`TrainConfig.policy == "generate"`).

Rollout (`trainer.generate`: the model writes whole replies through the arena's match loop),
the replies' advantages (`Trainer.advantages`: the same role baselines, turn-level option and
draw filter as scoring mode), the token-level loss (`trainer.token_loss`), one optimizer step (or `ppo_epochs`).
The first `SAMPLES_PER_STEP` replies go to `<job_dir>/samples/step-<N>.jsonl`, N the steps the
model had taken when it wrote them, so step 0's file holds what the base model thought.

Memory: sampling runs without gradients and frees its key-value cache after every reply; the
loss goes in micro-batches of at most `loss_micro_tokens` padded tokens, with activation
checkpointing of the decoder layers (`gradient_checkpointing`, on by default). The step's
time is split in the metrics: `rollout_time_s` (generation), `score_time_s` (the loss's
forward passes), `update_time_s` (backward passes and optimizer steps).
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
from trainer.policy import pad_id
from trainer.rollout import make_pairings
from trainer.step_metrics import MAX_GRAD_NORM, episode_metrics, update_metrics
from trainer.token_loss import TokenLossStats, enable_checkpointing, token_policy_loss

if TYPE_CHECKING:
    from trainer.run import Trainer


def make_generating_player(trainer: Trainer) -> GeneratingPlayer:
    """The trained model as the player generation mode plays with (and its checkpoints are
    registered as): the config's `reasoning` prompt, replies sampled at `temperature` up to
    `max_new_tokens` (the reasoning budget of `think-then-constrained`)."""
    return_freed_memory()
    s = trainer.config
    engine = trainer.rollout_engine
    backend = PolicyBackend(
        trainer.play_model,
        trainer.tokenizer,
        trainer.policy.device,
        scorer=trainer.play_policy,
        sampler=engine.sample if engine is not None else None,
    )
    sampling = Sampling(temperature=s.temperature, max_tokens=s.max_new_tokens, seed=s.seed)
    prompt = generation_prompt(s.include_rules, s.reasoning, s.max_new_tokens)
    return GeneratingPlayer("trainee", backend, prompt=prompt, sampling=sampling)


def generate_step(trainer: Trainer, player: GeneratingPlayer) -> dict[str, float]:
    """Play one batch of games with generated replies, take one optimizer step (`ppo_epochs`
    with PPO); return the step's metrics."""
    import torch

    s = trainer.config
    t0 = time.perf_counter()
    pairings = make_pairings(
        trainer.games, s.batch_games, s.seed, trainer.step, trainer.pool(), s.opponent_share
    )
    play = play_generated(
        player,
        trainer.dist.shard(pairings),  # this rank's games (all of them on one rank)
        illegal_penalty=s.illegal_penalty,
        format_reward=s.format_reward,
    )
    episodes = trainer.loop.run_until_complete(play)
    trainer.games_here = len(episodes)
    episodes = trainer.dist.gather(episodes)
    t_rollout = time.perf_counter() - t0
    if trainer.dist.main:
        write_samples(trainer.job_dir, trainer.step, episodes)
    batch = trainer.advantages(episodes)
    local = trainer.my_share(episodes, batch)
    total = sum(1 for reply, _ in batch if reply.reply_ids)  # type: ignore[attr-defined]
    lr = trainer.learning_rate()
    for group in trainer.optimizer.param_groups:
        group["lr"] = lr
    stats: TokenLossStats | None = None
    grad_norm = 0.0
    # Not TrainConfig fields yet: read with their defaults.
    micro_tokens = s.loss_micro_tokens
    checkpoint = s.gradient_checkpointing and _checkpointing_on(trainer)
    score_s = update_s = 0.0
    reference = trainer.reference.model if trainer.reference is not None else None
    for _ in range(s.ppo_epochs if s.algorithm == "ppo" else 1):
        trainer.optimizer.zero_grad(set_to_none=True)
        stats = token_policy_loss(
            trainer.model,
            local,  # type: ignore[arg-type]
            total=total,
            temperature=s.temperature,
            algorithm=s.algorithm,
            clip=s.clip,
            kl_coef=s.kl_coef,
            reference=reference,
            pad_id=pad_id(trainer.tokenizer),
            device=trainer.policy.device,
            micro_tokens=micro_tokens,
            checkpoint=checkpoint,
            scorer=trainer.policy,
            even=trainer.even_passes(),
        )
        t1 = time.perf_counter()
        params = trainer.sum_gradients()
        if params:
            norm = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
            trainer.optimizer.step()
        score_s += stats.forward_s
        update_s += stats.backward_s + time.perf_counter() - t1
    trainer.optimizer.zero_grad(set_to_none=True)  # the gradients' memory, until the next step
    trainer.step += 1
    t_sync = time.perf_counter()
    trainer.updated()  # the play copy (FSDP) has the new weights
    if trainer.rollout_engine is not None:  # the next rollout samples from the new weights
        trainer.rollout_engine.sync(trainer.play_model, trainer.step)
    sync_s = time.perf_counter() - t_sync
    assert stats is not None
    stats = trainer.dist.sum_stats(
        stats, weights={"entropy": "tokens", "answer_clip_fraction": "answered"}
    )
    metrics = episode_metrics(episodes, trainer.baselines)
    metrics.update(generation_metrics(episodes))
    metrics.update(update_metrics(stats, s.algorithm, grad_norm, lr, t0, t_rollout))
    metrics.update(
        rollout_tokens_per_s=metrics["rollout_tokens"] / max(t_rollout, 1e-9),
        score_time_s=score_s,
        update_time_s=update_s,
    )
    if trainer.rollout_engine is not None or trainer.sharded:
        metrics["sync_time_s"] = sync_s
    return metrics


def _checkpointing_on(trainer: Trainer) -> bool:
    """Enable activation checkpointing on the trainer's model once; whether it has it."""
    on = getattr(trainer, "_activation_checkpointing", None)
    if on is None:
        on = enable_checkpointing(trainer.model)
        trainer._activation_checkpointing = on  # type: ignore[attr-defined]
    return on


# glibc's malloc serves blocks under its mmap threshold from heaps it rarely gives back, and
# raises that threshold (up to 32 MB) each time a mapped block is freed: after a few steps the
# activations of the loss (tens of MB each) live in the heap and the freed ones stay resident.
# Fixed at 1 MB, they are mapped and unmapped: measured on SmolLM2-135M, one LoRA step's peak
# RSS fell from 2.6 GB to 1.1 GB for the same work (64 KB gave the same, 4 MB none of it).
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def return_freed_memory(threshold: int = MMAP_THRESHOLD) -> bool:
    """Make glibc's malloc map blocks of `threshold` bytes and more on their own, so that freed
    tensors leave the process (process-wide; a no-op and False off glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False
