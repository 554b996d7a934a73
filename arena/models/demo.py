"""The local models that `arena demo` and the app's first run give people to play at once.

- The shipped model: a tiny tictactoe player trained by this project's self-play trainer and
  exported to GGUF (`assets/models/`, installed with the package as `arena/assets`); it needs
  only llama.cpp. `assets/models/README.md` has the command that reproduces it.
- Without it (a trimmed install), the tiny demo model: made from game text with `make-tiny` on
  first use, exported to GGUF and played through llama.cpp.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

DEMO_PLAYER = "tiny-demo"
_NEEDS = ("torch", "transformers", "tokenizers", "gguf", "llama_cpp")
SHIPPED_PLAYER = "tictactoe-tiny"
SHIPPED_FILE = "tictactoe-tiny.f32.gguf"


def shipped_model_path() -> Path | None:
    """The shipped tictactoe model's GGUF file, when this install has it."""
    path = Path(__file__).resolve().parents[1] / "assets" / "models" / SHIPPED_FILE
    return path if path.is_file() else None


def shipped_spec(gguf: Path) -> dict[str, Any]:
    """The shipped model as it was trained and measured: every legal move scored after the
    rules-free direct prompt, the best-scored one played (greedy)."""
    return {
        "name": SHIPPED_PLAYER,
        "kind": "llamacpp",
        "path": str(gguf),
        "decode": "score",
        "prompt": {"reasoning": "direct", "include_rules": False, "repeat_legal_moves": True},
        "sampling": {"temperature": 0.0, "max_tokens": 16},
    }


def demo_player(models_dir: Path | None = None) -> dict[str, Any]:
    """The spec of the local model to demo: the shipped one when this install has it and
    llama.cpp is there, else the tiny demo model (made on first use)."""
    shipped = shipped_model_path()
    if shipped is not None and importlib.util.find_spec("llama_cpp") is not None:
        return shipped_spec(shipped)
    return demo_spec(ensure_demo_model(models_dir))


def default_models_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("arena", appauthor=False)) / "models"


def missing_extras() -> list[str]:
    """Modules the demo needs that are not installed (checked without importing): llama.cpp
    alone with the shipped model, the model-making extras as well without it."""
    needs = ("llama_cpp",) if shipped_model_path() is not None else _NEEDS
    return [name for name in needs if importlib.util.find_spec(name) is None]


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
