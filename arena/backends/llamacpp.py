"""A llama.cpp backend: one local GGUF model, shared by every match of the event loop.

The model lives in one `llama_cpp.Llama` instance. Every use of it runs in the backend's single
worker thread under a lock, so concurrent matches queue up instead of corrupting the KV cache,
and the event loop never blocks on the model (loading included: it happens in the worker on
first use, or ahead of time with `await backend.load()`).

Prompts are rendered one way for everything: the chat template stored in the GGUF
(`tokenizer.chat_template`) or a named llama-cpp-python chat format, with the assistant turn
opened. `generate` and `score` use the same token ids, so a scored candidate is exactly what a
generation would have produced after that prompt.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from arena.backends.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    Generation,
    Message,
    OnText,
    Sampling,
    split_continuation,
)
from arena.backends.grammar import choices_grammar
from arena.backends.llamacpp_prompt import Renderer, handler_renderer, jinja_renderer, tokenize
from arena.backends.llamacpp_score import score_candidates
from arena.backends.text_stream import TextStream, loop_emitter

T = TypeVar("T")

# llama.cpp's distribution sampler reads this seed as "pick a random one".
_RANDOM_SEED = 0xFFFFFFFF
_GRAMMAR_CACHE_SIZE = 64


class LlamaCppBackend(Backend):
    """A GGUF model run in-process by llama.cpp (llama-cpp-python).

    - `path`: the GGUF file, any quantization llama.cpp reads.
    - `repack`: let llama.cpp repack quantized weights into extra buffer types (its default; off
      here because the repacked kernels segfault on CPUs with Intel AMX).
    - `probe`: load the file once in a child process first, so a native crash is an error of
      the match, not the end of the process (see `arena.backends.llamacpp_load`).
    - `chat_format`: a llama-cpp-python chat format name ("chatml", "llama-3", ...); by default
      the chat template stored in the file is used, and a file without one is refused.
    - `n_ctx`: context size; `n_threads`: inference threads (keep 1 per process on small CPUs).
    - `seed`: seeds the generator that draws a sampling seed when `Sampling.seed` is None.

    `on_text` callbacks are scheduled on the caller's event loop (`call_soon_threadsafe`), never
    called from the worker thread; they have all run by the time `generate` returns.
    """

    kind = "llamacpp"
    can_score = True
    can_constrain = True
    can_continue = True

    def __init__(
        self,
        path: str | Path,
        *,
        chat_format: str | None = None,
        n_ctx: int = 4096,
        n_threads: int = 1,
        seed: int = 0,
        repack: bool = False,
        probe: bool = True,
        verbose: bool = False,
    ) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise BackendUnavailable(f"GGUF model file not found: {self.path}")
        with self.path.open("rb") as f:
            magic = f.read(4)
        if magic != b"GGUF":
            raise BackendUnavailable(f"not a GGUF file (starts with {magic!r}): {self.path}")
        if n_ctx < 16 or n_threads < 1:
            raise ValueError(f"bad llama.cpp settings: n_ctx={n_ctx}, n_threads={n_threads}")
        self.chat_format = chat_format
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.repack = repack
        self.probe = probe
        self.verbose = verbose
        self._llama: Any = None
        self._load_error: BackendUnavailable | None = None
        self._render: Renderer | None = None
        # token id -> its bytes, or None for end-of-generation tokens (filled as tokens appear)
        self._pieces: dict[int, bytes | None] = {}
        self._recurrent = False
        self._vocab: Any = None
        self._batch: Any = None
        self._grammars: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._closed = False

    # ----------------------------------------------------------------------------- public API

    async def load(self) -> None:
        """Load the model now (in the worker thread) instead of on the first request."""
        await self._submit(self._ensure_loaded)

    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        """Complete the chat; with `choices`, the reply is exactly one of them.

        Constrained replies ignore `max_tokens` and `stop` (either could cut a choice short).
        Constrained greedy decoding is greedy token by token: for multi-token choices it need not
        pick the choice that `score` ranks first.
        """
        if sampling.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {sampling.max_tokens}")
        if choices is not None:
            choices = list(dict.fromkeys(choices))
            if not choices:
                raise ValueError("constrained generation needs at least one choice")
            bad = [c for c in choices if not c or "\x00" in c]
            if bad:
                raise ValueError(f"choices must be non-empty strings without NUL: {bad!r}")
        seed = sampling.seed if sampling.seed is not None else self._rng.randrange(_RANDOM_SEED)
        emit = loop_emitter(on_text)
        cancel = threading.Event()
        t0 = time.perf_counter()
        try:
            gen = await self._submit(
                self._generate_sync, messages, sampling, seed, choices, emit, cancel
            )
        except asyncio.CancelledError:
            cancel.set()  # the worker stops at its next token
            raise
        gen.latency_s = time.perf_counter() - t0
        return gen

    async def score(self, messages: list[Message], candidates: list[str]) -> list[float]:
        """Sum of the natural-log probabilities of each candidate's tokens after the prompt."""
        if not candidates:
            return []
        return await self._submit(self._score_sync, messages, list(candidates))

    async def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The token ids `generate` and `score` feed the model for these messages."""
        return await self._submit(lambda: self._render_checked(messages)[0])

    def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` (no special tokens). Loads the model if needed, which blocks:
        `await load()` first when calling from the event loop."""
        if self._closed:
            return None
        if self._llama is None:
            try:
                with self._lock:
                    self._ensure_loaded()
            except BackendError:
                return None
        # Tokenizing only reads the vocabulary, so it need not queue behind a generation.
        return len(tokenize(self._llama, text, special=False))

    async def aclose(self) -> None:
        """Free the model and stop the worker thread. Later calls raise BackendUnavailable."""
        if self._closed:
            return

        def close() -> None:
            self._closed = True
            if self._llama is not None:
                import llama_cpp

                llama_cpp.llama_batch_free(self._batch)
                self._llama.close()
                self._llama = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._locked(close))
        self._executor.shutdown(wait=False)

    def describe(self) -> str:
        template = self.chat_format or "gguf template"
        return (
            f"llamacpp {self.path.name} ({template}, n_ctx={self.n_ctx}, threads={self.n_threads})"
        )

    # ----------------------------------------------------------------------- worker plumbing

    def _locked(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        def run() -> T:
            with self._lock:
                return fn(*args)

        return run

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise BackendUnavailable(f"the llama.cpp backend for {self.path.name} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self._locked(self._guarded, fn, *args)
            )
        except RuntimeError as exc:  # the executor was shut down under us
            if isinstance(exc, BackendError):
                raise
            raise BackendUnavailable(f"llama.cpp backend unusable: {exc}") from exc

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in the worker; any failure inside llama.cpp becomes BackendUnavailable."""
        if self._closed:
            raise BackendUnavailable(f"the llama.cpp backend for {self.path.name} is closed")
        try:
            return fn(*args)
        except BackendError:
            raise
        except Exception as exc:
            if self._llama is not None:
                self._llama.reset()  # the KV cache may be half-written: re-evaluate next time
            raise BackendUnavailable(
                f"llama.cpp failed on {self.path.name}: {type(exc).__name__}: {exc}"
            ) from exc

    def _ensure_loaded(self) -> Any:
        if self._llama is not None:
            return self._llama
        if self._load_error is not None:
            raise self._load_error
        try:
            llama = self._load()
        except BackendError as exc:
            self._load_error = BackendUnavailable(str(exc))
            raise self._load_error from exc
        except Exception as exc:
            self._load_error = BackendUnavailable(
                f"could not load GGUF model {self.path}: {type(exc).__name__}: {exc}"
            )
            raise self._load_error from exc
        self._llama = llama
        return llama

    def _load(self) -> Any:
        import llama_cpp
        from llama_cpp import llama_chat_format

        from arena.backends.llamacpp_load import load_llama, probe

        if self.probe:
            probe(self.path, repack=self.repack)
        llama = load_llama(
            self.path,
            repack=self.repack,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            seed=self.seed,
            chat_format=self.chat_format,
            verbose=self.verbose,
        )
        if self.chat_format is None:
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                llama.close()
                raise BackendUnavailable(
                    f"{self.path} has no chat template (tokenizer.chat_template); "
                    "give the backend a chat_format"
                )
            self._render = jinja_renderer(llama, template)
        else:
            try:
                handler = llama_chat_format.get_chat_completion_handler(self.chat_format)
            except Exception as exc:
                llama.close()
                raise BackendUnavailable(f"unknown chat format {self.chat_format!r}") from exc
            self._render = handler_renderer(llama, handler)
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._recurrent = bool(
            llama_cpp.llama_model_is_recurrent(llama.model)
            or llama_cpp.llama_model_is_hybrid(llama.model)
        )
        # One batch for scoring, reused: allocating one costs as much as a small decode.
        self._batch = llama_cpp.llama_batch_init(llama.n_batch, 0, 1)
        return llama

    def _render_checked(self, messages: list[Message]) -> tuple[list[int], list[str]]:
        self._ensure_loaded()
        assert self._render is not None
        head, written = split_continuation(messages)
        try:
            ids, stop = self._render(head)
            if written:
                ids = ids + tokenize(self._llama, written, special=False)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"the chat template rejected the messages: {exc}") from exc
        if len(ids) >= self.n_ctx:
            raise BackendError(f"the prompt has {len(ids)} tokens; the context holds {self.n_ctx}")
        return ids, [s for s in stop if s]

    def _grammar(self, choices: list[str]) -> Any:
        from llama_cpp import LlamaGrammar

        key = tuple(choices)
        grammar = self._grammars.get(key)
        if grammar is None:
            llama = self._llama
            for choice in choices:
                # A choice the vocabulary cannot spell would leave the grammar sampler with no
                # token to pick, which aborts llama.cpp: refuse it here instead.
                ids = tokenize(llama, choice, special=False)
                if llama.detokenize(ids).decode("utf-8", errors="replace") != choice:
                    raise BackendError(f"the model's vocabulary cannot spell the choice {choice!r}")
            grammar = LlamaGrammar.from_string(choices_grammar(choices), verbose=False)
            self._grammars[key] = grammar
            if len(self._grammars) > _GRAMMAR_CACHE_SIZE:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(key)
        return grammar

    # ------------------------------------------------------------------------------ generate

    def _piece(self, token: int) -> bytes | None:
        """The bytes a sampled token adds to the reply; None when it ends the generation."""
        try:
            return self._pieces[token]
        except KeyError:
            import llama_cpp

            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                piece = None
            else:
                piece = self._llama.detokenize([token])
            self._pieces[token] = piece
            return piece

    def _generate_sync(
        self,
        messages: list[Message],
        sampling: Sampling,
        seed: int,
        choices: list[str] | None,
        emit: Callable[[str], None] | None,
        cancel: threading.Event,
    ) -> Generation:
        t0 = time.perf_counter()
        prompt, format_stops = self._render_checked(messages)
        llama = self._llama
        if choices is not None:
            grammar = self._grammar(choices)
            # Every token spells at least one byte, so this always leaves room for a whole choice.
            limit = max(len(c.encode("utf-8")) for c in choices) + 1
            stops: list[str] = []
        else:
            grammar = None
            limit = sampling.max_tokens
            stops = [s for s in (*sampling.stop, *format_stops) if s]
        limit = min(limit, self.n_ctx - len(prompt))
        llama.set_seed(seed % _RANDOM_SEED)
        tokens = llama.generate(
            prompt,
            top_k=max(sampling.top_k, 0),
            top_p=sampling.top_p,
            min_p=0.0,
            typical_p=1.0,
            temp=max(sampling.temperature, 0.0),
            repeat_penalty=1.0,
            grammar=grammar,
        )
        stream = TextStream(stops, emit)
        ids: list[int] = []
        finish, ended_by = "length", "max_tokens"
        try:
            for token in tokens:
                if cancel.is_set():
                    finish = ended_by = "cancelled"
                    break
                piece = self._piece(token)
                if piece is None:
                    finish, ended_by = "stop", "eog"
                    break
                ids.append(token)
                if stream.feed(piece):
                    finish, ended_by = "stop", "stop_string"
                    break
                if len(ids) >= limit:
                    break
        finally:
            tokens.close()
        text = stream.finish()
        if choices is not None and text not in choices:
            raise BackendError(f"constrained generation produced {text!r}, not one of the choices")
        return Generation(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            finish_reason=finish,
            token_ids=ids,
            meta={"seed": seed, "ended_by": ended_by, "compute_s": time.perf_counter() - t0},
        )

    # --------------------------------------------------------------------------------- score

    def _score_sync(self, messages: list[Message], candidates: list[str]) -> list[float]:
        prompt, _ = self._render_checked(messages)
        llama = self._llama
        cand_ids = [tokenize(llama, c, special=False) for c in candidates]
        longest = max(len(ids) for ids in cand_ids)
        if len(prompt) + longest > self.n_ctx:
            raise BackendError(
                f"prompt ({len(prompt)} tokens) plus a candidate ({longest}) exceed n_ctx={self.n_ctx}"
            )
        return score_candidates(llama, self._batch, prompt, cand_ids, recurrent=self._recurrent)
