"""Read a Hugging Face model folder without torch: config, tokenizer files and safetensors weights.

The exporter needs only numpy to read weights: safetensors is an 8-byte header length, a JSON
header (name -> dtype, shape, byte range) and the raw little-endian data, so tensors are read
lazily from a memory map one at a time, and a large model never has to fit in memory twice.
The importer writes weights the same way, one tensor at a time (`write_safetensors`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import ArenaError


class ExportError(ArenaError, ValueError):
    """The model folder cannot be exported; the message says why and what is supported."""


_ST_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8"}


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: its file, dtype, shape and byte range in the file's data section."""

    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass
class HFFolder:
    """The parts of a Hugging Face causal-LM folder the exporter reads."""

    path: Path
    config: dict[str, Any]
    tokenizer: dict[str, Any]
    tokenizer_config: dict[str, Any]
    generation_config: dict[str, Any]
    chat_template: str | None
    tensors: dict[str, TensorRef]
    _maps: dict[Path, Any] = field(default_factory=dict, repr=False)

    def load(self, name: str) -> Any:
        """The tensor `name` as a float32 numpy array (bf16 and f16 are widened exactly)."""
        import numpy as np

        ref = self.tensors[name]
        if ref.file not in self._maps:
            self._maps[ref.file] = np.memmap(ref.file, dtype=np.uint8, mode="r")
        raw = self._maps[ref.file][ref.start : ref.end]
        if ref.dtype == "BF16":
            # bf16 is the top half of a float32: shift the 16 bits up.
            wide = raw.view("<u2").astype(np.uint32) << 16
            arr = wide.view(np.float32)
        else:
            arr = raw.view(_ST_DTYPES[ref.dtype]).astype(np.float32)
        return arr.reshape(ref.shape)


@dataclass(frozen=True)
class TensorOut:
    """One tensor to write: its name, safetensors dtype ("F32", "F16", "BF16"), shape, and a
    function that computes it as a float32 numpy array (called once, when it is written)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    produce: Callable[[], Any]


def to_bfloat16_bits(arr: Any) -> Any:
    """float32 values as bfloat16 bit patterns (uint16), rounded to nearest, ties to even."""
    import numpy as np

    bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(arr), np.uint16(0x7FC0), rounded)


def _stored(arr: Any, dtype: str) -> Any:
    import numpy as np

    if dtype == "BF16":
        return to_bfloat16_bits(arr)
    return np.ascontiguousarray(arr, dtype=_ST_DTYPES[dtype])


def write_safetensors(path: Path, tensors: Sequence[TensorOut]) -> None:
    """Write `tensors` to a safetensors file at `path`, computing and writing one at a time."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in tensors:
        count = 1
        for d in t.shape:
            count *= d
        size = count * int(_ST_DTYPES[t.dtype][-1])
        header[t.name] = {
            "dtype": t.dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for t in tensors:
            arr = _stored(t.produce(), t.dtype)
            if tuple(arr.shape) != t.shape:
                raise ValueError(f"tensor {t.name}: computed shape {arr.shape}, declared {t.shape}")
            fh.write(arr.tobytes())


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path.parent}: no {path.name} ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: expected a JSON object")
    return data


def _safetensors_header(path: Path) -> dict[str, TensorRef]:
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise ExportError(f"{path}: truncated safetensors file")
            (length,) = struct.unpack("<Q", head)
            size = path.stat().st_size
            if length > size - 8:
                raise ExportError(f"{path}: corrupt safetensors header")
            header = json.loads(fh.read(length))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not a readable safetensors file ({exc})") from None
    base = 8 + length
    refs: dict[str, TensorRef] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info.get("dtype")
        if dtype not in _ST_DTYPES:
            raise ExportError(f"{path}: tensor {name} has dtype {dtype}; supported: F32, F16, BF16")
        start, end = (base + int(o) for o in info["data_offsets"])
        shape = tuple(int(d) for d in info["shape"])
        count = 1
        for d in shape:
            count *= d
        if end > size or end - start != count * int(_ST_DTYPES[dtype][-1]):
            raise ExportError(f"{path}: tensor {name} does not fit the file (truncated?)")
        refs[name] = TensorRef(path, dtype, shape, start, end)
    return refs


def _weights(folder: Path) -> dict[str, TensorRef]:
    index = folder / "model.safetensors.index.json"
    if index.exists():
        files = sorted(set(_read_json(index, "weight index").get("weight_map", {}).values()))
        paths = [folder / f for f in files]
    else:
        paths = sorted(folder.glob("*.safetensors"))
    if not paths:
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
            raise ExportError(
                f"{folder}: weights are in PyTorch pickle files; save them as safetensors "
                "(model.save_pretrained(path) does by default)"
            )
        raise ExportError(f"{folder}: no model.safetensors weights")
    refs: dict[str, TensorRef] = {}
    for path in paths:
        if not path.exists():
            raise ExportError(f"{folder}: the weight index names {path.name}, which is missing")
        refs.update(_safetensors_header(path))
    return refs


def _chat_template(folder: Path, tokenizer_config: dict[str, Any]) -> str | None:
    """The default chat template: a .jinja file (transformers 5) or tokenizer_config's entry."""
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: take "default"
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    return template if isinstance(template, str) else None


def read_hf_folder(path: str | Path) -> HFFolder:
    """Read a model folder's metadata and weight index; `ExportError` when something is wrong."""
    folder = Path(path)
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such model folder")
    config = _read_json(folder / "config.json", "the model's configuration")
    tokenizer = _read_json(folder / "tokenizer.json", "a fast tokenizer is needed")
    tok_config_path = folder / "tokenizer_config.json"
    tok_config = _read_json(tok_config_path, "tokenizer") if tok_config_path.exists() else {}
    gen_path = folder / "generation_config.json"
    gen_config = _read_json(gen_path, "generation") if gen_path.exists() else {}
    return HFFolder(
        path=folder,
        config=config,
        tokenizer=tokenizer,
        tokenizer_config=tok_config,
        generation_config=gen_config,
        chat_template=_chat_template(folder, tok_config),
        tensors=_weights(folder),
    )
