"""Batched decoding with a Hugging Face causal language model, for `BatchWorker`.

`TorchEngine.run_batch` receives the requests a `BatchWorker` gathered and decodes them as
one left-padded batch with a KV cache, step by step, in our own loop rather than
`model.generate`: every row keeps its own sampling settings, seed, stop strings and token
budget. Position ids count only a row's real tokens and the attention mask hides the padding,
which makes a row's greedy output the same in a batch as alone.

A row that finishes is answered at once and dropped from the batch and from the cache;
requests that arrive meanwhile are prefilled and join the running batch (continuous
batching), so a long reply does not hold up the matches that are ready for their next move.

What a batch of concurrent matches shares is computed once: prompts that start like a recent
one reuse its keys and values (`PrefixStore`), identical prompts in one batch are prefilled
once, and prompts that start like another one of the same batch wait for it (a second wave).
The cache grows in place (`growing_layer`): decode steps and joining rows write into spare
room instead of copying it. Both live in `arena.backends.torch_cache`; the running batch's
rows and tensors in `arena.backends.torch_batch`.

Sampling uses one CPU `torch.Generator` per request, seeded from the request: the uniform
number drawn for a row depends on nothing else in the batch, so a seed gives the same reply
alone and batched (`arena.backends.torch_sampling`). Scoring lives in
`arena.backends.torch_score`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arena.backends.base import BackendError, Generation, Message, Sampling
from arena.backends.batching import Pending
from arena.backends.torch_batch import DecodeBatch, DecodeRow
from arena.backends.torch_cache import (
    MAX_SPARE,
    MIN_PREFIX,
    PrefixStore,
    cache_kwargs,
    common_prefixes,
    id_matrix,
    ids_tensor,
    output_cache,
)
from arena.backends.torch_prompt import prompt_error
from arena.backends.torch_sampling import pick_tokens
from arena.backends.torch_score import ScoreJob, score_batch

# `admit(rows)`: the requests that arrived meanwhile, up to the batch's free rows.
Admit = Callable[[int], list[Pending]]


@dataclass
class GenerateJob:
    """A free generation request."""

    messages: list[Message]
    sampling: Sampling
    seed: int
    prompt: list[int] | None = None  # the prompt's token ids, when the caller has them
    text: str | None = None  # else the rendered prompt, when the caller rendered it


class TorchEngine:
    """Runs batches of `GenerateJob`s and `ScoreJob`s on one model (in the worker thread).

    `render(messages)` turns chat messages into prompt token ids (the chat template with the
    generation prompt), `encode(text)` tokenizes a candidate on its own, `decode(ids)` turns
    generated ids into text; all three are called from the worker thread (render and encode
    only for jobs that come without their token ids).
    `prefix_slots` recent prompts keep their keys and values so that prompts starting the
    same way skip that part of the prefill (0 turns this off).
    """

    def __init__(
        self,
        model: Any,
        *,
        device: Any,
        render: Callable[[list[Message]], list[int]],
        encode: Callable[[str], list[int]],
        decode: Callable[[list[int]], str],
        eos_ids: set[int],
        pad_id: int,
        max_context: int | None,
        prefix_slots: int = 32,
    ) -> None:
        self.model = model
        self.device = device
        self.render = render
        self.encode = encode
        self.decode = decode
        self.eos_ids = frozenset(eos_ids)
        self.pad_id = pad_id
        self.max_context = max_context
        self.prefixes = PrefixStore(prefix_slots) if prefix_slots > 0 else None
        self.can_merge = False  # the model's cache is made of plain growing layers
        self._texts: dict[tuple[int, ...], str] = {}  # replies decoded in this step
        # Ask for the last position's logits only, when the model supports it.
        self.keep_last: dict[str, int] = {}
        if "logits_to_keep" in inspect.signature(model.forward).parameters:
            self.keep_last = {"logits_to_keep": 1}

    def run_batch(self, items: list[Pending], admit: Admit | None = None) -> None:
        """Compute every item and resolve (or fail) it; take more through `admit` while
        decoding, when given."""
        import torch

        with torch.inference_mode():
            gens = self._dispatch(items)
            if gens:
                self._generate(gens, admit)

    def _dispatch(self, items: list[Pending]) -> list[Pending]:
        """Score the score jobs now; return the generation jobs."""
        scores = [p for p in items if isinstance(p.job, ScoreJob)]
        for p in items:
            if not isinstance(p.job, ScoreJob | GenerateJob):
                p.fail(BackendError(f"unknown job {type(p.job).__name__}"))
        if scores:
            score_batch(self, scores)
        return [p for p in items if isinstance(p.job, GenerateJob)]

    # -- generation ---------------------------------------------------------------------

    def _prepare_row(self, item: Pending) -> DecodeRow | None:
        job: GenerateJob = item.job
        try:
            prompt = job.prompt
            if prompt is None:
                prompt = (
                    self.encode(job.text) if job.text is not None else self.render(job.messages)
                )
            self.check_context(len(prompt), 1)
        except Exception as exc:  # noqa: BLE001 - this request fails, the batch goes on
            item.fail(exc if isinstance(exc, BackendError) else prompt_error(exc))
            return None
        budget = job.sampling.max_tokens
        if self.max_context is not None:
            budget = min(budget, self.max_context - len(prompt))
        row = DecodeRow(item, prompt, job.sampling, job.seed, max(0, budget))
        if job.sampling.temperature > 0:
            import torch

            row.generator = torch.Generator().manual_seed(job.seed)
        return row

    def _generate(self, items: list[Pending], admit: Admit | None) -> None:
        batch = self._start(items, running=0)
        while batch is not None or admit is not None:
            rows = 0 if batch is None else len(batch.rows)
            if admit is not None:
                # Requests that arrived while we decode join the batch instead of waiting
                # for it to end (when the cache allows it).
                more = admit(rows) if batch is None or batch.can_merge else []
                fresh = self._start(self._dispatch(more), running=rows) if more else None
                if fresh is not None:
                    batch = fresh if batch is None else batch.merge(fresh)
            if batch is None:
                return
            batch = self._step(batch)

    def _start(self, items: list[Pending], running: int) -> DecodeBatch | None:
        """Prefill new requests as one left-padded batch and pick their first tokens."""
        rows = [r for r in map(self._prepare_row, items) if r is not None]
        for row in rows:
            row.batch_size = running + len(rows)
            if row.budget == 0:
                self._finish(row, "length")
        rows = [r for r in rows if r.finish is None]
        if not rows:
            return None
        batch: DecodeBatch | None = None
        # (row, the row with the same prompt it copies)
        twins: list[tuple[DecodeRow, DecodeRow]] = []
        if self.can_merge:
            # Rows asking exactly what another row asks copy its prefilled cache and logits.
            first: dict[tuple[int, ...], DecodeRow] = {}
            for row in rows:
                twin = first.setdefault(tuple(row.prompt), row)
                if twin is not row:
                    twins.append((row, twin))
            rows = list(first.values())
        reuse = self.prefixes.find([r.prompt for r in rows]) if self.prefixes else []
        for k, wave in enumerate(self._waves(rows, reuse)):
            part = [rows[i] for i in wave]
            if not self.prefixes:
                hits: list[tuple[int, int] | None] = [None] * len(part)
            else:  # (the second wave reuses what the first one just stored)
                hits = (
                    [reuse[i] for i in wave]
                    if k == 0
                    else self.prefixes.find([r.prompt for r in part])
                )
            batch = self._prefill_wave(part, hits, batch)
        assert batch is not None
        if twins:
            where = {id(row): j for j, row in enumerate(batch.rows)}
            batch.copy_rows([where[id(twin)] for _, twin in twins], [row for row, _ in twins])
        return self._settle(batch, pick_tokens(batch.tokens, batch.rows))

    def _waves(self, rows: list[DecodeRow], reuse: list[tuple[int, int] | None]) -> list[list[int]]:
        """Split the rows into prefill waves: the second wave's prompts start like first-wave
        prompts (much longer than like any stored one), so they run after the first wave is
        stored and reuse its keys and values.

        Concurrent matches often ask near-identical questions at once (the same opening, the
        same board); a match played alone finds its twin in the prefix store instead. The
        second wave costs a forward pass of its own, so it runs only when it saves more.
        """
        everything = [list(range(len(rows)))]
        if self.prefixes is None or not self.can_merge or len(rows) < 2:
            return everything
        import torch

        prompts = [r.prompt for r in rows]
        ids = id_matrix(prompts, -1)
        shared = common_prefixes(ids, ids)
        limit = torch.tensor([len(p) - 1 for p in prompts])
        shared = torch.minimum(shared, limit[:, None]).tolist()
        leaders: list[int] = []
        followers: list[int] = []
        saved = 0
        for i, hit in enumerate(reuse):
            stored = hit[1] if hit is not None else 0
            best = max((shared[i][j] for j in leaders), default=0)
            if best - stored >= MIN_PREFIX:
                followers.append(i)
                saved += best - stored
            else:
                leaders.append(i)
        if saved <= _PASS_COST:
            return everything
        return [leaders, followers]

    def _prefill_wave(
        self, rows: list[DecodeRow], reuse: list[tuple[int, int] | None], batch: DecodeBatch | None
    ) -> DecodeBatch:
        """Prefill these rows in one or more passes (grouped by the tokens each must
        compute), store their prompts, and merge them into `batch`."""
        fresh_tokens = [len(r.prompt) - (hit[1] if hit else 0) for r, hit in zip(rows, reuse)]
        groups = [list(range(len(rows)))]
        if self.can_merge:  # (learnt from the first prefill: passes merge into one batch)
            groups = prefill_groups(fresh_tokens)
        for group in groups:
            part = [rows[i] for i in group]
            hits = [reuse[i] for i in group]
            out, mask, positions = self._prefill(part, hits)
            fresh = DecodeBatch(part, output_cache(out), mask, positions[:, -1] + 1)
            self.can_merge = fresh.can_merge
            if self.prefixes is not None and fresh.can_merge:
                self.prefixes.remember(part, fresh.cache, [h[1] if h else 0 for h in hits])
            fresh.tokens = out.logits[:, -1, :]  # the logits, merged along with the rows
            batch = fresh if batch is None else batch.merge(fresh)
        assert batch is not None
        return batch

    def _prefill(
        self, rows: list[DecodeRow], reuse: list[tuple[int, int] | None]
    ) -> tuple[Any, Any, Any]:
        """Run the rows' prompts as one left-padded batch; returns the model output, the
        attention mask and the positions.

        A prompt that starts like one seen recently (the same system prompt, the same match's
        earlier turns) reuses that prompt's cached keys and values and computes only the rest:
        the cached part of each row sits left-padded in front of its new part, with padding
        between them hidden by the mask. Prefill costs about as much per token as the model's
        full size, so this is where a batch of long prompts spends its time.
        """
        import torch

        cached = [0 if hit is None else hit[1] for hit in reuse]
        head = max(cached)
        width = max(len(r.prompt) - n for r, n in zip(rows, cached))
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), head + width), dtype=torch.long)
        for i, (row, n) in enumerate(zip(rows, cached)):
            rest = len(row.prompt) - n
            ids[i, width - rest :] = ids_tensor(row.prompt[n:])
            mask[i, head - n : head] = 1
            mask[i, head + width - rest :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        # Left padding: a row's positions count its real tokens only, as if it ran alone.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra: dict[str, Any] = {}
        if head and self.prefixes is not None:
            # Room for the prompts' new parts and the first decode steps: no copy until then.
            spare = max(1, min(max(r.budget for r in rows), MAX_SPARE))
            extra.update(cache_kwargs(self.model, self.prefixes.cache(reuse, head, width + spare)))
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions[:, head:],
            use_cache=True,
            **extra,
            **self.keep_last,
        )
        return out, mask, positions

    def _step(self, batch: DecodeBatch) -> DecodeBatch | None:
        """Feed every row its last token and pick the next one."""
        import torch

        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
        out = self.model(
            input_ids=batch.tokens[:, None],
            attention_mask=batch.mask,
            position_ids=batch.next_pos[:, None],
            use_cache=True,
            **cache_kwargs(self.model, batch.cache),
        )
        batch.cache = output_cache(out)
        batch.next_pos = batch.next_pos + 1
        return self._settle(batch, pick_tokens(out.logits[:, -1, :], batch.rows))

    def _settle(self, batch: DecodeBatch, tokens: Any) -> DecodeBatch | None:
        """Append the picked tokens; answer and drop the rows that are done."""
        keep: list[int] = []
        self._texts.clear()
        eos = self.eos_ids
        for j, (row, token) in enumerate(zip(batch.rows, tokens.tolist())):
            row.ids.append(token)
            # (a plain token that ends nothing, the common case, costs no further call)
            if row.watches_text or token in eos or len(row.ids) >= row.budget:
                self._advance(row, token)
            if row.finish is None and not row.item.cancelled:
                keep.append(j)
        if not keep:
            return None
        batch.tokens = tokens
        if len(keep) < len(batch.rows):
            batch.select(keep)
        return batch

    def _advance(self, row: DecodeRow, token: int) -> None:
        """After `token` joined a row's ids: finish it on eos, a stop string or its budget,
        and stream its new text."""
        if token in self.eos_ids:
            row.stopped_by = "eos"
            self._finish(row, "stop")
            return
        if row.watches_text:
            row.text = self.decode(row.ids)
            for stop in row.sampling.stop:
                at = row.text.find(stop) if stop else -1
                if at >= 0:
                    row.text = row.text[:at]
                    row.stopped_by = stop
                    self._finish(row, "stop")
                    return
            if row.item.on_text is not None:
                # Hold back what could still turn out to be the start of a stop string, and
                # a trailing partial character.
                hold = max((len(s) for s in row.sampling.stop), default=1) - 1
                end = len(row.text) - hold
                while end > row.emitted and row.text[end - 1] == "\ufffd":
                    end -= 1
                if end > row.emitted:
                    row.item.emit(row.text[row.emitted : end])
                    row.emitted = end
        if len(row.ids) >= row.budget:
            self._finish(row, "length")

    def _finish(self, row: DecodeRow, reason: str) -> None:
        row.finish = reason
        if row.stopped_by is None or row.stopped_by == "eos":
            body = tuple(row.ids[:-1] if row.stopped_by == "eos" else row.ids)
            # (rows with the same prompt often finish together with the same reply)
            text = self._texts.get(body)
            if text is None:
                text = self._texts[body] = self.decode(list(body))
            row.text = text
        if len(row.text) > row.emitted:
            row.item.emit(row.text[row.emitted :])
            row.emitted = len(row.text)
        meta: dict[str, Any] = {"batch_size": row.batch_size}
        if row.sampling.temperature > 0:
            meta["seed"] = row.seed
        if row.stopped_by is not None:
            meta["stopped_by"] = row.stopped_by
        row.item.resolve(
            Generation(
                text=row.text,
                prompt_tokens=len(row.prompt),
                completion_tokens=len(row.ids),
                finish_reason=reason,
                token_ids=list(row.ids),
                meta=meta,
            )
        )

    # -- shared -------------------------------------------------------------------------

    def check_context(self, prompt_tokens: int, more: int) -> None:
        """Raise `BackendError` when a prompt and `more` tokens do not fit the context."""
        if self.max_context is not None and prompt_tokens + more > self.max_context:
            raise BackendError(
                f"the prompt has {prompt_tokens} tokens (+{more} to come) but the model's "
                f"context holds {self.max_context}"
            )


# What one more prefill forward pass costs, in padded tokens' worth of compute (measured on a
# CPU with a tiny model: ~0.8 ms per pass against ~8 us per row-token).
_PASS_COST = 96


def prefill_groups(fresh: list[int]) -> list[list[int]]:
    """Split rows into prefill passes, given the tokens each must compute.

    A pass is as wide as its longest row, so rows that reuse most of their prompt and rows
    that reuse little are better apart; each pass also has a fixed cost (`_PASS_COST`). The
    rows sorted by width are cut into runs that minimise the padded tokens plus the passes'
    costs (a small dynamic programme: there are at most a batch's rows).
    """
    order = sorted(range(len(fresh)), key=lambda i: fresh[i])
    # best[j]: the cheapest split of the first j rows; cut[j]: where its last run starts.
    best, cut = [0] * (len(order) + 1), [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        width = fresh[order[j - 1]]
        best[j], cut[j] = min((best[i] + _PASS_COST + (j - i) * width, i) for i in range(j))
    groups: list[list[int]] = []
    j = len(order)
    while j > 0:
        groups.append(sorted(order[cut[j] : j]))
        j = cut[j]
    return groups
