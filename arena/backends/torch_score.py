"""Scoring candidate replies with a Hugging Face causal language model, batched.

score(candidate) = the sum of the natural-log probabilities of the candidate's tokens (the
candidate tokenized on its own, no special tokens) appended to the prompt (the chat template
with the assistant turn opened); no end-of-turn token is scored.

The prompts of every request in a batch run once, together (left-padded); their KV cache is
then repeated for each candidate and all candidates continue from it in one more forward pass
(in chunks when the logits would be large). A prompt is never recomputed per candidate, which
matters for long prompts with many legal moves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from arena.backends.base import BackendError, Message
from arena.backends.batching import Pending
from arena.backends.torch_cache import cache_kwargs, output_cache
from arena.backends.torch_prompt import prompt_error

# Logit elements one scoring forward may produce (float32: 4 bytes each); more candidates are
# scored in chunks.
_LOGITS_BUDGET = 1 << 25


@dataclass
class ScoreJob:
    """Score each candidate as the whole assistant reply."""

    messages: list[Message]
    candidates: list[str]
    prompt: list[int] | None = None  # the prompt's and candidates' token ids, when the
    candidate_ids: list[list[int]] | None = None  # caller tokenized them
    text: str | None = None  # the rendered prompt, when the caller rendered it


@dataclass
class Scored:
    """What a `ScoreJob` returns: the log-probabilities and the token ids of each candidate."""

    prompt_tokens: int
    scores: list[float]
    candidate_ids: list[list[int]]
    batch_size: int  # score requests computed together


@dataclass
class _Request:
    item: Pending
    prompt: list[int]
    candidates: list[list[int]]


def score_batch(engine: Any, items: list[Pending]) -> None:
    """Score every `ScoreJob` in `items` on `engine` (a `TorchEngine`) and resolve it."""
    import torch

    requests: list[_Request] = []
    for item in items:
        job: ScoreJob = item.job
        try:
            prompt = job.prompt
            if prompt is None:
                prompt = (
                    engine.encode(job.text) if job.text is not None else engine.render(job.messages)
                )
            cands = job.candidate_ids
            if cands is None:
                cands = [engine.encode(c) for c in job.candidates]
            engine.check_context(len(prompt), max(map(len, cands), default=0))
        except Exception as exc:  # noqa: BLE001 - this request fails, the batch goes on
            item.fail(exc if isinstance(exc, BackendError) else prompt_error(exc))
            continue
        requests.append(_Request(item, prompt, cands))
    if not requests:
        return
    dev = engine.device
    width = max(len(r.prompt) for r in requests)
    ids = torch.full((len(requests), width), engine.pad_id, dtype=torch.long)
    mask = torch.zeros((len(requests), width), dtype=torch.long)
    for i, r in enumerate(requests):
        ids[i, width - len(r.prompt) :] = torch.tensor(r.prompt, dtype=torch.long)
        mask[i, width - len(r.prompt) :] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = engine.model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        **engine.keep_last,
    )
    # The prompt's last position predicts every candidate's first token.
    first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1).cpu()
    scores = [[0.0] * len(r.candidates) for r in requests]
    longer: list[tuple[int, int]] = []  # (request, candidate) with tokens after the first
    for i, r in enumerate(requests):
        for c, cand in enumerate(r.candidates):
            if cand:
                scores[i][c] = float(first[i, cand[0]])
            if len(cand) > 1:
                longer.append((i, c))
    if longer:
        _continuations(engine, output_cache(out), mask, requests, longer, scores)
    for i, r in enumerate(requests):
        r.item.resolve(Scored(len(r.prompt), scores[i], r.candidates, len(requests)))


def _continuations(
    engine: Any,
    cache: Any,
    prompt_mask: Any,
    requests: list[_Request],
    pairs: list[tuple[int, int]],
    scores: list[list[float]],
) -> None:
    """Add the log-probabilities of every candidate's tokens after its first."""
    import torch

    dev = engine.device
    width = max(len(requests[i].candidates[c]) - 1 for i, c in pairs)
    vocab = _vocab_size(engine.model)
    per_chunk = max(1, _LOGITS_BUDGET // (width * vocab))
    chunks = [pairs[k : k + per_chunk] for k in range(0, len(pairs), per_chunk)]
    for chunk in chunks:
        # Selecting rows replaces the cache's tensors: later chunks need the original.
        rows_cache = copy.deepcopy(cache) if len(chunks) > 1 else cache
        index = torch.tensor([i for i, _ in chunk], dtype=torch.long, device=dev)
        rows_cache.batch_select_indices(index)
        ids = torch.full((len(chunk), width), engine.pad_id, dtype=torch.long)
        targets = torch.zeros((len(chunk), width), dtype=torch.long)
        cand_mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for k, (i, c) in enumerate(chunk):
            cand = requests[i].candidates[c]
            n = len(cand) - 1
            ids[k, :n] = torch.tensor(cand[:-1])
            targets[k, :n] = torch.tensor(cand[1:])
            cand_mask[k, :n] = 1
        # Candidates are padded on the right: padding after a row's last token is never seen
        # by that row's real positions.
        starts = torch.tensor([len(requests[i].prompt) for i, _ in chunk])
        positions = starts[:, None] + torch.arange(width)[None, :]
        cand_mask = cand_mask.to(dev)
        out = engine.model(
            input_ids=ids.to(dev),
            attention_mask=torch.cat([prompt_mask[index], cand_mask], dim=1),
            position_ids=positions.to(dev),
            use_cache=True,
            **cache_kwargs(engine.model, rows_cache),
        )
        logits = out.logits.float()
        picked = logits.gather(-1, targets.to(dev)[..., None])[..., 0]
        logprobs = (picked - torch.logsumexp(logits, dim=-1)) * cand_mask
        for k, value in enumerate(logprobs.sum(dim=-1).tolist()):
            i, c = chunk[k]
            scores[i][c] += value


def _vocab_size(model: Any) -> int:
    head = model.get_output_embeddings()
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    return int(model.config.get_text_config().vocab_size)
