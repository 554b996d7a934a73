"""Picking the next token of every decoding row: argmax, or a seeded draw.

Each sampled row draws one uniform number from its own CPU `torch.Generator`, seeded from its
request, and turns it into a token by inverse CDF over its distribution (cut by its top_k and
top_p): the draw depends on nothing else in the batch, so a seed gives the same reply alone
and batched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.backends.torch_batch import DecodeRow


def pick_tokens(logits: Any, rows: list[DecodeRow]) -> Any:
    """The next token of every row: argmax for greedy rows, a seeded draw for the others."""
    import torch

    tokens = logits.argmax(dim=-1)
    sampled = [j for j, row in enumerate(rows) if row.sampling.temperature > 0]
    if not sampled:
        return tokens
    dev = logits.device
    index = torch.tensor(sampled, dtype=torch.long, device=dev)
    picked = [rows[j] for j in sampled]
    temps = torch.tensor([r.sampling.temperature for r in picked], device=dev)
    probs = torch.softmax(logits.index_select(0, index).float() / temps[:, None], dim=-1)
    # One uniform number per row from the row's own generator: the draw depends on
    # nothing else in the batch.
    uniforms = torch.stack([torch.rand((), generator=r.generator) for r in picked]).to(dev)
    tokens = tokens.clone()
    tokens[index] = draw(probs, uniforms, picked)
    return tokens


def draw(probs: Any, uniforms: Any, rows: list[DecodeRow]) -> Any:
    """Inverse-CDF draws from each row's distribution, cut by its top_k and top_p.

    Rows without a cut draw over the vocabulary in its own order (no sort at all: a full sort
    costs more than the model's forward pass on a CPU). Rows with one draw from the head of
    their distribution (`topk`), widened until it holds every row's nucleus, so the draw
    does not depend on the other rows.
    """
    import torch

    vocab = probs.shape[-1]
    tokens = torch.empty(len(rows), dtype=torch.long, device=probs.device)
    plain = [j for j, r in enumerate(rows) if r.sampling.top_k <= 0 and r.sampling.top_p >= 1]
    cut = sorted(set(range(len(rows))) - set(plain))
    if plain:
        idx = torch.tensor(plain, dtype=torch.long, device=probs.device)
        tokens[idx] = inverse_cdf(probs[idx], uniforms[idx])
    if cut:
        idx = torch.tensor(cut, dtype=torch.long, device=probs.device)
        sub = probs[idx]
        cut_rows = [rows[j] for j in cut]
        top_k = torch.tensor(
            [r.sampling.top_k if r.sampling.top_k > 0 else vocab for r in cut_rows],
            device=probs.device,
        )
        top_p = torch.tensor([r.sampling.top_p for r in cut_rows], device=probs.device)
        # Rows cut by top_p alone need a head whose mass reaches top_p.
        only_p = torch.tensor([r.sampling.top_k <= 0 for r in cut_rows], device=probs.device)
        width = min(vocab, max(r.sampling.top_k for r in cut_rows) or 64)
        while True:
            head, order = torch.topk(sub, width, dim=-1)
            short = only_p & (head.sum(-1) < top_p)
            if width == vocab or not bool(short.any()):
                break
            width = min(vocab, width * 4)
        ranks = torch.arange(width, device=probs.device)[None, :]
        head = head.masked_fill(ranks >= top_k[:, None], 0.0)
        head = head / head.sum(-1, keepdim=True)
        # Keep the smallest head whose mass reaches top_p (at least one token).
        drop = ((head.cumsum(-1) - head) >= top_p[:, None]) & (top_p < 1.0)[:, None]
        drop[:, 0] = False
        choice = inverse_cdf(head.masked_fill(drop, 0.0), uniforms[idx])
        tokens[idx] = order.gather(1, choice[:, None])[:, 0]
    return tokens


def inverse_cdf(weights: Any, uniforms: Any) -> Any:
    """For each row, the first index whose cumulative weight exceeds u * total."""
    import torch

    cdf = weights.cumsum(-1)
    target = uniforms[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True)[:, 0].clamp(max=weights.shape[-1] - 1)
