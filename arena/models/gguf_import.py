"""Import a GGUF file as a Hugging Face folder that transformers loads and the trainer accepts.

The reverse of `gguf_export`: `import_gguf("model.gguf", "hf-folder")` reads the file with the
`gguf` package, dequantizes every tensor (F32, F16, BF16, Q4_0, Q4_1, Q8_0, K-quants, ...),
renames it to the Hugging Face name, undoes llama.cpp's Q/K row order for Llama (see
`gguf_layout`), and writes config.json, model.safetensors (one tensor in memory at a time), a
byte-level BPE tokenizer (tokenizer.json, tokenizer_config.json with the chat template) and
generation_config.json. Llama and Qwen2 files with GPT-2-style tokenizers are supported;
anything else is refused with a message that says what is and what is not.

A quantized file imports to the weights llama.cpp computes with, so the folder plays like the
file; training it further starts from those (slightly degraded) weights.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.errors import ArenaError
from arena.models.gguf_layout import (
    SUPPORTED_ARCHS,
    HParams,
    config_hparams,
    expected_shape,
    halves_from_pairs,
    hf_tensor_name,
    permuted_heads,
    required_tensors,
)
from arena.models.gguf_vocab import (
    CONTROL,
    IMPORTABLE_PRE,
    UNKNOWN,
    UNUSED,
    USER_DEFINED,
    byte_level_pre_tokenizer,
    canonical_pre,
)
from arena.models.hf_folder import ExportError, TensorOut, write_safetensors

__all__ = ["DTYPES", "GGUFImportError", "ImportSummary", "import_gguf"]

# --dtype -> the safetensors dtype of the weights (norms and biases too: transformers loads a
# folder in one dtype).
DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}
_MISSING = object()


class GGUFImportError(ArenaError, ValueError):
    """The GGUF file cannot be imported; the message says why and what is supported."""


@dataclass(frozen=True)
class ImportSummary:
    """What `import_gguf` wrote."""

    path: Path
    arch: str
    dtype: str
    tensors: int
    parameters: int
    vocab_size: int
    pre_tokenizer: str
    file_types: tuple[str, ...]  # the GGUF tensor types that were dequantized, e.g. Q4_1
    seconds: float


class _Metadata:
    """The GGUF key-value section, read through `gguf.GGUFReader`."""

    def __init__(self, reader: Any, path: Path) -> None:
        self._fields = reader.fields
        self._path = path

    def get(self, key: str, default: Any = _MISSING) -> Any:
        field = self._fields.get(key)
        if field is None:
            if default is _MISSING:
                raise GGUFImportError(f"{self._path.name}: the file lacks the metadata key {key}")
            return default
        try:
            return field.contents()
        except Exception as exc:  # a garbled value in an untrusted file
            raise GGUFImportError(f"{self._path.name}: unreadable metadata {key} ({exc})") from None

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if isinstance(value, list):
            if value and all(v == value[0] for v in value):
                return value[0]  # a per-layer array with one value throughout
            raise GGUFImportError(f"unsupported: {key} differs between layers ({value[:4]}...)")
        return value


def _open(path: Path) -> Any:
    from gguf import GGUFReader

    if not path.is_file():
        raise GGUFImportError(f"{path}: no such GGUF file")
    try:
        return GGUFReader(path)
    except Exception as exc:  # the reader raises many kinds on a corrupt or truncated file
        raise GGUFImportError(
            f"{path}: not a readable GGUF file (corrupt or truncated: {exc})"
        ) from None


def _f32_value(x: float) -> float:
    """A float32 metadata value as the short decimal it was written from (1e-05, not 9.99e-06)."""
    import numpy as np

    return float(str(np.float32(x)))


def _hf_config(arch: str, meta: _Metadata, tensors: dict[str, Any]) -> dict[str, Any]:
    """The Hugging Face config's fields, from the GGUF hyperparameters."""
    key = f"{arch}."
    n_embd = int(meta.number(key + "embedding_length"))
    n_head = int(meta.number(key + "attention.head_count"))
    head_dim = int(meta.number(key + "attention.key_length", n_embd // max(n_head, 1)))
    if int(meta.number(key + "attention.value_length", head_dim)) != head_dim:
        raise GGUFImportError("unsupported: value heads of another width than key heads")
    if int(meta.number(key + "rope.dimension_count", head_dim)) != head_dim:
        raise GGUFImportError("unsupported: rotary embedding on part of each head")
    if int(meta.number(key + "expert_count", 0)):
        raise GGUFImportError("unsupported: mixture-of-experts models")
    if "rope_freqs.weight" in tensors:
        raise GGUFImportError(
            "unsupported: per-frequency RoPE factors (rope_freqs, Llama 3.1-style scaling), "
            "whose scaling parameters the file does not keep"
        )
    rope: dict[str, Any] = {
        "rope_type": "default",
        "rope_theta": _f32_value(meta.number(key + "rope.freq_base", 10000.0)),
    }
    scaling = meta.get(key + "rope.scaling.type", "none")
    if scaling == "linear":
        rope.update(rope_type="linear", factor=_f32_value(meta.number(key + "rope.scaling.factor")))
    elif scaling != "none":
        raise GGUFImportError(f"unsupported RoPE scaling {scaling!r}; supported: none, linear")
    n_vocab = int(tensors["token_embd.weight"].shape[-1])
    return {
        "architectures": [SUPPORTED_ARCHS[arch]],
        "model_type": arch,
        "vocab_size": n_vocab,
        "hidden_size": n_embd,
        "intermediate_size": int(meta.number(key + "feed_forward_length")),
        "num_hidden_layers": int(meta.number(key + "block_count")),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(meta.number(key + "attention.head_count_kv", n_head)),
        "head_dim": head_dim,
        "max_position_embeddings": int(meta.number(key + "context_length", 4096)),
        "rms_norm_eps": _f32_value(meta.number(key + "attention.layer_norm_rms_epsilon")),
        "rope_parameters": rope,
        "hidden_act": "silu",
        "tie_word_embeddings": "output.weight" not in tensors,
    }


def _check_tensors(arch: str, hp: HParams, tensors: dict[str, Any], n_vocab: int) -> None:
    """Every tensor is one the architecture has, with its shape; none is missing."""
    required = required_tensors(arch, hp)
    missing = [n for n in required if n not in tensors]
    if missing:
        raise GGUFImportError(f"the file lacks {len(missing)} tensor(s), e.g. {missing[0]}")
    for name, t in tensors.items():
        if name not in required:
            raise GGUFImportError(
                f"unsupported tensor {name} (not part of a plain {arch} model with "
                f"{hp.n_layer} layers)"
            )
        shape = tuple(int(d) for d in reversed(t.shape))
        expected = expected_shape(name, hp, n_vocab)
        if shape != expected:
            raise GGUFImportError(
                f"tensor {name} has shape {list(shape)}, but the metadata implies {list(expected)}"
            )


def _tensor_outs(arch: str, hp: HParams, tensors: dict[str, Any], st_dtype: str) -> list[Any]:
    """The weights to write, under their Hugging Face names, computed one at a time."""
    from gguf.quants import dequantize

    outs = []
    for name, t in tensors.items():
        shape = tuple(int(d) for d in reversed(t.shape))
        heads = permuted_heads(arch, name, hp)

        def produce(t: Any = t, shape: tuple[int, ...] = shape, heads: int | None = heads) -> Any:
            try:
                arr = dequantize(t.data, t.tensor_type).reshape(shape)
            except NotImplementedError:
                raise GGUFImportError(
                    f"tensor {t.name} is stored as {t.tensor_type.name}, which the gguf package "
                    "cannot dequantize"
                ) from None
            return arr if heads is None else halves_from_pairs(arr, heads)

        outs.append(TensorOut(str(hf_tensor_name(name)), st_dtype, shape, produce))
    return outs


@dataclass(frozen=True)
class _Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[tuple[str, str]]
    pre: str
    special: dict[str, int]  # "bos" | "eos" | "pad" | "unk" -> id
    add_bos: bool
    add_eos: bool


def _vocab(meta: _Metadata, n_vocab: int) -> _Vocab:
    model = meta.get("tokenizer.ggml.model", None)
    if model != "gpt2":
        kind = {"llama": "SentencePiece", "bert": "WordPiece", "t5": "Unigram"}.get(model, "")
        raise GGUFImportError(
            f"unsupported tokenizer {model!r}{f' ({kind})' if kind else ''}; supported: 'gpt2' "
            "(GPT-2-style byte-level BPE)"
        )
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre not in IMPORTABLE_PRE:
        raise GGUFImportError(
            f"unsupported pre-tokenizer {pre!r} (how text is split before BPE); supported: "
            f"{', '.join(IMPORTABLE_PRE)}"
        )
    pre = canonical_pre(pre)
    tokens = [str(t) for t in meta.get("tokenizer.ggml.tokens")]
    if len(tokens) > n_vocab:
        raise GGUFImportError(
            f"the tokenizer has {len(tokens)} tokens but the embedding only {n_vocab} rows"
        )
    types = [int(t) for t in meta.get("tokenizer.ggml.token_type", [1] * len(tokens))]
    if len(types) != len(tokens):
        raise GGUFImportError("the tokenizer's token types do not match its tokens")
    merges = []
    for m in meta.get("tokenizer.ggml.merges"):
        cut = str(m).find(" ", 1)  # as llama.cpp splits a merge
        if cut < 0:
            raise GGUFImportError(f"garbled tokenizer merge {m!r}")
        merges.append((m[:cut], m[cut + 1 :]))
    special = {}
    for role, key in (("bos", "bos"), ("eos", "eos"), ("pad", "padding"), ("unk", "unknown")):
        tid = meta.number(f"tokenizer.ggml.{key}_token_id", None)
        if tid is not None and 0 <= int(tid) < len(tokens):
            special[role] = int(tid)
    # llama.cpp adds BOS by default only for Llama 3's pre-tokenizer; the file may say otherwise.
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", pre == "llama-bpe"))
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    return _Vocab(tokens, types, merges, pre, special, add_bos, add_eos)


def _hf_tokenizer(vocab: _Vocab, chat_template: str | None, n_ctx: int) -> Any:
    """A transformers fast tokenizer that tokenizes as llama.cpp does with this vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    ids: dict[str, int] = {}
    for i, (text, kind) in enumerate(zip(vocab.tokens, vocab.types)):
        if kind != UNUSED:  # unused rows pad the embedding; a duplicate maps to its last id,
            ids[text] = i  # as in llama.cpp
    kinds = {text: vocab.types[i] for text, i in ids.items()}
    added = [
        AddedToken(text, special=kinds[text] != USER_DEFINED, normalized=False)
        for text in ids
        if kinds[text] in (CONTROL, UNKNOWN, USER_DEFINED)
    ]
    try:
        bpe = models.BPE(vocab=ids, merges=vocab.merges, ignore_merges=vocab.pre == "llama-bpe")
    except Exception as exc:
        raise GGUFImportError(f"the tokenizer's merges do not fit its tokens ({exc})") from None
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = byte_level_pre_tokenizer(vocab.pre)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([a for a in added if a.special])
    tok.add_tokens([a for a in added if not a.special])
    roles = {f"{role}_token": vocab.tokens[tid] for role, tid in vocab.special.items()}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        chat_template=chat_template,
        add_bos_token=vocab.add_bos,
        add_eos_token=vocab.add_eos,
        padding_side="left",  # what batched generation needs; saved only when given here
        model_max_length=n_ctx,
        clean_up_tokenization_spaces=False,
        **roles,
    )


def _destination(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GGUFImportError(f"{out} already exists and is not empty; choose a new folder")


def import_gguf(
    gguf_path: str | Path, out_dir: str | Path, dtype: str = "float32"
) -> ImportSummary:
    """Write the Llama or Qwen2 model in the GGUF file `gguf_path` as a Hugging Face folder.

    `dtype` is the weights' type in model.safetensors: float32 (exact for any GGUF type),
    bfloat16 or float16 (half the size). Raises `GGUFImportError` with a clear message for a
    missing, corrupt or unsupported file. The folder appears only when complete.
    """
    started = time.perf_counter()
    if dtype not in DTYPES:
        raise GGUFImportError(f"unsupported dtype {dtype!r}; supported: {', '.join(DTYPES)}")
    path, out = Path(gguf_path), Path(out_dir)
    _destination(out)
    reader = _open(path)
    meta = _Metadata(reader, path)
    arch = meta.get("general.architecture", None)
    if arch not in SUPPORTED_ARCHS:
        raise GGUFImportError(
            f"unsupported architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHS)}"
        )
    tensors = {str(t.name): t for t in reader.tensors}
    if "token_embd.weight" not in tensors:
        raise GGUFImportError("the file lacks the token embedding token_embd.weight")
    config = _hf_config(arch, meta, tensors)
    try:
        hp = config_hparams(arch, config)
    except ExportError as exc:
        raise GGUFImportError(str(exc)) from None
    n_vocab = config["vocab_size"]
    vocab = _vocab(meta, n_vocab)
    _check_tensors(arch, hp, tensors, n_vocab)
    template = meta.get("tokenizer.chat_template", None)
    outs = _tensor_outs(arch, hp, tensors, DTYPES[dtype])

    from transformers import GenerationConfig, LlamaConfig, Qwen2Config

    config_class = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch]
    ids = {f"{role}_token_id": vocab.special.get(role) for role in ("bos", "eos", "pad")}
    hf_config = config_class(**config, **ids, dtype=dtype)
    tokenizer = _hf_tokenizer(vocab, template, hp.n_ctx)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-import-", dir=out.parent))
    try:
        hf_config.save_pretrained(tmp)
        GenerationConfig(**ids).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp, save_jinja_files=False)
        write_safetensors(tmp / "model.safetensors", outs)
        _destination(out)  # nobody made it meanwhile
        if out.exists():
            out.rmdir()
        tmp.rename(out)
        out.chmod(0o755)  # mkdtemp made it private
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportSummary(
        path=out,
        arch=arch,
        dtype=dtype,
        tensors=len(outs),
        parameters=sum(_count(o.shape) for o in outs),
        vocab_size=n_vocab,
        pre_tokenizer=vocab.pre,
        file_types=tuple(sorted({t.tensor_type.name for t in tensors.values()})),
        seconds=time.perf_counter() - started,
    )


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
