"""A model folder's parameter count, read cheaply (no torch, no weights loaded).

The training defaults (learning rate, games per step) follow the base model's size, and the CLI
and the TUI parse a job's config, so this must answer in milliseconds: the safetensors files'
JSON headers give every tensor's shape exactly (the 8-byte length, then the header; the weights
after it are never read); without them config.json's dimensions give an estimate.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

# A real header is kilobytes (a few hundred tensors); a larger one is not a header.
_MAX_HEADER = 64 * 1024 * 1024


def safetensors_parameters(path: str | Path) -> int | None:
    """The number of values in the tensors a .safetensors file declares (its header only);
    None when the file is missing, empty or not a safetensors file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                return None
            (size,) = struct.unpack("<Q", head)
            if not 2 <= size <= _MAX_HEADER:
                return None
            header = json.loads(fh.read(size).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    total = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            return None
        total += math.prod(shape)
    return total


def config_parameters(config: dict[str, Any]) -> int | None:
    """An estimate from config.json's dimensions (a decoder-only transformer: embeddings,
    attention with grouped key/value heads, a gated MLP unless it names GPT-2's fields);
    None when the dimensions are missing."""

    def dim(*names: str) -> int | None:
        for name in names:
            value = config.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    hidden = dim("hidden_size", "n_embd", "d_model")
    layers = dim("num_hidden_layers", "n_layer", "num_layers")
    vocab = dim("vocab_size")
    if hidden is None or layers is None or vocab is None:
        return None
    heads = dim("num_attention_heads", "n_head") or 1
    kv_heads = dim("num_key_value_heads") or heads
    head_dim = dim("head_dim") or hidden // heads
    gpt2 = "n_embd" in config
    inner = dim("intermediate_size", "n_inner") or 4 * hidden
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    mlp = (2 if gpt2 else 3) * hidden * inner
    tied = config.get("tie_word_embeddings", True) is not False
    return vocab * hidden * (1 if tied else 2) + layers * (attention + mlp)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def model_parameters(folder: str | Path) -> int | None:
    """The parameter count of a Hugging Face model folder: exact from its safetensors headers
    (every `*.safetensors` file in it, so sharded weights count once each), else estimated
    from config.json; a LoRA checkpoint's (adapters only) is its base's. None when nothing
    tells."""
    root = Path(folder).expanduser()
    adapter = _read_json(root / "adapter_config.json")
    base = adapter.get("base_model_name_or_path") if adapter else None
    if isinstance(base, str) and base and Path(base).expanduser().resolve() != root.resolve():
        # a LoRA checkpoint (adapters naming their base): the base's size, the adapters are few
        return model_parameters(base) if Path(base).expanduser().is_dir() else None
    counts = [safetensors_parameters(p) for p in sorted(root.glob("*.safetensors"))]
    if counts and all(c is not None for c in counts) and sum(counts) > 0:  # type: ignore[misc]
        return sum(counts)  # type: ignore[arg-type]
    config = _read_json(root / "config.json")
    if config is None:
        return None
    # multimodal configs keep the language model's dimensions in a sub-config
    text = config.get("text_config")
    return config_parameters(text if isinstance(text, dict) else config)
