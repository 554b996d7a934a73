"""Rotary position embedding settings, from a Hugging Face config to GGUF.

Plain RoPE needs only its base. Linear scaling is a GGUF key. Llama 3's scaling (used by Llama
3.1 and 3.2) changes each frequency by its own factor, which llama.cpp reads from a
`rope_freqs.weight` tensor: the ratio of the plain frequency to the scaled one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from arena.models.hf_folder import ExportError

SUPPORTED_ROPE = ("default", "linear", "llama3 (Llama only)")


@dataclass(frozen=True)
class RopeSettings:
    """What llama.cpp needs to rotate like the Hugging Face model."""

    theta: float
    linear_factor: float | None = None
    freq_factors: tuple[float, ...] | None = None  # llama3: one divisor per frequency


def _llama3_freq_factors(params: dict[str, Any], theta: float, head_dim: int) -> tuple[float, ...]:
    """Per-frequency divisors that turn plain RoPE into Llama 3's scaled RoPE."""
    try:
        factor = float(params["factor"])
        low = float(params["low_freq_factor"])
        high = float(params["high_freq_factor"])
        old_ctx = float(params["original_max_position_embeddings"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"llama3 RoPE scaling lacks a field: {exc}") from None
    divisors = []
    for i in range(0, head_dim, 2):
        freq = theta ** (-i / head_dim)
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:  # high frequencies: unchanged
            scaled = freq
        elif wavelen > old_ctx / low:  # low frequencies: slowed by the full factor
            scaled = freq / factor
        else:  # in between: interpolate between the two
            smooth = (old_ctx / wavelen - low) / (high - low)
            scaled = (1 - smooth) * freq / factor + smooth * freq
        divisors.append(freq / scaled)
    return tuple(divisors)


def rope_settings(arch: str, config: dict[str, Any], head_dim: int) -> RopeSettings:
    """Read the RoPE settings of a config; `ExportError` for scalings llama.cpp cannot match."""
    # transformers 5 keeps them in `rope_parameters`; older configs use `rope_scaling` and a
    # top-level `rope_theta`.
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = float(params.get("rope_theta") or config.get("rope_theta") or 10000.0)
    if float(config.get("partial_rotary_factor") or 1.0) != 1.0:
        raise ExportError("unsupported: partial rotary embeddings (partial_rotary_factor)")
    kind = params.get("rope_type") or params.get("type") or "default"
    if kind == "default":
        return RopeSettings(theta)
    if kind == "linear":
        return RopeSettings(theta, linear_factor=float(params["factor"]))
    if kind == "llama3" and arch == "llama":
        return RopeSettings(theta, freq_factors=_llama3_freq_factors(params, theta, head_dim))
    raise ExportError(
        f"unsupported RoPE scaling {kind!r} for {arch}; supported: {', '.join(SUPPORTED_ROPE)}"
    )


def write_rope_metadata(writer: Any, rope: RopeSettings) -> None:
    """Add the GGUF keys for `rope` (the llama3 factors go in a tensor, not a key)."""
    import gguf

    writer.add_rope_freq_base(rope.theta)
    if rope.linear_factor is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(rope.linear_factor)
