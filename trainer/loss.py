"""Advantages and the policy-gradient loss over legal actions.

Role-conditioned advantage estimation (SPIRAL): an exponential moving average of returns per
(game, seat) is the baseline; a game's advantage for a seat is its return minus that seat's
baseline, and every turn of the seat gets it. MARS's option: each turn's value is its
return-to-go (its own reward, then the rest, discounted per turn), against a baseline of the
role's mean return-to-go. Optionally each (game, seat) group's advantages are divided by their
standard deviation (MARS's per-role normalisation); drawn games can be left out (`drawn`).

The loss is over the policy's distribution on the legal actions, pi = softmax(scores / T) with a
score the summed log-probability of an action's tokens, so the gradient reaches every token of
the chosen and the competing candidates. Moves drawn by epsilon-exploration are corrected by a
truncated importance weight pi_old / mu (mu the epsilon mixture the move was drawn from).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer.policy import ActionPolicy, Position
from trainer.rollout import Episode, TurnRecord

# The loss is computed (and back-propagated) this many distinct positions at a time: gradient
# accumulation, so a large batch never holds every activation at once.
LOSS_CHUNK = 64
MAX_NATURAL_WEIGHT = 50.0


@dataclass
class Baselines:
    """EMA baselines of returns, one per role: "game/seat" in self-play, "game/seat/vs-NAME"
    against a pool opponent (`Episode.role`)."""

    decay: float = 0.9
    values: dict[str, float] = field(default_factory=dict)

    def get(self, role: str) -> float:
        return self.values.get(role, 0.0)

    def update(self, role: str, mean_return: float) -> None:
        """b <- decay * b + (1 - decay) * mean return (b starts at 0: zero-sum games)."""
        self.values[role] = self.decay * self.values.get(role, 0.0) + (1 - self.decay) * mean_return


def turn_returns(episode: Episode, seat: int, gamma: float = 1.0) -> list[float]:
    """MARS's turn-level returns-to-go of one seat's turns, in the order it played them.

    Turn k's reward r_k is its own (`reward`: its share of the format reward), and the seat's
    last turn also gets the rest of the seat's return (the game's result, or the illegal
    penalty): G_k = r_k + gamma * G_(k+1). With gamma = 1 the first turn's G is the return.
    """
    turns = [t for t in episode.turns if t.seat == seat]
    if not turns:
        return []
    rewards = [t.reward for t in turns]
    rewards[-1] += episode.returns[seat] - sum(rewards)
    out = [0.0] * len(turns)
    acc = 0.0
    for k in range(len(turns) - 1, -1, -1):
        acc = rewards[k] + gamma * acc
        out[k] = acc
    return out


def drawn(episode: Episode) -> bool:
    """Whether the game was drawn: every seat the same result (before any format reward),
    nobody forfeited."""
    outcome = episode.outcome if episode.outcome is not None else episode.returns
    return not episode.forfeit and len(set(outcome)) == 1


def assign_advantages(
    episodes: Sequence[Episode],
    baselines: Baselines,
    *,
    normalize: bool = False,
    advantage: str = "game",
    gamma: float = 1.0,
) -> list[tuple[TurnRecord, float]]:
    """Every turn with its advantage: its value minus its role's baseline as it stood before
    this batch (with `normalize`, divided by the role's standard deviation of that difference
    in the batch); then each role's baseline moves toward the batch's mean value.

    A turn's value: `game` (SPIRAL), its seat's return; `turn` (MARS), its return-to-go
    (`turn_returns`, discounted by `gamma`). A role is a game and seat, and the pool opponent
    if any (`Episode.role`); pool opponents' seats are not trained and have no baseline.
    """
    if advantage not in ("game", "turn"):
        raise ValueError(f"unknown advantage estimator {advantage!r}")
    valued: list[tuple[TurnRecord, str, float]] = []
    groups: dict[str, list[float]] = {}
    for ep in episodes:
        for seat, ret in enumerate(ep.returns):
            if seat == ep.opponent_seat:
                continue
            role = ep.role(seat)
            turns = [t for t in ep.turns if t.seat == seat]
            if advantage == "turn":
                values = turn_returns(ep, seat, gamma)
                groups.setdefault(role, []).extend(values)
            else:
                values = [ret] * len(turns)
                groups.setdefault(role, []).append(ret)
            valued.extend((t, role, v) for t, v in zip(turns, values, strict=True))
    scale = dict.fromkeys(groups, 1.0)
    if normalize:
        for role, values in groups.items():
            if len(values) > 1:
                base = baselines.get(role)
                var = sum((v - base) ** 2 for v in values) / len(values)
                scale[role] = 1.0 / (math.sqrt(var) + 1e-6)
    out = [(t, (v - baselines.get(role)) * scale[role]) for t, role, v in valued]
    for role, values in groups.items():
        if values:
            baselines.update(role, sum(values) / len(values))
    return out


@dataclass
class LossStats:
    """What one pass over a batch measured (means over turns)."""

    loss: float
    pg_loss: float
    entropy: float
    kl: float
    advantage: float
    importance_weight: float
    clip_fraction: float
    turns: int


def policy_loss(
    policy: ActionPolicy,
    batch: Sequence[tuple[TurnRecord, float]],
    *,
    algorithm: str = "reinforce",
    clip: float = 0.2,
    entropy_coef: float = 0.0,
    kl_coef: float = 0.0,
    reference: ActionPolicy | None = None,
    estimator: str = "importance",
    magnet_coef: float = 0.0,
    backward: bool = True,
    total: int | None = None,
) -> LossStats:
    """The mean loss over `batch` (turn, advantage); with `backward`, its gradient is
    accumulated into the model's parameters (chunk by chunk: call `zero_grad` before).
    `total`: the whole batch's size when `batch` is one rank's share of it (the sums are
    divided by it, so the ranks' losses and gradients add up to the batch's mean).

    REINFORCE: -w * A * log pi(a|s), w = min(pi_old / mu, 1 + 10 * clip) a constant.
    PPO-clip (decoupled from the behaviour policy): -w * min(r A, clip(r, 1 - clip, 1 + clip) A)
    with r = pi(a|s) / pi_old(a|s). Both add -entropy_coef * H(pi) and kl_coef * KL(pi || ref)
    over the legal actions.
    """
    import torch

    if algorithm not in ("reinforce", "ppo"):
        raise ValueError(f"unknown algorithm {algorithm!r}")
    if kl_coef > 0 and reference is None:
        raise ValueError("kl_coef > 0 needs a reference policy")
    if not batch:
        return LossStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    n = total or len(batch)
    positions = list(dict.fromkeys(t.position for t, _ in batch))
    sums = dict.fromkeys(("loss", "pg", "entropy", "kl", "adv", "w", "clipped"), 0.0)
    for i in range(0, len(positions), LOSS_CHUNK):
        chunk = positions[i : i + LOSS_CHUNK]
        index = {p: k for k, p in enumerate(chunk)}
        scored = policy.scores(chunk)
        logps = [torch.log_softmax(s / policy.temperature, dim=-1) for s in scored]
        ref_logps = _reference_logps(reference, chunk) if kl_coef > 0 else None
        terms = []
        for turn, adv in batch:
            k = index.get(turn.position)
            if k is None:
                continue
            logp = logps[k]
            lp = logp[turn.chosen]
            centred = logp - logp.mean()  # the logits, up to the softmax's free shift
            w = move_weight(turn, estimator, clip)
            if algorithm == "ppo":
                ratio = torch.exp(lp - math.log(max(turn.policy_prob, 1e-30)))
                clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
                pg = -w * torch.minimum(ratio * adv, clipped * adv)
                sums["clipped"] += float(abs(ratio.item() - 1.0) > clip)
            else:
                pg = -w * adv * (centred[turn.chosen] if estimator == "natural" else lp)
            probs = logp.exp()
            entropy = -(probs * logp).sum()
            term = pg - entropy_coef * entropy
            if magnet_coef > 0:
                term = term + 0.5 * magnet_coef * (centred * centred).sum()
            if ref_logps is not None:
                kl = (probs * (logp - ref_logps[k])).sum()
                term = term + kl_coef * kl
                sums["kl"] += kl.item()
            terms.append(term)
            sums["loss"] += term.item()
            sums["pg"] += pg.item()
            sums["entropy"] += entropy.item()
            sums["adv"] += adv
            sums["w"] += w
        if backward and terms:
            (torch.stack(terms).sum() / n).backward()
    return LossStats(
        loss=sums["loss"] / n,
        pg_loss=sums["pg"] / n,
        entropy=sums["entropy"] / n,
        kl=sums["kl"] / n,
        advantage=sums["adv"] / n,
        importance_weight=sums["w"] / n,
        clip_fraction=sums["clipped"] / n,
        turns=len(batch),
    )


def move_weight(turn: TurnRecord, estimator: str, clip: float) -> float:
    """The constant weight of a turn's policy-gradient term.

    importance: min(pi_old / mu, 1 + 10 * clip), the truncated importance weight of a move drawn
    from the behaviour mixture mu. natural: 1 / mu, capped at MAX_NATURAL_WEIGHT, so that the
    advantage of every legal move is estimated without bias and the update in logit space is
    the advantage itself (the natural gradient of a softmax policy), which does not vanish on
    moves the policy has all but given up.
    """
    if estimator == "natural":
        return min(1.0 / turn.behaviour_prob, MAX_NATURAL_WEIGHT)
    return min(turn.policy_prob / turn.behaviour_prob, 1.0 + 10.0 * clip)


def _reference_logps(reference: Any, chunk: list[Position]) -> list[Any]:
    import torch

    with torch.no_grad():
        return [
            torch.log_softmax(s / reference.temperature, dim=-1) for s in reference.scores(chunk)
        ]
