"""The rows that decode together, and their tensors (`TorchEngine`'s running batch).

A `DecodeRow` is one generation request while it decodes: its prompt, sampling settings,
generator, the ids and text so far. A `DecodeBatch` holds the rows decoding together with
their KV cache, attention mask, next positions and next tokens, and keeps them aligned as
rows finish (`select`), repeat another row's prompt (`copy_rows`) or join (`merge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arena.backends.base import Sampling
from arena.backends.batching import Pending
from arena.backends.torch_cache import MAX_SPARE, growing_layer, plain_layers


@dataclass
class DecodeRow:
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


class DecodeBatch:
    """The rows decoding together and their tensors: the KV cache, the attention mask (one
    column per cached position, left padding as zeros), each row's next position and the
    token it feeds next."""

    def __init__(self, rows: list[DecodeRow], cache: Any, mask: Any, next_pos: Any) -> None:
        self.rows = rows
        self.cache = cache
        self.mask = mask
        self.next_pos = next_pos
        self.tokens: Any = None
        # Other rows can join (and padding can be trimmed) only when every cache layer is a
        # plain growing one; sliding-window and other caches keep the batch as it started.
        layers = getattr(cache, "layers", None)
        self.can_merge = bool(layers) and all(type(layer) in plain_layers() for layer in layers)
        if self.can_merge:
            # Decode steps then append into spare room instead of copying the whole cache.
            spare = self.spare()
            grow = growing_layer()
            cache.layers = [grow.adopt(layer, spare) for layer in layers]

    def spare(self) -> int:
        """Columns to reserve after the cache: the longest remaining budget, within limits."""
        left = max((row.budget - len(row.ids) for row in self.rows), default=1)
        return max(1, min(left, MAX_SPARE))

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

    def _take(self, index: Any, rows: list[DecodeRow]) -> None:
        self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        self.tokens = self.tokens[index]
        self.rows = rows

    def copy_rows(self, sources: list[int], rows: list[DecodeRow]) -> None:
        """Append `rows`, which start as copies of the rows at `sources` (same prompt)."""
        import torch

        index = torch.tensor(
            list(range(len(self.rows))) + sources, dtype=torch.long, device=self.mask.device
        )
        self._take(index, self.rows + rows)
        for layer in self.cache.layers:
            layer.append_copies(sources)

    def merge(self, other: DecodeBatch) -> DecodeBatch:
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
