"""Quantize a GGUF file with llama.cpp's own quantizer (through llama-cpp-python).

Used by the tests and the benchmarks to make Q4_0, Q4_1, Q8_0 and K-quant files from one real
model, and by anyone who wants a smaller file. A file that is already quantized is re-quantized
(llama.cpp's `allow_requantize`): good enough to test that every type loads and plays, though a
re-quantized model is a little worse than one quantized from f16.
"""

from __future__ import annotations

from pathlib import Path

from arena.errors import ArenaError

# Names as llama.cpp spells them (lower case here) -> `llama_ftype` values.
QUANT_TYPES: dict[str, str] = {
    "f32": "LLAMA_FTYPE_ALL_F32",
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "iq4_xs": "LLAMA_FTYPE_MOSTLY_IQ4_XS",
}


class QuantizeError(ArenaError, ValueError):
    """The quantizer refused the input or the type."""


def quantize_gguf(src: str | Path, dst: str | Path, qtype: str, *, threads: int = 1) -> Path:
    """Write `src` quantized to `qtype` (a key of `QUANT_TYPES`) at `dst`; returns `dst`.
    Written under a temporary name and renamed, so a failed run leaves nothing behind."""
    import llama_cpp

    key = qtype.lower()
    if key not in QUANT_TYPES:
        raise QuantizeError(f"unknown quantization {qtype!r}; one of {', '.join(QUANT_TYPES)}")
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise QuantizeError(f"GGUF file not found: {src}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[key])
    params.nthread = threads
    params.allow_requantize = True
    tmp = dst.with_name(dst.name + ".part")
    status = llama_cpp.llama_model_quantize(
        str(src).encode("utf-8"), str(tmp).encode("utf-8"), params
    )
    if status != 0:
        tmp.unlink(missing_ok=True)
        raise QuantizeError(f"llama.cpp could not quantize {src.name} to {qtype} (status {status})")
    tmp.replace(dst)
    return dst
