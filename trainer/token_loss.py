"""The token-level policy-gradient loss of generation mode.

Each reply's loss falls on its generated tokens only (the prompt is context, never a target),
with log pi(token_t | prefix) = log_softmax(logits / temperature)[token_t], the distribution
the rollout sampled from. A reply's advantage A is its seat's (`trainer.loss.assign_advantages`:
return minus the role's baseline), the same for all of its tokens.

- REINFORCE: -A * (1/T) sum_t log pi(token_t), T the reply's generated tokens.
- PPO-clip: -(1/T) sum_t min(r_t A, clip(r_t, 1 - clip, 1 + clip) A), with the per-token ratio
  r_t = exp(log pi(token_t) - log pi_old(token_t)), pi_old the log-probability recorded when the
  token was sampled.
- KL to the reference model (kl_coef > 0): + kl_coef * (1/T) sum_t k3_t, with
  k3_t = exp(d_t) - d_t - 1 and d_t = log pi_ref(token_t) - log pi(token_t) (Schulman's
  unbiased, non-negative estimator of KL(pi || pi_ref) from the sampled tokens).

A reply whose move was scored among the legal moves after its reasoning
(`think-then-constrained`) adds one more term, the same surrogate on the move's probability
among the legal moves (`token_policy_loss`).

The batch's loss is the mean over replies; it is back-propagated one micro-batch at a time
(gradient accumulation). A micro-batch holds whole replies up to `micro_tokens` padded tokens
(rows times the longest row; a longer reply goes alone), so long replies cannot blow the
memory a fixed number of replies would. Only the positions that predict generated tokens go
through the output layer (`logits_to_keep`): a 49k-word vocabulary makes the logits the largest
activation. With `checkpointing` (after `enable_checkpointing`), the decoder layers keep only
their inputs and recompute the rest in the backward pass (activation checkpointing).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trainer.generate import Generated
from trainer.policy import Position

# Padded tokens (prompt + reply, rows x the longest row) per micro-batch of the loss.
MICRO_TOKENS = 2048
# Scored answers (prompt, reasoning and every legal move) per forward pass of their term.
ANSWER_CHUNK = 4


@dataclass
class TokenLossStats:
    """What one pass over a batch measured (means over replies; entropy over tokens)."""

    loss: float
    pg_loss: float
    entropy: float
    kl: float
    advantage: float
    clip_fraction: float
    turns: int
    tokens: int
    answer_clip_fraction: float = 0.0  # PPO: share of scored moves whose ratio left the range
    answered: int = 0  # replies with a scored move
    forward_s: float = 0.0  # the loss's forward passes (log-probabilities, reference)
    backward_s: float = 0.0  # its backward passes (recomputation included)


def reply_logprobs(
    model: Any,
    replies: Sequence[Generated],
    *,
    temperature: float = 1.0,
    pad_id: int = 0,
    device: Any = "cpu",
    with_entropy: bool = False,
) -> tuple[list[Any], list[Any]]:
    """Each reply's generated tokens' log-probabilities (a tensor per reply, differentiable)
    from one right-padded forward pass over prompt + reply; with `with_entropy`, also each
    generated position's entropy of the tempered distribution (detached)."""
    import torch

    rows = [list(r.prompt_ids) + list(r.reply_ids[:-1]) for r in replies]
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, ids in enumerate(rows):
        input_ids[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[b, : len(ids)] = 1
    # The slots that predict the generated tokens (the prompt's last, then the reply's) of
    # every row lie in [low, width): only those go through the output layer.
    low = min(len(r.prompt_ids) - 1 for r in replies)
    keep = torch.arange(low, width, device=device)
    out = model(
        input_ids=input_ids.to(device),
        attention_mask=mask.to(device),
        use_cache=False,
        logits_to_keep=keep,
    )
    logps, entropies = [], []
    for b, r in enumerate(replies):
        start, n = len(r.prompt_ids) - 1 - low, len(r.reply_ids)
        logp = torch.log_softmax(out.logits[b, start : start + n].float() / temperature, dim=-1)
        target = torch.tensor(r.reply_ids, dtype=torch.long, device=logp.device)
        logps.append(logp.gather(-1, target[:, None])[:, 0])
        if with_entropy:
            with torch.no_grad():
                entropies.append(-(logp.exp() * logp).sum(-1))
    return logps, entropies


def micro_batches(
    batch: Sequence[tuple[Generated, float]], micro_tokens: int = MICRO_TOKENS
) -> list[list[tuple[Generated, float]]]:
    """`batch` cut into micro-batches of at most `micro_tokens` padded tokens (rows times the
    longest row of prompt + reply), the replies sorted by length so that little is padding; a
    reply longer than the budget is a micro-batch of its own."""
    if micro_tokens < 1:
        raise ValueError(f"micro_tokens must be at least 1, got {micro_tokens}")
    ordered = sorted(batch, key=lambda item: len(item[0].prompt_ids) + len(item[0].reply_ids))
    parts: list[list[tuple[Generated, float]]] = []
    width = 0
    for item in ordered:
        length = len(item[0].prompt_ids) + len(item[0].reply_ids) - 1
        if parts and max(width, length) * (len(parts[-1]) + 1) <= micro_tokens:
            parts[-1].append(item)
            width = max(width, length)
        else:
            parts.append([item])
            width = length
    return parts


def enable_checkpointing(model: Any) -> bool:
    """Turn on activation checkpointing of `model`'s decoder layers (a transformers model or a
    peft wrapper of one; non-reentrant, so frozen LoRA bases need no input gradients); it acts
    only inside `checkpointing(model)`. Returns False for a model that does not support it."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        return False
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return True


@contextmanager
def checkpointing(model: Any, on: bool = True) -> Iterator[None]:
    """Let the decoder layers checkpoint while the model stays in eval mode: transformers
    checkpoints a layer only when its `training` flag is set, so the flag is raised on those
    layers alone (not on their children: dropout stays off, and the loss's probabilities stay
    the rollout's)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = []
    if on:
        layers = [
            m
            for m in model.modules()
            if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing
        ]
    saved = [m.training for m in layers]
    for m in layers:
        m.training = True
    try:
        yield
    finally:
        for m, flag in zip(layers, saved, strict=True):
            m.training = flag


def token_objective(logp: Any, adv: float, old: Any = None, clip: float = 0.2) -> tuple[Any, float]:
    """Each generated token's surrogate objective (to be maximised) and the share of tokens
    whose ratio is outside the clip range. `old` None: REINFORCE, A * log pi(token_t); else
    PPO-clip, min(r_t A, clip(r_t, 1 - clip, 1 + clip) A) with r_t = exp(logp_t - old_t)."""
    import torch

    if old is None:
        return adv * logp, 0.0
    ratio = torch.exp(logp - old)
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    outside = float(((ratio.detach() - 1.0).abs() > clip).float().mean())
    return torch.minimum(ratio * adv, clipped * adv), outside


def token_policy_loss(
    model: Any,
    batch: Sequence[tuple[Generated, float]],
    *,
    temperature: float = 1.0,
    algorithm: str = "reinforce",
    clip: float = 0.2,
    kl_coef: float = 0.0,
    reference: Any = None,
    pad_id: int = 0,
    device: Any = "cpu",
    backward: bool = True,
    micro_tokens: int = MICRO_TOKENS,
    checkpoint: bool = False,
    scorer: Any = None,
    total: int | None = None,
    even: Any = None,
) -> TokenLossStats:
    """The mean loss over `batch` (reply, advantage); with `backward`, its gradient is
    accumulated into the model's parameters micro-batch by micro-batch (`micro_batches`; call
    `zero_grad` before). `checkpoint`: recompute the decoder layers in the backward pass
    (`enable_checkpointing` first). `total`: the whole batch's size when `batch` is one
    rank's share of it (sums are divided by it, so the ranks' parts add up to the mean).
    `even(count) -> passes` (a sharded model, `trainer.fsdp`): every rank makes as many passes
    as the busiest, idle ones after its own.

    A reply with a scored answer (`Generated.scored`) adds the move's term, its surrogate on
    log pi(move) = log_softmax(scores / temperature) over the legal moves, scored by `scorer`
    (the trainer's `ActionPolicy` on the same model) after the reasoning and the answer marker:
    REINFORCE's A log pi(move), or PPO's clipped ratio against the probability it was drawn
    with. (The KL term covers the generated tokens only.)"""
    import torch

    if algorithm not in ("reinforce", "ppo"):
        raise ValueError(f"unknown algorithm {algorithm!r}")
    if kl_coef > 0 and reference is None:
        raise ValueError("kl_coef > 0 needs a reference model")
    batch = [(r, a) for r, a in batch if r.reply_ids]
    parts = micro_batches(batch, micro_tokens) if batch else []
    answered = [(r, a) for r, a in batch if r.scored]
    chunks = [answered[i : i + ANSWER_CHUNK] for i in range(0, len(answered), ANSWER_CHUNK)]
    if even is not None:  # the sharded model's collectives: as many passes on every rank
        idle = even(len(parts)) - len(parts) + even(len(chunks)) - len(chunks)
        _idle_passes(model, idle, device, backward)
    if not batch:
        return TokenLossStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    n = total or len(batch)
    sums = dict.fromkeys(("loss", "pg", "entropy", "kl", "adv", "clipped", "answer_clipped"), 0.0)
    tokens = 0
    forward_s = backward_s = 0.0
    for part in parts:
        t0 = time.perf_counter()
        replies = [r for r, _ in part]
        with checkpointing(model, checkpoint and backward), torch.set_grad_enabled(backward):
            logps, entropies = reply_logprobs(
                model,
                replies,
                temperature=temperature,
                pad_id=pad_id,
                device=device,
                with_entropy=True,
            )
        ref = None
        if kl_coef > 0:
            with torch.no_grad():
                ref, _ = reply_logprobs(
                    reference, replies, temperature=temperature, pad_id=pad_id, device=device
                )
        terms = []
        for k, ((reply, adv), lp) in enumerate(zip(part, logps, strict=True)):
            old = None
            if algorithm == "ppo":
                old = torch.tensor(reply.logprobs, dtype=lp.dtype, device=lp.device)
            per_token, clipped = token_objective(lp, adv, old, clip)
            pg = -per_token.mean()
            sums["clipped"] += clipped
            term = pg
            if ref is not None:
                d = ref[k] - lp
                kl = (torch.exp(d) - d - 1.0).mean()
                term = term + kl_coef * kl
                sums["kl"] += kl.item()
            terms.append(term)
            sums["loss"] += term.item()
            sums["pg"] += pg.item()
            sums["entropy"] += float(entropies[k].sum())
            sums["adv"] += adv
            tokens += len(reply.reply_ids)
        t1 = time.perf_counter()
        forward_s += t1 - t0
        if backward:
            (torch.stack(terms).sum() / n).backward()
            backward_s += time.perf_counter() - t1
        del logps, entropies, terms, ref  # this micro-batch's graph and logits go now
    if answered:
        if scorer is None:
            raise ValueError("scored answers need the scorer that drew them")
        for part in chunks:
            t0 = time.perf_counter()
            positions = [
                Position(
                    r.answer_prompt,
                    r.answer_candidates,
                    tuple(map(str, range(len(r.answer_candidates)))),
                )
                for r, _ in part
            ]
            with checkpointing(model, checkpoint and backward), torch.set_grad_enabled(backward):
                scored = scorer.scores(positions)
            terms = []
            for (reply, adv), scores in zip(part, scored, strict=True):
                lp = torch.log_softmax(scores / temperature, dim=-1)[
                    reply.answer_index : reply.answer_index + 1
                ]
                old = None
                if algorithm == "ppo":
                    old = torch.tensor([reply.answer_logprob], dtype=lp.dtype, device=lp.device)
                objective, clipped = token_objective(lp, adv, old, clip)
                pg = -objective.sum()
                terms.append(pg)
                sums["loss"] += pg.item()
                sums["pg"] += pg.item()
                sums["answer_clipped"] += clipped
            t1 = time.perf_counter()
            forward_s += t1 - t0
            if backward:
                (torch.stack(terms).sum() / n).backward()
                backward_s += time.perf_counter() - t1
            del scored, terms
    return TokenLossStats(
        loss=sums["loss"] / n,
        pg_loss=sums["pg"] / n,
        entropy=sums["entropy"] / max(1, tokens),
        kl=sums["kl"] / n,
        advantage=sums["adv"] / n,
        clip_fraction=sums["clipped"] / n,
        answer_clip_fraction=sums["answer_clipped"] / max(1, len(answered)),
        answered=len(answered),
        turns=len(batch),
        tokens=tokens,
        forward_s=forward_s,
        backward_s=backward_s,
    )


def _idle_passes(model: Any, count: int, device: Any, backward: bool) -> None:
    """`count` passes that change nothing (`trainer.fsdp.idle_pass`)."""
    if count <= 0:
        return
    import logging

    from trainer.fsdp import idle_pass

    logging.getLogger("trainer").info("fsdp: %d idle passes (as many as the busiest rank)", count)

    for _ in range(count):
        idle_pass(model, device, backward=backward)
