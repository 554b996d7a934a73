"""Export a Hugging Face Llama or Qwen2 folder to a GGUF file that llama.cpp runs.

Train with torch, play with llama.cpp: `export_gguf(hf_dir, out, dtype="f16")`. The file holds
the architecture's hyperparameters, the tokenizer (see `gguf_vocab`), the chat template and the
tensors under llama.cpp's names. Tensors are converted and written one at a time, so memory
holds one tensor, not the model.

Names, shapes and the Llama Q/K row order (llama.cpp rotates adjacent pairs, the Hugging Face
model rotates halves) are in `gguf_layout`, which the importer shares.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.models.gguf_layout import (
    SUPPORTED_ARCHS,
    HParams,
    config_arch,
    config_hparams,
    expected_shape,
    gguf_tensor_name,
    permuted_heads,
    required_tensors,
)
from arena.models.gguf_layout import pairs_from_halves as _pairs_from_halves
from arena.models.gguf_rope import write_rope_metadata
from arena.models.gguf_vocab import GGUFVocab, build_vocab
from arena.models.hf_folder import ExportError, HFFolder, read_hf_folder

__all__ = ["DTYPES", "SUPPORTED_ARCHS", "ExportError", "ExportSummary", "export_gguf"]

DTYPES = ("f32", "f16")


@dataclass(frozen=True)
class ExportSummary:
    """What `export_gguf` wrote."""

    path: Path
    arch: str
    dtype: str
    tensors: int
    parameters: int
    vocab_size: int
    pre_tokenizer: str


def _gguf_name(hf_name: str) -> str | None:
    """llama.cpp's name for a Hugging Face tensor; None for tensors llama.cpp recomputes."""
    if hf_name.rpartition(".")[0].endswith("rotary_emb"):
        return None  # inv_freq buffers in old checkpoints
    name = gguf_tensor_name(hf_name)
    if name is None:
        raise ExportError(f"unexpected tensor {hf_name!r} (not part of a plain Llama/Qwen2 model)")
    return name


def _plan(folder: HFFolder, arch: str, hp: HParams) -> list[tuple[str, str]]:
    """(HF name, GGUF name) for every tensor to write, in llama.cpp's customary order."""
    names = {}
    for hf_name in folder.tensors:
        gguf_name = _gguf_name(hf_name)
        if gguf_name is not None:
            names[gguf_name] = hf_name
    if hp.tied:
        names.pop("output.weight", None)  # llama.cpp reuses token_embd for the output
    required = required_tensors(arch, hp)
    missing = [n for n in required if n not in names]
    if missing:
        raise ExportError(f"the weights lack {len(missing)} tensor(s), e.g. {missing[0]}")
    extra = [n for n in names if n.startswith("blk.") and int(n.split(".")[1]) >= hp.n_layer]
    if extra:
        raise ExportError(f"tensor {names[extra[0]]} is past num_hidden_layers={hp.n_layer}")

    def order(name: str) -> tuple[int, str]:
        return (int(name.split(".")[1]) + 1 if name.startswith("blk.") else 0, name)

    return [(names[g], g) for g in sorted(names, key=order)]


@dataclass(frozen=True)
class _Tensor:
    """One tensor of the GGUF file: its name, shape, stored type, and how to compute it."""

    name: str
    shape: tuple[int, ...]
    dtype: Any  # numpy dtype
    produce: Callable[[], Any]


def _tensors(folder: HFFolder, arch: str, hp: HParams, dtype: str, n_vocab: int) -> list[_Tensor]:
    """Every tensor to write, checked against the config's shapes, in llama.cpp's order."""
    import numpy as np

    tensors = []
    if hp.rope.freq_factors is not None:
        factors = np.array(hp.rope.freq_factors, dtype=np.float32)
        tensors.append(_Tensor("rope_freqs.weight", factors.shape, factors.dtype, lambda: factors))
    for hf_name, gguf_name in _plan(folder, arch, hp):
        shape = folder.tensors[hf_name].shape
        expected = expected_shape(gguf_name, hp, n_vocab)
        if expected is not None and shape != expected:
            raise ExportError(
                f"tensor {hf_name} has shape {list(shape)}, but config.json implies "
                f"{list(expected)}"
            )
        # Norms and biases stay f32 in an f16 file, as llama.cpp computes them in f32.
        stored = np.dtype(np.float16 if dtype == "f16" and len(shape) >= 2 else np.float32)
        heads = permuted_heads(arch, gguf_name, hp)

        def produce(hf_name: str = hf_name, heads: int | None = heads, stored: Any = stored) -> Any:
            arr = folder.load(hf_name)
            if heads is not None:
                arr = _pairs_from_halves(arr, heads)
            return np.ascontiguousarray(arr.astype(stored, copy=False))

        tensors.append(_Tensor(gguf_name, shape, stored, produce))
    return tensors


def _write_metadata(
    writer: Any, arch: str, hp: HParams, vocab: GGUFVocab, folder: HFFolder, dtype: str
) -> None:
    import gguf

    writer.add_name(folder.path.resolve().name)
    writer.add_file_type(
        gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16
    )
    writer.add_context_length(hp.n_ctx)
    writer.add_embedding_length(hp.n_embd)
    writer.add_block_count(hp.n_layer)
    writer.add_feed_forward_length(hp.n_ff)
    writer.add_head_count(hp.n_head)
    writer.add_head_count_kv(hp.n_head_kv)
    write_rope_metadata(writer, hp.rope)
    writer.add_rope_dimension_count(hp.head_dim)
    if hp.head_dim * hp.n_head != hp.n_embd:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_vocab_size(len(vocab.tokens))

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    adders = {
        "bos": writer.add_bos_token_id,
        "eos": writer.add_eos_token_id,
        "pad": writer.add_pad_token_id,
        "unk": writer.add_unk_token_id,
    }
    for role, tid in vocab.special_ids.items():
        adders[role](tid)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if folder.chat_template:
        writer.add_chat_template(folder.chat_template)


def export_gguf(hf_dir: str | Path, out_path: str | Path, dtype: str = "f32") -> ExportSummary:
    """Write the Llama or Qwen2 model in `hf_dir` to `out_path` as GGUF with f32 or f16 weights.

    Raises `ExportError` with a clear message for an unsupported architecture, tokenizer or
    dtype, and for a missing or corrupt folder. The file appears only when complete.
    """
    if dtype not in DTYPES:
        raise ExportError(
            f"unsupported dtype {dtype!r}; supported: {', '.join(DTYPES)} "
            "(quantize the f16 file afterwards with llama.cpp's llama-quantize if needed)"
        )
    folder = read_hf_folder(hf_dir)
    arch = config_arch(folder.config)
    hp = config_hparams(arch, folder.config)
    embd_name = "model.embed_tokens.weight"
    if embd_name not in folder.tensors:
        raise ExportError(f"the weights lack the token embedding {embd_name}")
    n_vocab = folder.tensors[embd_name].shape[0]
    tensors = _tensors(folder, arch, hp, dtype, n_vocab)
    vocab = build_vocab(folder, n_vocab=n_vocab)

    import gguf

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _write_metadata(writer, arch, hp, vocab, folder, dtype)
        for t in tensors:
            writer.add_tensor_info(t.name, t.shape, t.dtype, math.prod(t.shape) * t.dtype.itemsize)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t in tensors:  # one tensor in memory at a time
            writer.write_tensor_data(t.produce())
        writer.close()
        tmp.chmod(0o644)
        tmp.replace(out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return ExportSummary(
        path=out,
        arch=arch,
        dtype=dtype,
        tensors=len(tensors),
        parameters=sum(math.prod(t.shape) for t in tensors),
        vocab_size=len(vocab.tokens),
        pre_tokenizer=vocab.pre,
    )
