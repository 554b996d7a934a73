"""A torch/transformers backend: one Hugging Face causal LM, batched across concurrent matches.

Every request (generation, scoring, constrained choice) goes to one worker thread. The thread
gathers the requests that arrive within a few milliseconds of each other and computes them as
one padded batch (`arena.backends.batching`, `arena.backends.torch_decode`), so 16 matches
running at once cost little more than one. The model loads in that thread on first use (or
ahead of time with `await backend.load()`), which keeps the event loop responsive.

Prompts are the tokenizer's chat template with the assistant turn opened, tokenized without
adding special tokens again (the template writes them; `arena.backends.torch_prompt`).
`generate`, `score` and constrained choice all feed the model the same ids.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from arena.backends.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    Generation,
    Message,
    OnText,
    Sampling,
)
from arena.backends.batching import BatchWorker, Pending
from arena.backends.torch_prompt import ChatPrompts

# One load at a time in the process. transformers imports its classes lazily, on first use: two
# backends loading at once from their worker threads (two checkpoints of a job in one
# tournament) could each meet the other's half-imported module and fail with "cannot import
# name 'AutoTokenizer'", a failure that then stuck to the player for the whole run.
_LOADING = threading.Lock()

DTYPES = ("auto", "float32", "float16", "bfloat16")
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
# End-of-turn markers of common chat templates; they stop generation when the vocabulary has
# them as added tokens, even if the model's generation config forgot to list them.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def _check_device(device: str) -> str:
    kind, _, index = device.partition(":")
    if kind not in ("auto", "cpu", "cuda", "mps") or (
        index and (kind != "cuda" or not index.isdigit())
    ):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {device!r}")
    return device


def _check_dtype(dtype: str) -> str:
    name = _DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return name


def resolve_device(device: str) -> str:
    """`auto` becomes cuda when torch sees a GPU, else mps (Apple), else cpu."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(f"device {device!r} was asked for but torch sees no CUDA GPU")
    if device == "mps" and not torch.backends.mps.is_available():
        raise BackendUnavailable("device 'mps' was asked for but torch sees no Apple GPU")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """`auto` is bfloat16 on a GPU that supports it (else float16), float32 elsewhere."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)


class TransformersBackend(ChatPrompts, Backend):
    """A Hugging Face causal language model run by torch in this process.

    - `model`: a local model folder (or a hub id when there is internet; with `HF_HUB_OFFLINE`
      set, only local files are used).
    - `device`: "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    - `dtype`: "auto" (bfloat16 on a GPU that has it, float32 on cpu), "float32", "float16" or
      "bfloat16".
    - `batch_window_ms`, `max_batch_size`: how long the worker waits for concurrent requests to
      join a batch, and how many rows a batch holds.
    - `trust_remote_code`: allow model code shipped with the folder (off by default).
    - `threads`: torch's CPU threads (`torch.set_num_threads`, which is process-wide); None
      keeps torch's default. On a small, busy CPU use 1: more threads than free cores make
      every step spin-wait (measured here: 2 threads on 2 shared cores ran 100x slower).

    Generation stops at an end-of-turn token (kept in `token_ids`, not in the text), at a stop
    string (the text is cut before it; the ids keep every sampled token) or after `max_tokens`
    (finish_reason "length"). A seed gives the same reply alone and inside a batch.

    Constrained replies (`choices`) are chosen by `score`: greedy takes the best-scoring
    choice, sampling draws from the scores' softmax at the sampling temperature (the model's
    distribution conditioned on answering one of the choices). They ignore `max_tokens` and
    `stop`; `meta["scores"]` holds every choice's log-probability.
    """

    kind = "transformers"
    can_score = True
    can_constrain = True
    can_continue = True

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_window_ms: float = 5.0,
        max_batch_size: int = 16,
        trust_remote_code: bool = False,
        threads: int | None = None,
    ) -> None:
        self.model_ref = (
            str(Path(model).expanduser()) if Path(model).expanduser().exists() else str(model)
        )
        self.device = _check_device(device)
        self.dtype = _check_dtype(dtype)
        if not (batch_window_ms >= 0 and math.isfinite(batch_window_ms)):
            raise ValueError(f"batch_window_ms must be a finite number >= 0, got {batch_window_ms}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.batch_window_ms = batch_window_ms
        self.max_batch_size = max_batch_size
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.trust_remote_code = trust_remote_code
        self.threads = threads
        self._tokenizer: Any = None
        self._engine: Any = None
        self._load_error: BackendUnavailable | None = None
        self._load_lock = threading.Lock()  # loading, from the worker or from count_tokens
        self._init_prompts()
        self._seeds = random.SystemRandom()
        self._closed = False
        self._worker = BatchWorker(
            self._run_batch,
            window_s=batch_window_ms / 1000.0,
            max_batch_size=max_batch_size,
            prepare=self._prepare,
            name=f"transformers-{Path(self.model_ref).name}",
        )

    # ----------------------------------------------------------------------------- public API

    async def load(self) -> None:
        """Load the model now (off the event loop) instead of on the first request."""
        if self._closed:
            raise BackendUnavailable(f"the transformers backend for {self.model_ref} is closed")
        await asyncio.to_thread(self._ensure_loaded)

    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        """Complete the chat; with `choices`, the reply is exactly one of them."""
        from arena.backends.torch_decode import GenerateJob

        if sampling.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {sampling.max_tokens}")
        seed = sampling.seed if sampling.seed is not None else self._seeds.getrandbits(63)
        t0 = time.perf_counter()
        if choices is not None:
            gen = await self._choose(messages, sampling, seed, choices, on_text)
        else:
            prompt, text = await self._prompt(messages)
            job = GenerateJob(list(messages), sampling, seed, prompt, text)
            gen = await self._submit(job, on_text)
        gen.latency_s = time.perf_counter() - t0
        return gen

    async def score(self, messages: list[Message], candidates: list[str]) -> list[float]:
        """Sum of the natural-log probabilities of each candidate's tokens after the prompt."""
        from arena.backends.torch_score import ScoreJob

        if not candidates:
            return []
        prompt, text = await self._prompt(messages)
        scored = await self._submit(ScoreJob(list(messages), list(candidates), prompt, None, text))
        return scored.scores

    async def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The token ids `generate` and `score` feed the model for these messages."""
        self._ensure_tokenizer()
        return await asyncio.to_thread(self._render, messages)

    def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` (no special tokens added). Loads the tokenizer if needed."""
        if self._closed:
            return None
        try:
            self._ensure_tokenizer()
        except BackendError:
            return None
        return len(self._encode(text))

    async def aclose(self) -> None:
        """Stop the worker thread (after its current batch) and free the model."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._worker.close)
        self._engine = None
        if self.device != "cpu":
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except Exception:  # noqa: BLE001 - freeing memory is best effort
                pass

    def describe(self) -> str:
        """Model folder, device, dtype and batching settings, for logs and the UI."""
        where = self.device if self._engine is None else f"{self._engine.device}"
        return (
            f"transformers {Path(self.model_ref).name} ({where}, {self.dtype}, "
            f"batch {self.max_batch_size}/{self.batch_window_ms:g} ms)"
        )

    @property
    def worker(self) -> BatchWorker:
        """The batching worker (its counters tell how requests were batched)."""
        return self._worker

    # ----------------------------------------------------------------------- constrained choice

    async def _choose(
        self,
        messages: list[Message],
        sampling: Sampling,
        seed: int,
        choices: list[str],
        on_text: OnText | None,
    ) -> Generation:
        from arena.backends.torch_score import ScoreJob

        options = list(dict.fromkeys(choices))
        if not options:
            raise ValueError("constrained generation needs at least one choice")
        if any(not c for c in options):
            raise ValueError(f"choices must be non-empty strings: {choices!r}")
        prompt, text = await self._prompt(messages)
        scored = await self._submit(ScoreJob(list(messages), options, prompt, None, text))
        index = pick_choice(scored.scores, sampling, seed)
        text = options[index]
        if on_text is not None:
            on_text(text)
        meta: dict[str, Any] = {
            "scores": dict(zip(options, scored.scores)),
            "batch_size": scored.batch_size,
        }
        if sampling.temperature > 0:
            meta["seed"] = seed
        return Generation(
            text=text,
            prompt_tokens=scored.prompt_tokens,
            completion_tokens=len(scored.candidate_ids[index]),
            finish_reason="stop",
            token_ids=list(scored.candidate_ids[index]),
            meta=meta,
        )

    # ----------------------------------------------------------------------- worker plumbing

    async def _submit(self, job: Any, on_text: OnText | None = None) -> Any:
        if self._closed:
            raise BackendUnavailable(f"the transformers backend for {self.model_ref} is closed")
        return await self._worker.submit(job, on_text)

    def _run_batch(self, items: list[Pending], admit: Any) -> None:
        engine = self._ensure_loaded()
        engine.run_batch(items, admit)

    def _ensure_tokenizer(self) -> Any:
        with self._load_lock:
            if self._tokenizer is None:
                if self._load_error is not None:
                    raise self._load_error
                try:
                    with _LOADING:
                        self._tokenizer = self._load_tokenizer()
                except BackendError as exc:
                    self._load_error = BackendUnavailable(str(exc))
                    raise self._load_error from exc
                except Exception as exc:
                    self._load_error = BackendUnavailable(
                        f"could not load the tokenizer of {self.model_ref}: "
                        f"{type(exc).__name__}: {exc}"
                    )
                    raise self._load_error from exc
            return self._tokenizer

    def _ensure_loaded(self) -> Any:
        if self._engine is not None:
            return self._engine
        self._ensure_tokenizer()
        with self._load_lock:
            if self._engine is None:
                if self._load_error is not None:
                    raise self._load_error
                try:
                    with _LOADING:
                        self._engine = self._load_engine()
                except BackendError as exc:
                    self._load_error = BackendUnavailable(str(exc))
                    raise self._load_error from exc
                except Exception as exc:
                    self._load_error = BackendUnavailable(
                        f"could not load model {self.model_ref}: {type(exc).__name__}: {exc}"
                    )
                    raise self._load_error from exc
            return self._engine

    def _hub_options(self) -> dict[str, Any]:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false")
        return {"trust_remote_code": self.trust_remote_code, "local_files_only": offline}

    def _load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        ref = self.model_ref
        if not Path(ref).exists() and (Path(ref).is_absolute() or ref.startswith((".", "~"))):
            raise BackendUnavailable(f"no model folder at {ref}")

        # Left padding is what batched generation needs (our own loop pads by hand, but a
        # caller reusing the tokenizer gets the right side).
        tokenizer = AutoTokenizer.from_pretrained(
            self.model_ref, padding_side="left", **self._hub_options()
        )
        if not getattr(tokenizer, "chat_template", None):
            raise BackendUnavailable(
                f"{self.model_ref} has no chat template (tokenizer_config.json or "
                "chat_template.jinja): the arena needs one to build prompts"
            )
        return tokenizer

    def _load_engine(self) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        from arena.backends.torch_decode import TorchEngine

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        model = AutoModelForCausalLM.from_pretrained(
            self.model_ref, dtype=dtype, **self._hub_options()
        )
        model = _merged_adapters(model)
        model.to(device)
        model.eval()
        tokenizer = self._tokenizer
        eos = _eos_ids(model, tokenizer)
        if not eos:
            raise BackendUnavailable(f"{self.model_ref} names no end-of-sequence token")
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = min(eos)  # any id works: padding is masked out
        return TorchEngine(
            model,
            device=torch.device(device),
            render=self._render,
            encode=self._encode,
            decode=self._decode,
            eos_ids=eos,
            pad_id=int(pad),
            max_context=_max_context(model.config),
        )


def pick_choice(scores: list[float], sampling: Sampling, seed: int) -> int:
    """Index of the chosen candidate: the best score when greedy, else a draw from
    softmax(scores / temperature) cut by top_k and top_p, seeded by `seed`."""
    best = max(range(len(scores)), key=lambda i: scores[i])
    if sampling.temperature <= 0:
        return best
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if sampling.top_k > 0:
        order = order[: sampling.top_k]
    top = scores[best] / sampling.temperature
    weights = [math.exp(scores[i] / sampling.temperature - top) for i in order]
    total = sum(weights)
    if sampling.top_p < 1.0:
        kept, mass = 0, 0.0
        while kept < len(order) and (kept == 0 or mass < sampling.top_p * total):
            mass += weights[kept]
            kept += 1
        order, weights = order[:kept], weights[:kept]
    return random.Random(seed).choices(order, weights=weights)[0]


def _merged_adapters(model: Any) -> Any:
    """A model loaded from a LoRA adapter folder (a trainer's LoRA checkpoint: transformers
    puts the adapters on their base) with the adapters folded into its weights: the same
    outputs up to rounding, at the plain model's speed (an unmerged LoRA layer runs two more
    matrix products). Any other model is returned as it is."""
    if not getattr(model, "_hf_peft_config_loaded", False):
        return model
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return model
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.merge()
    return model


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (config_eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    added = tokenizer.get_added_vocab()
    ids.update(added[t] for t in _END_OF_TURN if t in added)
    return ids


def _max_context(config: Any) -> int | None:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
