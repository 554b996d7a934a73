"""Model backends: llama.cpp (GGUF), torch/transformers, and OpenAI-compatible endpoints.

Each backend lives in its own module and imports its heavy library inside functions, so
importing `arena.backends` costs nothing. `make_backend(spec)` builds one from a player spec.
"""

from arena.backends.base import (
    Backend,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Generation,
    Message,
    Sampling,
)

__all__ = [
    "Backend",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "Generation",
    "Message",
    "Sampling",
]
