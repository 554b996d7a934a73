"""What a training step reports, in either mode: the loss figures, learning rate and times of
the update (`update_metrics`), and per role the mean return, baselines and scores against the
pool (`episode_metrics`)."""

from __future__ import annotations

import time
from typing import Any

from trainer.loss import Baselines, drawn
from trainer.rollout import Episode

#: The gradient's norm is clipped to this before each optimizer step.
MAX_GRAD_NORM = 1.0


def update_metrics(
    stats: Any, algorithm: str, grad_norm: float, lr: float, started: float, rollout_s: float
) -> dict[str, float]:
    """A step's loss figures (either mode's stats), learning rate and times; with PPO, the
    share of clipped ratios."""
    out = dict(
        loss=stats.loss,
        pg_loss=stats.pg_loss,
        entropy=stats.entropy,
        kl=stats.kl,
        advantage=stats.advantage,
        grad_norm=grad_norm,
        lr=lr,
        step_time_s=time.perf_counter() - started,
        rollout_time_s=rollout_s,
    )
    if algorithm == "ppo":
        out["clip_fraction"] = stats.clip_fraction
    out.update(peak_memory())
    return out


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory so far (MB), and on CUDA the peak of its tensors
    on the GPU (MB): what a step needed at most, the figure to watch when it may not fit."""
    import resource
    import sys

    out: dict[str, float] = {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    out["peak_rss_mb"] = peak / (2**20 if sys.platform == "darwin" else 2**10)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def episode_metrics(episodes: list[Episode], baselines: Baselines) -> dict[str, float]:
    """Mean return per role (game and seat, and the pool opponent if any), decisions per game,
    invalid-move rate, reply length."""
    out: dict[str, float] = {}
    by_key: dict[str, list[float]] = {}
    for ep in episodes:
        for seat, ret in enumerate(ep.returns):
            if seat != ep.opponent_seat:
                by_key.setdefault(ep.role(seat), []).append(ret)
    for key, rets in sorted(by_key.items()):
        out[f"reward/{key}"] = sum(rets) / len(rets)
    for key, value in sorted(baselines.values.items()):
        out[f"baseline/{key}"] = value
    scores: dict[str, list[float]] = {}
    for ep in episodes:
        if ep.opponent is not None:
            scores.setdefault(f"score/{ep.game_id}/vs-{ep.opponent}", []).append(_score(ep))
    for key, values in sorted(scores.items()):
        out[key] = sum(values) / len(values)
    turns = [t for ep in episodes for t in ep.turns]
    out["decisions_per_game"] = len(turns) / max(1, len(episodes))
    out["drawn_rate"] = sum(map(drawn, episodes)) / max(1, len(episodes))
    out["invalid_rate"] = 0.0  # moves are drawn among the legal actions only
    out["reply_tokens"] = sum(t.reply_tokens for t in turns) / max(1, len(turns))
    return out


def _score(ep: Episode) -> float:
    """The policy's score against the pool opponent: 1 (its seats did better), 0.5 or 0."""
    assert ep.opponent_seat is not None
    mine = max(r for s, r in enumerate(ep.returns) if s != ep.opponent_seat)
    theirs = ep.returns[ep.opponent_seat]
    return 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0
