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
one reuse its keys and values (`_PrefixStore`), identical prompts in one batch are prefilled
once, and prompts that start like another one of the same batch wait for it (a second wave).
The cache grows in place (`growing_layer`): decode steps and joining rows write into spare
room instead of copying it.

Sampling uses one CPU `torch.Generator` per request, seeded from the request: the uniform
number drawn for a row depends on nothing else in the batch, so a seed gives the same reply
alone and batched. Scoring lives in `arena.backends.torch_score`.
"""

from __future__ import annotations

import functools
import inspect
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.backends.base import BackendError, Generation, Message, Sampling
from arena.backends.batching import Pending
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


@dataclass
class _Row:
    """One generation request while it decodes."""

    item: Pending
    prompt: list[int]
    sampling: Sampling
    seed: int
    budget: int  # new tokens allowed (max_tokens cut to the context)
    generator: Any = None  # torch.Generator, for sampled rows
    ids: list[int] = field(default_factory=list)
    text: str = ""  # decoded so far (kept only when stop strings or streaming need it)
    emitted: int = 0  # characters of `text` already streamed
    finish: str | None = None
    stopped_by: str | None = None
    batch_size: int = 1  # rows decoding together when this one started
    watches_text: bool = False  # stop strings or streaming: decode the text every step

    def __post_init__(self) -> None:
        self.watches_text = bool(self.sampling.stop) or self.item.on_text is not None


class _Batch:
    """The rows decoding together and their tensors: the KV cache, the attention mask (one
    column per cached position, left padding as zeros), each row's next position and the
    token it feeds next."""

    def __init__(self, rows: list[_Row], cache: Any, mask: Any, next_pos: Any) -> None:
        self.rows = rows
        self.cache = cache
        self.mask = mask
        self.next_pos = next_pos
        self.tokens: Any = None
        # Other rows can join (and padding can be trimmed) only when every cache layer is a
        # plain growing one; sliding-window and other caches keep the batch as it started.
        layers = getattr(cache, "layers", None)
        self.can_merge = bool(layers) and all(type(layer) in _plain_layers() for layer in layers)
        if self.can_merge:
            # Decode steps then append into spare room instead of copying the whole cache.
            spare = self.spare()
            grow = growing_layer()
            cache.layers = [grow.adopt(layer, spare) for layer in layers]

    def spare(self) -> int:
        """Columns to reserve after the cache: the longest remaining budget, within limits."""
        left = max((row.budget - len(row.ids) for row in self.rows), default=1)
        return max(1, min(left, _MAX_SPARE))

    def select(self, keep: list[int]) -> None:
        """Keep only these rows, and drop the padding columns no kept row needs.

        With growing layers the kept rows past the end fill the holes the others leave (the
        order of rows changes), and trimming columns is a view: only moved rows are copied.
        """
        import torch

        if not self.can_merge:
            index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
            self.cache.batch_select_indices(index)
            self._take(index, [self.rows[j] for j in keep])
            return
        kept = set(keep)
        holes = [i for i in range(len(keep)) if i not in kept]
        movers = [j for j in keep if j >= len(keep)]
        order = list(range(len(keep)))
        for hole, mover in zip(holes, movers):
            order[hole] = mover
        self._take(
            torch.tensor(order, dtype=torch.long, device=self.mask.device),
            [self.rows[j] for j in order],
        )
        for layer in self.cache.layers:
            layer.fill(holes, movers, len(keep))
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0, 0]) if len(used) else 0
        if first:
            self.mask = self.mask[:, first:]
            for layer in self.cache.layers:
                layer.trim(first)

    def _take(self, index: Any, rows: list[_Row]) -> None:
        self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        self.tokens = self.tokens[index]
        self.rows = rows

    def copy_rows(self, sources: list[int], rows: list[_Row]) -> None:
        """Append `rows`, which start as copies of the rows at `sources` (same prompt)."""
        import torch

        index = torch.tensor(
            list(range(len(self.rows))) + sources, dtype=torch.long, device=self.mask.device
        )
        self._take(index, self.rows + rows)
        for layer in self.cache.layers:
            layer.append_copies(sources)

    def merge(self, other: _Batch) -> _Batch:
        """Append `other`'s rows; the shorter cache is padded on the left to the longer (in
        place when `other` is the shorter: only its rows are copied)."""
        import torch

        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(t: Any, dim: int) -> Any:
            missing = width - t.shape[dim]
            if missing == 0:
                return t
            shape = list(t.shape)
            shape[dim] = missing
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        self.rows = self.rows + other.rows
        spare = self.spare()
        if width == self.mask.shape[1]:
            for mine, theirs in zip(self.cache.layers, other.cache.layers):
                mine.spare = spare
                mine.append(theirs.keys, theirs.values)
        else:
            grow = growing_layer()
            self.cache.layers = [
                grow.joined(mine, theirs, width, spare)
                for mine, theirs in zip(self.cache.layers, other.cache.layers)
            ]
        self.mask = torch.cat([pad(self.mask, 1), pad(other.mask, 1)], dim=0)
        self.next_pos = torch.cat([self.next_pos, other.next_pos])
        self.tokens = torch.cat([self.tokens, other.tokens])
        return self


# Most columns a batch's cache reserves ahead of its decode steps (each reservation that runs
# out copies the cache once; a larger one holds memory that finished rows may never use).
_MAX_SPARE = 256


@functools.cache
def _plain_layers() -> tuple[type, ...]:
    """Cache layer types that simply grow by one column per token (no window, no state)."""
    from transformers.cache_utils import DynamicLayer

    return (DynamicLayer, growing_layer())


@functools.cache
def growing_layer() -> type:
    """`GrowingLayer`: a transformers `DynamicLayer` with room after its keys and values.

    The plain layer appends a decode step with `torch.cat`, which copies the whole cache
    every step (for a batch of long prompts that costs more than the step's attention), and
    rows joining or leaving a batch copy it again. This one keeps spare columns and rows in
    its buffers: a step writes into the next column, newcomers into the next rows, and the
    model gets views. (Built on first use: transformers is imported only where needed.)"""
    import torch
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """Keys and values in buffers of shape (row room, heads, column room, dim): the
        first `rows` rows and `used` columns hold the cache; left padding is zeros."""

        def __init__(self, spare: int = 64) -> None:
            self._k: Any = None
            self._v: Any = None
            self._rows = 0
            self._used = 0
            self.spare = spare  # columns to reserve when a step runs out of room
            super().__init__()

        @classmethod
        def adopt(cls, layer: Any, spare: int) -> GrowingLayer:
            """A growing layer holding `layer`'s keys and values (no copy; room is made by
            the first append that needs it)."""
            if isinstance(layer, cls):
                layer.spare = spare
                return layer
            new = cls(spare)
            if layer.is_initialized and layer.keys is not None and layer.keys.dim() == 4:
                new.dtype, new.device = layer.keys.dtype, layer.keys.device
                new.is_initialized = True
                new.keys, new.values = layer.keys, layer.values
            return new

        @classmethod
        def holding(cls, keys: Any, values: Any, used: int) -> GrowingLayer:
            """A layer over these buffers, whose first `used` columns are the cache."""
            new = cls(max(1, keys.shape[2] - used))
            new.dtype, new.device, new.is_initialized = keys.dtype, keys.device, True
            new._k, new._v, new._rows, new._used = keys, values, keys.shape[0], used
            return new

        @classmethod
        def joined(cls, a: Any, b: Any, width: int, spare: int) -> GrowingLayer:
            """The rows of `a` then those of `b`, each left-padded to `width` columns."""
            new = cls.holding(a.keys[:0], a.values[:0], 0)
            new.spare = spare
            new._reserve(a.keys.shape[0] + b.keys.shape[0], width + spare)
            new._used = width
            new.append(a.keys, a.values)
            new.append(b.keys, b.values)
            return new

        @property
        def keys(self) -> Any:
            return None if self._k is None else self._k[: self._rows, :, : self._used]

        @keys.setter
        def keys(self, value: Any) -> None:
            # Someone else replaced the keys (transformers' own helpers): take them as is.
            self._k = value
            full = value is not None and value.dim() == 4
            self._rows, self._used = (value.shape[0], value.shape[2]) if full else (0, 0)

        @property
        def values(self) -> Any:
            return None if self._v is None else self._v[: self._rows, :, : self._used]

        @values.setter
        def values(self, value: Any) -> None:
            self._v = value

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.dtype, self.device = key_states.dtype, key_states.device
            self._k = self._v = None
            self._rows = self._used = 0
            self.is_initialized = True

        def update(
            self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any
        ) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            if self._k is None:
                self._k, self._v = key_states[:, :, :0], value_states[:, :, :0]
                self._rows = key_states.shape[0]
            end = self._used + key_states.shape[2]
            if end > self._k.shape[2]:
                self._reserve(self._k.shape[0], end + self.spare)
            self._k[: self._rows, :, self._used : end] = key_states
            self._v[: self._rows, :, self._used : end] = value_states
            self._used = end
            return self.keys, self.values

        def _reserve(self, rows: int, columns: int) -> None:
            """New buffers with this much room, holding the cache."""
            k, v = self._k, self._v
            self._k = k.new_empty((rows, k.shape[1], columns, k.shape[3]))
            self._v = v.new_empty((rows, v.shape[1], columns, v.shape[3]))
            self._k[: self._rows, :, : self._used] = k[: self._rows, :, : self._used]
            self._v[: self._rows, :, : self._used] = v[: self._rows, :, : self._used]

        def _room_for(self, more: int) -> None:
            if self._rows + more > self._k.shape[0]:  # (grows by half again: rare copies)
                rows = self._rows + more + max(more, self._rows // 2)
                self._reserve(rows, max(self._k.shape[2], self._used + self.spare))

        def append(self, keys: Any, values: Any) -> None:
            """Add rows (left-padded with zeros to this layer's columns; never wider)."""
            more, pad = keys.shape[0], self._used - keys.shape[2]
            self._room_for(more)
            new = slice(self._rows, self._rows + more)
            for buf, part in ((self._k, keys), (self._v, values)):
                buf[new, :, :pad].zero_()  # (finite: the mask only zeroes the weights)
                buf[new, :, pad : self._used] = part
            self._rows += more

        def append_copies(self, sources: list[int]) -> None:
            """Add copies of the rows at `sources`."""
            self._room_for(len(sources))
            for row, source in enumerate(sources, start=self._rows):
                self._move(source, row)
            self._rows += len(sources)

        def _move(self, source: int, row: int) -> None:
            # (a copy per row: several times faster than indexing with a list of rows)
            for buf in (self._k, self._v):
                buf[row, :, : self._used].copy_(buf[source, :, : self._used])

        def fill(self, holes: list[int], movers: list[int], rows: int) -> None:
            """Move the rows at `movers` into `holes` and keep the first `rows` rows."""
            for hole, mover in zip(holes, movers):
                self._move(mover, hole)
            self._rows = rows

        def trim(self, first: int) -> None:
            """Drop the first `first` columns (a view: nothing is copied)."""
            self._k, self._v = self._k[:, :, first:], self._v[:, :, first:]
            self._used -= first

        def batch_select_indices(self, indices: Any) -> None:
            index = torch.as_tensor(indices, dtype=torch.long, device=self._k.device)
            self.keys = self._k[: self._rows, :, : self._used].index_select(0, index)
            self.values = self._v[: self._rows, :, : self._used].index_select(0, index)

    return GrowingLayer


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
        self.prefixes = _PrefixStore(prefix_slots) if prefix_slots > 0 else None
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

    def _prepare_row(self, item: Pending) -> _Row | None:
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
        row = _Row(item, prompt, job.sampling, job.seed, max(0, budget))
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

    def _start(self, items: list[Pending], running: int) -> _Batch | None:
        """Prefill new requests as one left-padded batch and pick their first tokens."""
        rows = [r for r in map(self._prepare_row, items) if r is not None]
        for row in rows:
            row.batch_size = running + len(rows)
            if row.budget == 0:
                self._finish(row, "length")
        rows = [r for r in rows if r.finish is None]
        if not rows:
            return None
        batch: _Batch | None = None
        twins: list[tuple[_Row, _Row]] = []  # (row, the row with the same prompt it copies)
        if self.can_merge:
            # Rows asking exactly what another row asks copy its prefilled cache and logits.
            first: dict[tuple[int, ...], _Row] = {}
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
        return self._settle(batch, self._pick(batch.tokens, batch.rows))

    def _waves(self, rows: list[_Row], reuse: list[tuple[int, int] | None]) -> list[list[int]]:
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
        ids = _id_matrix(prompts, -1)
        shared = common_prefixes(ids, ids)
        limit = torch.tensor([len(p) - 1 for p in prompts])
        shared = torch.minimum(shared, limit[:, None]).tolist()
        leaders: list[int] = []
        followers: list[int] = []
        saved = 0
        for i, hit in enumerate(reuse):
            stored = hit[1] if hit is not None else 0
            best = max((shared[i][j] for j in leaders), default=0)
            if best - stored >= _MIN_PREFIX:
                followers.append(i)
                saved += best - stored
            else:
                leaders.append(i)
        if saved <= _PASS_COST:
            return everything
        return [leaders, followers]

    def _prefill_wave(
        self, rows: list[_Row], reuse: list[tuple[int, int] | None], batch: _Batch | None
    ) -> _Batch:
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
            fresh = _Batch(part, out.past_key_values, mask, positions[:, -1] + 1)
            self.can_merge = fresh.can_merge
            if self.prefixes is not None and fresh.can_merge:
                self.prefixes.remember(part, fresh.cache, [h[1] if h else 0 for h in hits])
            fresh.tokens = out.logits[:, -1, :]  # the logits, merged along with the rows
            batch = fresh if batch is None else batch.merge(fresh)
        assert batch is not None
        return batch

    def _prefill(
        self, rows: list[_Row], reuse: list[tuple[int, int] | None]
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
            ids[i, width - rest :] = _ids_tensor(row.prompt[n:])
            mask[i, head - n : head] = 1
            mask[i, head + width - rest :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        # Left padding: a row's positions count its real tokens only, as if it ran alone.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra: dict[str, Any] = {}
        if head and self.prefixes is not None:
            # Room for the prompts' new parts and the first decode steps: no copy until then.
            spare = max(1, min(max(r.budget for r in rows), _MAX_SPARE))
            extra["past_key_values"] = self.prefixes.cache(reuse, head, width + spare)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions[:, head:],
            use_cache=True,
            **extra,
            **self.keep_last,
        )
        return out, mask, positions

    def _step(self, batch: _Batch) -> _Batch | None:
        """Feed every row its last token and pick the next one."""
        import torch

        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
        out = self.model(
            input_ids=batch.tokens[:, None],
            attention_mask=batch.mask,
            position_ids=batch.next_pos[:, None],
            past_key_values=batch.cache,
            use_cache=True,
        )
        batch.cache = out.past_key_values
        batch.next_pos = batch.next_pos + 1
        return self._settle(batch, self._pick(out.logits[:, -1, :], batch.rows))

    def _settle(self, batch: _Batch, tokens: Any) -> _Batch | None:
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

    def _pick(self, logits: Any, rows: list[_Row]) -> Any:
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
        tokens[index] = _draw(probs, uniforms, picked)
        return tokens

    def _advance(self, row: _Row, token: int) -> None:
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

    def _finish(self, row: _Row, reason: str) -> None:
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


# A cached prefix shorter than this is not worth the copies.
_MIN_PREFIX = 8

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


Entry = tuple[list[int], tuple[Any, int, list[tuple[int, int]]]]


class _PrefixStore:
    """The keys and values of recent prompts, for prompts that start the same way.

    Holds up to `slots` prompts, least recently used first out. Only used with caches made of
    plain growing layers (the same condition as joining a running batch).

    The rows of one prefill pass are stored together: one tensor of shape (2 * layers, rows,
    kv heads, width, head dim), made by one `torch.stack`; an entry is (prompt, (that tensor,
    row, segments)), where the segments are the (start, end) column ranges holding the
    prompt's tokens in order (its reused prefix, then after any padding its new part).
    Building a cache for reuse copies one slice of all layers at once per segment.

    Entries keep their slot while they live; `_table` holds every slot's prompt as a row of
    token ids (-1 after its end, and for free slots), so `find` compares all prompts with all
    entries in one operation.
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._slots: list[Entry | None] = []
        self._order: list[int] = []  # occupied slots, least recently used first
        self._table: Any = None

    @property
    def entries(self) -> list[Entry]:
        """The entries, least recently used first."""
        return [self._slots[s] for s in self._order]  # type: ignore[misc]

    def find(self, prompts: list[list[int]]) -> list[tuple[int, int] | None]:
        """For each prompt, (slot, tokens to reuse) of the entry sharing the longest prefix
        with it, or None. At least one token of every prompt is left to compute: its logits
        pick the first new token."""
        if not self._order:
            return [None] * len(prompts)
        import torch

        # Every prompt against every entry at once: comparing token lists in Python costs
        # more than a decode step once a batch holds a few long prompts.
        shared = common_prefixes(_id_matrix(prompts, -2), self._table)
        limit = torch.tensor([len(p) - 1 for p in prompts])
        best_n, best = torch.minimum(shared, limit[:, None]).max(dim=1)
        hits = [
            (e, n) if n >= _MIN_PREFIX else None for e, n in zip(best.tolist(), best_n.tolist())
        ]
        # Entries in use go to the back: the least recently used leave first.
        used = {hit[0] for hit in hits if hit is not None}
        if used:
            self._order = [e for e in self._order if e not in used] + sorted(used)
        return hits

    def cache(self, hits: list[tuple[int, int] | None], head: int, room: int) -> Any:
        """A cache holding each row's reused prefix, left-padded to `head` positions, with
        `room` more columns for what comes next."""
        from transformers.cache_utils import DynamicCache

        entries = [None if h is None else self._slots[h[0]] for h in hits]
        some = next(e[1][0] for e in entries if e is not None)
        shape = list(some.shape)
        shape[1], shape[3] = len(hits), head + room
        out = some.new_empty(shape)
        out[:, :, :, :head].zero_()  # (padding must be finite: the mask only zeroes weights)
        for i, (hit, entry) in enumerate(zip(hits, entries)):
            if hit is None or entry is None:
                continue
            stored, row, segments = entry[1]
            at, left = head - hit[1], hit[1]
            for start, end in segments:
                take = min(left, end - start)
                out[:, i, :, at : at + take] = stored[:, row, :, start : start + take]
                at, left = at + take, left - take
                if not left:
                    break
        grow = growing_layer()
        cache = DynamicCache()
        cache.layers = [
            grow.holding(out[2 * j], out[2 * j + 1], head) for j in range(shape[0] // 2)
        ]
        return cache

    def remember(self, rows: list[Any], cache: Any, reused: list[int]) -> None:
        """Keep the keys and values of these freshly prefilled prompts, which reused
        `reused` tokens of earlier ones (laid out as `TorchEngine._prefill` lays them)."""
        import torch

        head = max(reused)
        width = cache.layers[0].keys.shape[2]
        keep: list[tuple[int, list[tuple[int, int]]]] = []
        fresh: set[tuple[int, ...]] = set()
        for i, (row, n) in enumerate(zip(rows, reused)):
            prompt = tuple(row.prompt)
            if len(prompt) < _MIN_PREFIX or prompt in fresh:
                continue  # (rows with the same prompt are stored once)
            fresh.add(prompt)
            new = len(prompt) - n
            segments = [(head - n, head), (width - new, width)]
            keep.append((i, [(a, b) for a, b in segments if b > a]))
        if not keep:
            return
        stored = torch.stack([t for layer in cache.layers for t in (layer.keys, layer.values)])
        slot = list(range(len(rows)))
        if 2 * len(keep) <= len(rows):
            # Mostly repeated prompts (matches at the same opening): keep only what is used.
            index = torch.tensor([i for i, _ in keep], device=stored.device)
            stored = stored.index_select(1, index)
            slot = [0] * len(rows)
            for j, (i, _) in enumerate(keep):
                slot[i] = j
        # A prompt stored again replaces its old entry; then the least recently used go.
        for e, (tokens, _) in zip(list(self._order), self.entries):
            if tuple(tokens) in fresh:
                self._free(e)
        for i, segments in keep:
            if len(self._order) >= self.slots:
                self._free(self._order[0])
            self._put((list(rows[i].prompt), (stored, slot[i], segments)))
        self._compact()

    def _free(self, e: int) -> None:
        self._order.remove(e)
        self._slots[e] = None
        self._table[e] = -1

    def _put(self, entry: Entry) -> None:
        """Store an entry in a free slot, as the most recently used."""
        import torch

        tokens = entry[0]
        e = next((i for i, old in enumerate(self._slots) if old is None), len(self._slots))
        if e == len(self._slots):
            self._slots.append(None)
        table = self._table
        rows, width = max(e + 1, 0 if table is None else len(table)), len(tokens)
        if table is None or rows > len(table) or width > table.shape[1]:
            grown = torch.full((rows, max(width, 0 if table is None else table.shape[1])), -1)
            if table is not None:
                grown[: len(table), : table.shape[1]] = table
            self._table = table = grown
        table[e] = -1
        table[e, :width] = _ids_tensor(tokens)
        self._slots[e] = entry
        self._order.append(e)

    def _compact(self) -> None:
        """Copy out the entries of stored tensors that are mostly evicted, so that a few
        long-lived entries do not hold a whole batch's keys and values."""
        live: dict[int, int] = {}
        for tokens, (stored, _, _) in self.entries:
            live[id(stored)] = live.get(id(stored), 0) + len(tokens)
        for e in self._order:
            tokens, (stored, row, segments) = self._slots[e]  # type: ignore[misc]
            if 4 * live[id(stored)] < stored.shape[1] * stored.shape[3]:
                import torch

                parts = [stored[:, row : row + 1, :, a:b] for a, b in segments]
                own = torch.cat(parts, dim=3) if len(parts) > 1 else parts[0].clone()
                self._slots[e] = (tokens, (own, 0, [(0, own.shape[3])]))


def _ids_tensor(ids: list[int]) -> Any:
    """Token ids as a CPU long tensor (through an array: several times faster than
    `torch.tensor` on a list, which matters for batches of long prompts)."""
    import torch

    if not ids:
        return torch.empty(0, dtype=torch.long)
    return torch.frombuffer(array("q", ids), dtype=torch.long)


def _id_matrix(prompts: list[list[int]], pad: int) -> Any:
    """The prompts as rows of one tensor, right-padded with `pad`."""
    from torch.nn.utils.rnn import pad_sequence

    return pad_sequence([_ids_tensor(p) for p in prompts], batch_first=True, padding_value=pad)


def common_prefixes(a: Any, b: Any) -> Any:
    """(len(a), len(b)) tensor: how many leading ids each row of `a` shares with each row of
    `b` (pad the two with different values, or cap the result at the true lengths)."""
    import torch

    width = min(a.shape[1], b.shape[1])
    differ = a[:, None, :width] != b[None, :, :width]
    first = differ.to(torch.uint8).argmax(dim=-1)  # the first difference (0 when none)
    return torch.where(differ.any(dim=-1), first, width)


def _draw(probs: Any, uniforms: Any, rows: list[_Row]) -> Any:
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
        tokens[idx] = _inverse_cdf(probs[idx], uniforms[idx])
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
        choice = _inverse_cdf(head.masked_fill(drop, 0.0), uniforms[idx])
        tokens[idx] = order.gather(1, choice[:, None])[:, 0]
    return tokens


def _inverse_cdf(weights: Any, uniforms: Any) -> Any:
    """For each row, the first index whose cumulative weight exceeds u * total."""
    import torch

    cdf = weights.cumsum(-1)
    target = uniforms[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True)[:, 0].clamp(max=weights.shape[-1] - 1)


def prompt_error(exc: Exception) -> BackendError:
    """A failure to render or tokenize a request, as the request's own error."""
    return BackendError(f"could not prepare the prompt: {type(exc).__name__}: {exc}")
