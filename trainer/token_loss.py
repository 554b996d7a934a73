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

The batch's loss is the mean over replies; it is back-propagated `GEN_LOSS_CHUNK` replies at a
time (gradient accumulation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainer.generate import Generated

GEN_LOSS_CHUNK = 8


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
    out = model(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False)
    logps, entropies = [], []
    for b, r in enumerate(replies):
        start, n = len(r.prompt_ids) - 1, len(r.reply_ids)
        # the slots that predict the generated tokens: the prompt's last, then the reply's
        logp = torch.log_softmax(out.logits[b, start : start + n].float() / temperature, dim=-1)
        target = torch.tensor(r.reply_ids, dtype=torch.long, device=logp.device)
        logps.append(logp.gather(-1, target[:, None])[:, 0])
        if with_entropy:
            entropies.append(-(logp.exp() * logp).sum(-1).detach())
    return logps, entropies


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
    chunk: int = GEN_LOSS_CHUNK,
) -> TokenLossStats:
    """The mean loss over `batch` (reply, advantage); with `backward`, its gradient is
    accumulated into the model's parameters chunk by chunk (call `zero_grad` before)."""
    import torch

    if algorithm not in ("reinforce", "ppo"):
        raise ValueError(f"unknown algorithm {algorithm!r}")
    if kl_coef > 0 and reference is None:
        raise ValueError("kl_coef > 0 needs a reference model")
    batch = [(r, a) for r, a in batch if r.reply_ids]
    n = len(batch)
    if n == 0:
        return TokenLossStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    sums = dict.fromkeys(("loss", "pg", "entropy", "kl", "adv", "clipped"), 0.0)
    tokens = 0
    for i in range(0, n, chunk):
        part = batch[i : i + chunk]
        replies = [r for r, _ in part]
        logps, entropies = reply_logprobs(
            model, replies, temperature=temperature, pad_id=pad_id, device=device, with_entropy=True
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
        if backward:
            (torch.stack(terms).sum() / n).backward()
    return TokenLossStats(
        loss=sums["loss"] / n,
        pg_loss=sums["pg"] / n,
        entropy=sums["entropy"] / max(1, tokens),
        kl=sums["kl"] / n,
        advantage=sums["adv"] / n,
        clip_fraction=sums["clipped"] / n,
        turns=n,
        tokens=tokens,
    )
