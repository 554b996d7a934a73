"""LoRA adapters (peft) for the trainer's causal language model.

`apply_lora` wraps a transformers model so that only small low-rank adapters train; the base
weights stay frozen. Two ways out:

- `save_merged` writes a plain Hugging Face folder with the adapters folded into a copy of the
  weights: the arena's transformers backend and the GGUF export load it like any model;
- `save_adapter` / `load_adapter` keep the adapter weights alone, to checkpoint and resume; a
  saved adapter names its base by absolute path, so transformers (with peft) loads the folder
  as base + adapter, as a player.

peft is imported inside the functions (it is optional, and heavy), with a clear message when it
is missing.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

# The projections of Llama-style models (Llama, Qwen2, Mistral, Gemma, SmolLM...).
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise ImportError("LoRA training needs the peft package: pip install peft") from exc
    return peft


def lora_targets(model: Any, wanted: tuple[str, ...] | list[str] = DEFAULT_TARGETS) -> list[str]:
    """The names among `wanted` that end a linear layer's path in `model`, in `wanted` order."""
    import torch

    present = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    return [t for t in wanted if t in present]


def apply_lora(
    model: Any,
    *,
    rank: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    targets: list[str] | None = None,
) -> Any:
    """Wrap a transformers causal LM with LoRA adapters (a peft `PeftModel`); only the adapter
    weights require grad. `targets` defaults to every attention and MLP projection the model
    has. The model keeps its train/eval mode (peft would switch it to train)."""
    peft = _peft()
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout}")
    chosen = lora_targets(model, tuple(targets) if targets else DEFAULT_TARGETS)
    if not chosen:
        import torch

        linear = sorted(
            {
                n.rsplit(".", 1)[-1]
                for n, m in model.named_modules()
                if isinstance(m, torch.nn.Linear)
            }
        )
        raise ValueError(
            f"none of the LoRA targets {list(targets or DEFAULT_TARGETS)} is a linear layer of "
            f"this model; its linear layers are: {', '.join(linear) or 'none'}"
        )
    config = peft.LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=chosen,
        bias="none",
        task_type="CAUSAL_LM",
    )
    training = model.training
    with warnings.catch_warnings():
        # peft asks transformers a deprecated question; the warning is noise for our users.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        wrapped = peft.get_peft_model(model, config)
    wrapped.train(training)
    return wrapped


def is_lora(model: Any) -> bool:
    """Whether `model` is a peft-wrapped model (without importing peft when it is absent)."""
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def save_merged(model: Any, tokenizer: Any, folder: str | Path) -> Path:
    """Write a plain Hugging Face folder (safetensors, config, tokenizer) with the adapters
    merged into a copy of the weights; the live `model` keeps its adapters untouched.

    Merging a deep copy (rather than merge-then-unmerge in place) leaves the base weights
    bit-identical even in bfloat16, at the cost of a second copy of the model in memory.
    A model without adapters is saved as it is."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if is_lora(model):
        merged = copy.deepcopy(model).merge_and_unload()
    else:
        merged = model
    merged.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_adapter(model: Any, folder: str | Path) -> Path:
    """Write the adapter weights and their config (peft's `adapter_config.json` and
    `adapter_model.safetensors`) to `folder`."""
    if not is_lora(model):
        raise ValueError("save_adapter needs a LoRA model (see apply_lora)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for config in model.peft_config.values():
        # A local base by its absolute path: transformers loads the folder as base + adapters
        # from anywhere (a registered checkpoint player is loaded from another directory).
        base = config.base_model_name_or_path
        if base and Path(base).expanduser().exists():
            config.base_model_name_or_path = str(Path(base).expanduser().resolve())
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def adapter_base(folder: str | Path) -> str:
    """The base model an adapter folder was trained on (`adapter_config.json`)."""
    import json

    path = Path(folder) / "adapter_config.json"
    base = json.loads(path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{path} names no base model")
    return str(base)


def load_adapter(model: Any, folder: str | Path) -> Any:
    """Put the adapter saved in `folder` on `model` and return the adapted model, trainable.

    `model` is either the plain base model (it is wrapped from the saved config) or a model
    already wrapped by `apply_lora` with the same configuration (its adapter weights are
    overwritten in place, so an optimizer built on them stays valid)."""
    peft = _peft()
    folder = Path(folder)
    if folder.name == "adapter" and not folder.exists():
        # A checkpoint's adapters live in the checkpoint folder itself now (they lived in its
        # `adapter/` beside merged weights): callers that name the old place still find them.
        folder = folder.parent
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no LoRA adapter (no adapter_config.json)")
    if not is_lora(model):
        training = model.training
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            wrapped = peft.PeftModel.from_pretrained(model, str(folder), is_trainable=True)
        wrapped.train(training)
        return wrapped
    from safetensors.torch import load_file

    weights_file = folder / "adapter_model.safetensors"
    if not weights_file.is_file():
        raise FileNotFoundError(f"{folder} has no adapter_model.safetensors")
    state = load_file(str(weights_file))
    result = peft.set_peft_model_state_dict(model, state)
    # Adapter keys on one side only mean another configuration (targets, layers).
    misfit = [
        k
        for k in [*getattr(result, "unexpected_keys", []), *getattr(result, "missing_keys", [])]
        if "lora_" in k
    ]
    if misfit:
        raise ValueError(
            f"the adapter in {folder} does not fit this model (e.g. {misfit[0]}); "
            "apply_lora with the adapter's rank and targets, or pass the base model"
        )
    return model
