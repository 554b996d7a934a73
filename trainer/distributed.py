"""Data-parallel training under `torchrun` (`TrainConfig.ranks > 1`).

Every rank holds the whole model (the same weights: same checkpoint, same seed) and plays its
share of each step's games: game i of the step goes to rank i mod R, with the seed game i has
on one process, so the games do not depend on R. The episodes are then gathered on every
rank, so each rank computes the same advantages and role baselines from the whole batch; each
computes the loss of its own games' turns, normalised by the whole batch's size, and the
gradients are summed across ranks before the (identical) clip and optimizer step. A seeded
job therefore takes the same steps on 1 and on R ranks, up to float rounding (the forward
passes batch different positions together).

Rank 0 is the only one that writes: the job row, metrics, checkpoints, evaluations and
player registrations. A stop request reaches rank 0 (the job's pid); it is shared with the
others at each step's end. A rank that dies makes the others' next collective fail, and the
job ends `failed` (rank 0 records it; torchrun stops the rest); `arena train resume` starts it
again the same way, from the last checkpoint.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

T = TypeVar("T")

#: How long a rank waits at a collective (rank 0 may be evaluating a checkpoint meanwhile).
TIMEOUT = datetime.timedelta(hours=6)


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank `rank` of `world`."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of `items`: every `world`-th one from `rank`."""
        return list(items[self.rank :: self.world])

    def gather(self, local: list[T]) -> list[T]:
        """Every rank's `shard`, put back in the order of the list they were cut from."""
        if self.world == 1:
            return list(local)
        import torch.distributed as dist

        parts: list[list[T] | None] = [None] * self.world
        dist.all_gather_object(parts, local)
        out: list[T] = []
        longest = max(len(p or []) for p in parts)
        for i in range(longest):
            for part in parts:
                if part is not None and i < len(part):
                    out.append(part[i])
        return out

    def mine(self, index: int) -> bool:
        """Whether item `index` of a gathered list is this rank's own."""
        return index % self.world == self.rank

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on one (a stop request)."""
        if self.world == 1:
            return flag
        import torch
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's `obj` on every rank (the others pass anything)."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    def max_count(self, count: int) -> int:
        """The largest of every rank's `count`."""
        if self.world == 1:
            return count
        import torch
        import torch.distributed as dist

        t = torch.tensor([count], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def sum_gradients(self, params: list[Any]) -> None:
        """Sum the gradients of `params` over the ranks (a parameter a rank did not touch
        counts as zero there, so every rank makes the same calls)."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist

        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grad = p.grad.detach()
            if grad.device.type == "cpu" or "nccl" in dist.get_backend():
                dist.all_reduce(grad, op=dist.ReduceOp.SUM)
            else:  # gloo on a GPU tensor: through the CPU
                host = grad.cpu()
                dist.all_reduce(host, op=dist.ReduceOp.SUM)
                grad.copy_(host)

    def sum_stats(self, stats: T, *, weights: dict[str, str] | None = None) -> T:
        """Loss statistics of every rank summed (the losses were normalised by the whole
        batch, so their sum is the batch's mean); a field in `weights` is a mean over the
        count field it names, and is combined weighted by it. Times stay this rank's own."""
        if self.world == 1:
            return stats
        import torch
        import torch.distributed as dist

        weights = weights or {}
        names = [f.name for f in fields(stats) if not f.name.endswith("_s")]  # type: ignore[arg-type]
        values = []
        for name in names:
            v = float(getattr(stats, name))
            if name in weights:
                v *= float(getattr(stats, weights[name]))
            values.append(v)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        summed = dict(zip(names, t.tolist(), strict=True))
        for name, count in weights.items():
            summed[name] = summed[name] / max(summed[count], 1.0)
        out = {
            n: int(round(v)) if isinstance(getattr(stats, n), int) else v for n, v in summed.items()
        }
        return replace(stats, **out)  # type: ignore[type-var]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def from_env() -> Dist:
    """This process's rank from torchrun's environment (RANK, WORLD_SIZE); the process group
    is joined here: gloo on CPU, and nccl for GPU tensors where every rank has its own GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    if not dist.is_initialized():
        backend = "gloo"
        if torch.cuda.is_available() and os.environ.get("LOCAL_RANK"):
            # Each tensor's own device picks the backend: the flags and statistics (CPU) go
            # through gloo, the gradients of a model on the GPU through nccl.
            backend = "cpu:gloo,cuda:nccl"
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return Dist(rank, world)


def close(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def play_shared(d: Dist, items: Sequence[T], play: Callable[[list[T]], list[Any]]) -> list[Any]:
    """Play this rank's share of `items` and gather everyone's results, in `items`' order."""
    return d.gather(play(d.shard(items)))
