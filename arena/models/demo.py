"""The tiny demo model that `arena demo` and the app's first run give people to play at once:
made from game text with `make-tiny`, exported to GGUF, played through llama.cpp."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

DEMO_PLAYER = "tiny-demo"
_NEEDS = ("torch", "transformers", "tokenizers", "gguf", "llama_cpp")


def default_models_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("arena", appauthor=False)) / "models"


def missing_extras() -> list[str]:
    """Modules the demo model needs that are not installed (checked without importing)."""
    return [name for name in _NEEDS if importlib.util.find_spec(name) is None]


def demo_gguf_path(models_dir: Path | None = None) -> Path:
    return (models_dir or default_models_dir()) / "tiny-demo.f32.gguf"


def ensure_demo_model(models_dir: Path | None = None) -> Path:
    """The demo model's GGUF file, made when missing (about 15-60 s on two cores). Written
    under a temporary name and renamed, so an interrupted build is never mistaken for one."""
    gguf = demo_gguf_path(models_dir)
    if gguf.exists():
        return gguf
    from arena.models.gguf_export import export_gguf
    from arena.models.tiny import build_tiny

    hf = gguf.parent / "tiny-demo"
    build_tiny(hf, train_steps=300)
    tmp = gguf.with_suffix(".part")
    export_gguf(hf, tmp, "f32")
    tmp.replace(gguf)
    return gguf


def demo_spec(gguf: Path) -> dict[str, Any]:
    """The demo player: constrained to legal moves, sampled so that its games differ."""
    return {
        "name": DEMO_PLAYER,
        "kind": "llamacpp",
        "path": str(gguf),
        "decode": "constrained",
        "prompt": {"reasoning": "direct"},
        "sampling": {"temperature": 0.7, "max_tokens": 16},
    }
