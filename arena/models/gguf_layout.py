"""Where a Hugging Face Llama or Qwen2 model's tensors sit in a GGUF file, both ways.

Shared by the exporter (`gguf_export`) and the importer (`gguf_import`): the architectures,
the hyperparameters read from a config, the tensor names on each side, the shape each tensor
must have, and the Q/K row order.

Llama's rotary embedding in llama.cpp rotates adjacent pairs of each head's dimensions
(2i, 2i+1), while the Hugging Face model rotates the two halves (i, i + d/2), so a Llama file
holds the Q and K rows reordered (`pairs_from_halves`; `halves_from_pairs` undoes it). Qwen2
runs in llama.cpp with the halves ("NeoX") rotation, so its tensors are stored as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.models.gguf_rope import RopeSettings, rope_settings
from arena.models.hf_folder import ExportError

# model_type -> the Hugging Face class it is saved from.
SUPPORTED_ARCHS = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}

# Hugging Face per-layer tensor name (after "model.layers.N.") -> llama.cpp's (after "blk.N.").
LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
GLOBAL_NAMES = {
    "model.embed_tokens": "token_embd",
    "model.norm": "output_norm",
    "lm_head": "output",
}
_HF_LAYER = {v: k for k, v in LAYER_NAMES.items()}
_HF_GLOBAL = {v: k for k, v in GLOBAL_NAMES.items()}


@dataclass(frozen=True)
class HParams:
    """The hyperparameters both formats describe, in llama.cpp's terms."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ctx: int
    rms_eps: float
    rope: RopeSettings
    tied: bool


def config_arch(config: dict[str, Any]) -> str:
    """The supported architecture of a Hugging Face config; `ExportError` otherwise."""
    model_type = config.get("model_type")
    if model_type in SUPPORTED_ARCHS:
        return model_type
    archs = config.get("architectures") or []
    supported = ", ".join(f"{k} ({v})" for k, v in SUPPORTED_ARCHS.items())
    name = archs[0] if archs else model_type
    raise ExportError(f"unsupported architecture {name!r}; supported: {supported}")


def config_hparams(arch: str, config: dict[str, Any]) -> HParams:
    """Read and check a Hugging Face config's hyperparameters; `ExportError` when wrong."""
    try:
        n_embd = int(config["hidden_size"])
        n_head = int(config["num_attention_heads"])
        head_dim = int(config.get("head_dim") or n_embd // n_head)
        hp = HParams(
            n_layer=int(config["num_hidden_layers"]),
            n_embd=n_embd,
            n_ff=int(config["intermediate_size"]),
            n_head=n_head,
            n_head_kv=int(config.get("num_key_value_heads") or n_head),
            head_dim=head_dim,
            n_ctx=int(config.get("max_position_embeddings") or 4096),
            rms_eps=float(config.get("rms_norm_eps") or 1e-6),
            rope=rope_settings(arch, config, head_dim),
            tied=bool(config.get("tie_word_embeddings", arch == "qwen2")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"config.json lacks or garbles a required field: {exc}") from None
    if config.get("hidden_act", "silu") != "silu":
        raise ExportError(f"unsupported activation {config.get('hidden_act')!r}; supported: silu")
    if config.get("mlp_bias"):
        raise ExportError("unsupported: biases in the MLP (mlp_bias)")
    return hp


def required_tensors(arch: str, hp: HParams) -> list[str]:
    """The GGUF tensor names a plain model of `arch` with these hyperparameters holds."""
    required = ["token_embd.weight", "output_norm.weight"]
    if not hp.tied:
        required.append("output.weight")
    for i in range(hp.n_layer):
        required += [f"blk.{i}.{n}.weight" for n in LAYER_NAMES.values()]
        if arch == "qwen2":
            required += [f"blk.{i}.attn_{n}.bias" for n in "qkv"]
    return required


def gguf_tensor_name(hf_name: str) -> str | None:
    """llama.cpp's name for a Hugging Face tensor name; None when it has none."""
    stem, _, kind = hf_name.rpartition(".")
    if stem in GLOBAL_NAMES:
        return f"{GLOBAL_NAMES[stem]}.{kind}"
    parts = stem.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in LAYER_NAMES:
        if not parts[2].isdigit():
            return None
        return f"blk.{int(parts[2])}.{LAYER_NAMES[parts[3]]}.{kind}"
    return None


def hf_tensor_name(gguf_name: str) -> str | None:
    """The Hugging Face name for a llama.cpp tensor name; None when it has none."""
    stem, _, kind = gguf_name.rpartition(".")
    if stem in _HF_GLOBAL:
        return f"{_HF_GLOBAL[stem]}.{kind}"
    parts = stem.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in _HF_LAYER:
        return f"model.layers.{int(parts[1])}.{_HF_LAYER[parts[2]]}.{kind}"
    return None


def expected_shape(gguf_name: str, hp: HParams, n_vocab: int) -> tuple[int, ...] | None:
    """The Hugging Face (row-major) shape a tensor must have under `hp`; None if unknown."""
    q, kv = hp.n_head * hp.head_dim, hp.n_head_kv * hp.head_dim
    kind = gguf_name.split(".")[-2] if gguf_name.startswith("blk.") else gguf_name.split(".")[0]
    weight = gguf_name.endswith(".weight")
    shapes = {
        "token_embd": (n_vocab, hp.n_embd),
        "output": (n_vocab, hp.n_embd),
        "output_norm": (hp.n_embd,),
        "attn_norm": (hp.n_embd,),
        "ffn_norm": (hp.n_embd,),
        "attn_q": (q, hp.n_embd) if weight else (q,),
        "attn_k": (kv, hp.n_embd) if weight else (kv,),
        "attn_v": (kv, hp.n_embd) if weight else (kv,),
        "attn_output": (hp.n_embd, q) if weight else (hp.n_embd,),
        "ffn_gate": (hp.n_ff, hp.n_embd),
        "ffn_up": (hp.n_ff, hp.n_embd),
        "ffn_down": (hp.n_embd, hp.n_ff),
    }
    return shapes.get(kind)


def permuted_heads(arch: str, gguf_name: str, hp: HParams) -> int | None:
    """How many heads a tensor's rows are reordered over in the GGUF file (Llama's Q and K);
    None for tensors stored in the Hugging Face order."""
    if arch != "llama":
        return None
    if ".attn_q." in gguf_name:
        return hp.n_head
    if ".attn_k." in gguf_name:
        return hp.n_head_kv
    return None


def pairs_from_halves(rows: Any, n_heads: int) -> Any:
    """Reorder Q/K rows (or bias entries) from HF's rotate-halves to llama.cpp's adjacent pairs.

    Within each head, output row 2i takes HF row i and row 2i+1 takes HF row i + d/2.
    """
    shape = rows.shape
    per_head = rows.reshape(n_heads, 2, shape[0] // n_heads // 2, *shape[1:])
    return per_head.swapaxes(1, 2).reshape(shape)


def halves_from_pairs(rows: Any, n_heads: int) -> Any:
    """The inverse of `pairs_from_halves`: llama.cpp's adjacent pairs back to HF's halves."""
    shape = rows.shape
    per_head = rows.reshape(n_heads, shape[0] // n_heads // 2, 2, *shape[1:])
    return per_head.swapaxes(1, 2).reshape(shape)
