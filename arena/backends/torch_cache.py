"""The KV cache of batched decoding: a layer that grows in place, and a store of recent prompts.

`growing_layer` is a transformers `DynamicLayer` with spare room after its keys and values:
decode steps and rows joining a running batch write into that room instead of copying the
whole cache. `PrefixStore` keeps the keys and values of recent prompts so that a prompt that
starts like one of them computes only the rest. `common_prefixes` and the token-id helpers
compare many prompts at once, as tensors.

Used by `arena.backends.torch_decode`; torch and transformers are imported where needed.
"""

from __future__ import annotations

import functools
from array import array
from typing import Any

# Most columns a batch's cache reserves ahead of its decode steps (each reservation that runs
# out copies the cache once; a larger one holds memory that finished rows may never use).
MAX_SPARE = 256


@functools.cache
def plain_layers() -> tuple[type, ...]:
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


# A cached prefix shorter than this is not worth the copies.
MIN_PREFIX = 8


Entry = tuple[list[int], tuple[Any, int, list[tuple[int, int]]]]


class PrefixStore:
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
        shared = common_prefixes(id_matrix(prompts, -2), self._table)
        limit = torch.tensor([len(p) - 1 for p in prompts])
        best_n, best = torch.minimum(shared, limit[:, None]).max(dim=1)
        hits = [(e, n) if n >= MIN_PREFIX else None for e, n in zip(best.tolist(), best_n.tolist())]
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
            if len(prompt) < MIN_PREFIX or prompt in fresh:
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
        table[e, :width] = ids_tensor(tokens)
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


def ids_tensor(ids: list[int]) -> Any:
    """Token ids as a CPU long tensor (through an array: several times faster than
    `torch.tensor` on a list, which matters for batches of long prompts)."""
    import torch

    if not ids:
        return torch.empty(0, dtype=torch.long)
    return torch.frombuffer(array("q", ids), dtype=torch.long)


def id_matrix(prompts: list[list[int]], pad: int) -> Any:
    """The prompts as rows of one tensor, right-padded with `pad`."""
    from torch.nn.utils.rnn import pad_sequence

    return pad_sequence([ids_tensor(p) for p in prompts], batch_first=True, padding_value=pad)


def common_prefixes(a: Any, b: Any) -> Any:
    """(len(a), len(b)) tensor: how many leading ids each row of `a` shares with each row of
    `b` (pad the two with different values, or cap the result at the true lengths)."""
    import torch

    width = min(a.shape[1], b.shape[1])
    differ = a[:, None, :width] != b[None, :, :width]
    first = differ.to(torch.uint8).argmax(dim=-1)  # the first difference (0 when none)
    return torch.where(differ.any(dim=-1), first, width)


@functools.lru_cache(maxsize=16)
def _cache_arg(forward: Any) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """The KV cache as the model's forward names it: `cache` from transformers 5.24 on,
    `past_key_values` before (deprecated there, removed in 5.40). A wrapper without its own
    `forward` (a test double, say) and a peft model (whose forward takes `**kwargs`) are looked
    through to the model they hold."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    while not hasattr(type(model), "forward") and hasattr(model, "model"):
        model = model.model
    forward = getattr(type(model), "forward", None)
    return {_cache_arg(forward) if forward is not None else "past_key_values": cache}


def output_cache(out: Any) -> Any:
    """The KV cache a forward pass returned, under either name."""
    return out["cache"] if "cache" in out else out["past_key_values"]
