"""Fully sharded data parallel training (`parallel = "fsdp"`, `ranks > 1`, generation mode).

For models whose weights, gradients and optimizer state do not fit one device: the trained
model is sharded over the ranks with PyTorch's FSDP2 (`fully_shard`, each decoder layer and
then the whole model), so each rank holds 1/R of the parameters, gradients and AdamW state.
What plays is a plain copy of the model (`Trainer.play_model`, no gradients, no optimizer):
the rollout's replies, the scored answers during the rollout and the checkpoint's weights come
from it, and it is given the trained weights after every update (`sync_play_model`, a
parameter at a time), as a vLLM engine is. A rollout then needs no collective, so the ranks'
games can differ in length. Measured on SmolLM2-135M, two ranks (`bench/train_parallel.py`):
rank 0's peak memory 2131 MB against DDP's 2741 (x0.78; float32 AdamW, 16 bytes a weight
under DDP, 4 + 12 / N here).

The loss is where the ranks must move together: every forward and backward pass of a sharded
model all-gathers the layers' parameters and reduce-scatters their gradients, so each rank
makes the same number of passes; a rank with fewer micro-batches than another makes idle
passes (`idle_pass`, a zero loss) until they are even. The gradients are summed over ranks
(the losses are normalised by the whole batch already), as under DDP.

A checkpoint holds the full model (from the play copy) and the full optimizer state (gathered
on rank 0 by every rank, `full_optimizer_state`), so it plays as a player like any other,
and the job resumes from it as it was launched.
"""

from __future__ import annotations

from typing import Any


def fsdp_modules(model: Any) -> list[Any]:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def shard_model(model: Any) -> Any:
    """`model` sharded in place for training: each decoder layer its own FSDP unit, then the
    rest (each layer's whole weights are freed as it is sharded); gradients summed over the
    ranks (not averaged)."""
    from torch.distributed.fsdp import fully_shard

    sharded = model
    layers = _decoder_layers(sharded)
    for layer in layers:
        fully_shard(layer)
    fully_shard(sharded)
    for unit in fsdp_modules(sharded):
        unit.set_gradient_divide_factor(1.0)
        unit.set_force_sum_reduction_for_comms(True)  # plain sums: gloo has no pre-scaled sum
    sharded.train(False)  # no dropout: the rollout's and the loss's probabilities agree
    return sharded


def local_share(model: Any) -> tuple[int, int]:
    """(numbers this rank holds, numbers in the model) of the sharded model's parameters."""
    here = whole = 0
    for p in model.parameters():
        whole += p.numel()
        here += p.to_local().numel() if hasattr(p, "to_local") else p.numel()
    return here, whole


def _decoder_layers(model: Any) -> list[Any]:
    """The model's repeated blocks (transformers names them `layers`, `h` or `blocks`)."""
    import torch

    for module in model.modules():
        for name in ("layers", "h", "blocks"):
            child = getattr(module, name, None)
            if isinstance(child, torch.nn.ModuleList) and len(child) > 0:
                return list(child)
    return []


def sync_play_model(sharded: Any, play: Any) -> None:
    """Give the play copy the trained weights (every rank, parameter by parameter: one whole
    tensor gathered at a time, not the whole model)."""
    import torch

    plays = dict(play.named_parameters())
    with torch.no_grad():
        for name, param in sharded.named_parameters():
            whole = param.full_tensor() if hasattr(param, "full_tensor") else param
            plays[name].copy_(whole)
            del whole


def full_optimizer_state(model: Any, optimizer: Any) -> dict[str, Any]:
    """The optimizer's whole state, keyed by parameter name, on rank 0 (empty elsewhere); a
    collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(model, optimizer, options=options)


def load_optimizer_state(model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    """Load a checkpoint's whole optimizer state into this rank's shard of it."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_optimizer_state_dict(model, optimizer, optim_state_dict=state, options=options)


def idle_pass(model: Any, device: Any, *, backward: bool = True) -> None:
    """A forward (and backward) pass that changes no gradient, so this rank takes part in the
    sharded model's collectives when it has no micro-batch of its own left."""
    import torch

    ids = torch.zeros((1, 2), dtype=torch.long, device=device)
    with torch.set_grad_enabled(backward):
        out = model(input_ids=ids, use_cache=False)
        if backward:
            (out.logits.sum() * 0.0).backward()
