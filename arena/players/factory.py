"""From specs to players. Backends are shared: two players on the same model file (greedy and
sampled, say) use one loaded model, owned by a `BackendPool`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arena.backends.base import Backend
from arena.players.base import Player
from arena.players.bot import BotPlayer
from arena.players.human import HumanPlayer, Provider
from arena.players.llm import LLMPlayer
from arena.specs import (
    BotSpec,
    HumanSpec,
    LlamaCppSpec,
    OpenAISpec,
    SpecError,
    TransformersSpec,
    load_specs,
)
from games.registry import game_class, game_ids

# Fields that decide which loaded model a spec needs (the rest is per player).
_BACKEND_FIELDS = {
    "vllm": (
        "model",
        "tensor_parallel_size",
        "gpu_memory_utilization",
        "vllm_dtype",
        "max_model_len",
    ),
    "llamacpp": ("path", "chat_format", "n_ctx", "n_threads", "seed", "repack"),
    "transformers": ("model", "device", "dtype", "batch_window_ms", "max_batch_size", "threads"),
    "openai": (
        "base_url",
        "model",
        "api_key_env",
        "timeout_s",
        "max_retries",
        "total_timeout_s",
        "max_body_bytes",
        "concurrency",
        "price_input_per_mtok",
        "price_output_per_mtok",
        "grammar",
        "llama_sampling",
        "gguf_path",
    ),
}


class BackendPool:
    """Creates each distinct backend once and closes them all at the end."""

    def __init__(self) -> None:
        self._backends: dict[str, Backend] = {}

    def get(self, spec: LlamaCppSpec | TransformersSpec | OpenAISpec) -> Backend:
        fields = {k: getattr(spec, k) for k in _BACKEND_FIELDS[spec.kind]}
        key = json.dumps([spec.kind, fields], sort_keys=True, default=str)
        backend = self._backends.get(key)
        if backend is None:
            backend = self._backends[key] = _create(spec.kind, fields)
        return backend

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()


def _create(kind: str, f: dict[str, Any]) -> Backend:
    if kind == "llamacpp":
        from arena.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(
            f["path"],
            chat_format=f["chat_format"],
            n_ctx=f["n_ctx"],
            n_threads=f["n_threads"],
            seed=f["seed"],
            repack=f["repack"],
        )
    if kind == "transformers":
        from arena.backends.transformers_backend import TransformersBackend

        return TransformersBackend(
            f["model"],
            device=f["device"],
            dtype=f["dtype"],
            batch_window_ms=f["batch_window_ms"],
            max_batch_size=f["max_batch_size"],
            threads=f["threads"],
        )
    if kind == "vllm":
        from arena.backends.vllm_backend import VLLMBackend

        return VLLMBackend(
            f["model"],
            tensor_parallel_size=f["tensor_parallel_size"],
            gpu_memory_utilization=f["gpu_memory_utilization"],
            dtype=f["vllm_dtype"],
            max_model_len=f["max_model_len"],
        )
    from arena.backends.openai_backend import OpenAIBackend

    options = dict(f)
    # Unset means "as the backend decides" (on with a grammar, which implies llama.cpp).
    options["llama_sampling"] = options["llama_sampling"] or None
    return OpenAIBackend(**options)


def check_loadable(spec: Any) -> None:
    """Load a llama.cpp player's GGUF in a child process (a fraction of a second for small
    models): a file that is not a model, or one that crashes llama.cpp natively, is refused
    with the reason now instead of failing matches later. Other kinds are checked at use."""
    if isinstance(spec, LlamaCppSpec):
        from arena.backends.llamacpp_load import probe

        probe(spec.path, repack=spec.repack)


def make_player(spec: Any, pool: BackendPool, *, human_provider: Provider | None = None) -> Player:
    """A player from a validated spec."""
    if isinstance(spec, BotSpec):
        return BotPlayer(spec.name, spec.bot, spec.params)
    if isinstance(spec, HumanSpec):
        return HumanPlayer(spec.name, human_provider)
    player = LLMPlayer(
        spec.name,
        pool.get(spec),
        prompt=spec.prompt.options(),
        sampling=spec.sampling.sampling(),
        decode=spec.decode,
    )
    player.time_limit_s = spec.move_time_limit_s
    return player


def builtin_bot_names() -> set[str]:
    names = {"random"}
    for gid in game_ids():
        names.update(game_class(gid).BOTS)
    return names


def resolve_player(
    ref: str, pool: BackendPool, *, human_provider: Provider | None = None
) -> Player:
    """A player from a command-line reference: a built-in bot name, `human`, `bot:NAME`, or a
    spec file (.toml/.json) holding one player."""
    if ref == "human":
        return HumanPlayer("human", human_provider)
    if ref.startswith("bot:"):
        return BotPlayer(ref[4:])
    path = Path(ref)
    if path.suffix in (".toml", ".json") or path.exists():
        specs = load_specs(path)
        if len(specs) != 1:
            raise SpecError(f"{ref} holds {len(specs)} players; give a file with exactly one")
        return make_player(specs[0], pool, human_provider=human_provider)
    if ref in builtin_bot_names():
        return BotPlayer(ref)
    from arena.secrets import looks_like_secret

    known = ", ".join(sorted(builtin_bot_names()))
    shown = "(a value that looks like a key, not shown)" if looks_like_secret(ref) else repr(ref)
    raise SpecError(f"unknown player {shown}: give a bot name ({known}), 'human', or a spec file")
