"""Chat prompts as token ids for the transformers backend: rendered, cached, tokenized in groups.

A prompt is the tokenizer's chat template with the assistant turn opened, tokenized without
adding special tokens again (the template writes them). Rendering runs on the event loop's
thread as a request arrives; the rendered texts (and score candidates) of a group of requests
are tokenized in one call as the group leaves for the worker (`BatchWorker`'s `prepare`), with
the Rust tokenizer's batch call when it gives the same ids. Recently seen messages keep their
ids, so a position reached in several matches is not rendered and tokenized again.

`ChatPrompts` is a mixin of `TransformersBackend`, which provides the tokenizer.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from arena.backends.base import BackendError, BackendUnavailable, Message, split_continuation
from arena.backends.batching import Pending

# Rendered prompts remembered (the same position reached in several matches, the same first
# move of every match): rendering and tokenizing cost about as much as a tiny model's prefill.
_PROMPT_CACHE = 256


class ChatPrompts:
    """Prompt preparation for a backend holding a Hugging Face tokenizer in `_tokenizer`.

    The host calls `_init_prompts()` in its constructor and provides `model_ref`, `_closed`
    and `_ensure_tokenizer()` (which loads `_tokenizer`).
    """

    model_ref: str
    _closed: bool
    _tokenizer: Any
    _ensure_tokenizer: Callable[[], Any]

    def _init_prompts(self) -> None:
        """Set up the locks and the caches of rendered and tokenized prompts."""
        self._tok_lock = threading.Lock()  # the tokenizer is shared with count_tokens
        self._prompts: OrderedDict[Hashable, list[int]] = OrderedDict()  # messages -> ids
        self._rendered: dict[Hashable, str] = {}  # messages -> text not yet tokenized
        self._prompts_lock = threading.Lock()
        self._batch_encode: Any = None  # the tokenizer's own batch call, when equivalent
        self._batch_checked = False  # ... as checked once against `_encode`

    async def _prompt(self, messages: list[Message]) -> tuple[list[int] | None, str | None]:
        """The prompt's token ids when these messages were seen lately, else the rendered
        prompt: it is tokenized with the rest of its group as the group leaves for the
        worker (`_prepare`).

        Rendering and tokenizing cost about as much as a tiny model's prefill; done on the
        event loop's thread they overlap with the worker's torch calls (which release the
        GIL) instead of adding to every batch, and a group of prompts tokenizes in one call.
        """
        if self._closed:
            raise BackendUnavailable(f"the transformers backend for {self.model_ref} is closed")
        if self._tokenizer is None:
            await asyncio.to_thread(self._ensure_tokenizer)
        try:
            key: Hashable | None = tuple(tuple(sorted(m.items())) for m in messages)
            hash(key)
        except TypeError:  # (message parts that are not plain strings: no cache)
            key = None
        if key is not None:
            with self._prompts_lock:
                ids = self._prompts.get(key)
                if ids is not None:
                    self._prompts.move_to_end(key)
                    return ids, None
                text = self._rendered.get(key)  # (the same messages earlier in this turn)
                if text is not None:
                    return None, text
        try:
            text = self._template(messages)
        except Exception as exc:
            raise prompt_error(exc) from exc
        if key is not None:
            with self._prompts_lock:
                if len(self._rendered) > _PROMPT_CACHE:  # (groups that never left)
                    self._rendered.clear()
                self._rendered[key] = text
        return None, text

    def _prepare(self, group: list[Pending]) -> None:
        """Tokenize the rendered prompts and the candidates of a group of requests in one
        call, on the event loop's thread as the group leaves for the worker; remember the
        prompts. A request whose text fails to tokenize fails alone."""
        from arena.backends.torch_score import ScoreJob

        texts: dict[str, Any] = {}
        keys: dict[str, list[Hashable]] = {}
        with self._prompts_lock:
            for key, text in self._rendered.items():
                keys.setdefault(text, []).append(key)
        for pending in group:
            job = pending.job
            if job.prompt is None and job.text is not None:
                texts[job.text] = None
            if isinstance(job, ScoreJob) and job.candidate_ids is None:
                texts.update(dict.fromkeys(job.candidates))
        if not texts:
            return
        texts = dict(zip(texts, self._encode_many(list(texts))))
        for pending in group:
            job = pending.job
            needed = [job.text] if job.prompt is None and job.text is not None else []
            if isinstance(job, ScoreJob) and job.candidate_ids is None:
                needed += job.candidates
            failed = next((texts[t] for t in needed if isinstance(texts[t], Exception)), None)
            if failed is not None:
                pending.fail(prompt_error(failed))
                continue
            if job.prompt is None and job.text is not None:
                job.prompt = texts[job.text]
                with self._prompts_lock:
                    for key in keys.pop(job.text, ()):
                        self._rendered.pop(key, None)
                        self._prompts[key] = job.prompt
                    while len(self._prompts) > _PROMPT_CACHE:
                        self._prompts.popitem(last=False)
            if isinstance(job, ScoreJob) and job.candidate_ids is None:
                job.candidate_ids = [texts[c] for c in job.candidates]

    def _encode_many(self, texts: list[str]) -> list[Any]:
        """Each text's ids (as `_encode` gives them), or the exception it raised."""
        if self._batch_encode is None:
            self._batch_encode = _batch_encoder(self._tokenizer) or False
        if self._batch_encode and len(texts) > 1:
            ids = None
            try:
                with self._tok_lock:
                    ids = self._batch_encode(texts)
            except Exception:  # noqa: BLE001 - one by one below
                pass
            if ids is not None and not self._batch_checked:
                # Once, on real prompts: the batch call must agree with `_encode`.
                try:
                    self._batch_checked = ids == [self._encode(t) for t in texts]
                except Exception:  # noqa: BLE001 - then it cannot be trusted either
                    pass
                if not self._batch_checked:
                    self._batch_encode = False
                    ids = None
            if ids is not None:
                return ids
        out: list[Any] = []
        for text in texts:
            try:
                out.append(self._encode(text))
            except Exception as exc:  # noqa: BLE001 - this text's request fails alone
                out.append(exc)
        return out

    def _template(self, messages: list[Message]) -> str:
        # Rendering needs no lock (the compiled template is read only); encoding does.
        head, written = split_continuation(messages)
        text = self._tokenizer.apply_chat_template(
            [dict(m) for m in head], tokenize=False, add_generation_prompt=True
        )
        return text + written

    def _render(self, messages: list[Message]) -> list[int]:
        return self._encode(self._template(messages))

    def _encode(self, text: str) -> list[int]:
        with self._tok_lock:
            return list(self._tokenizer.encode(text, add_special_tokens=False))

    def _decode(self, ids: list[int]) -> str:
        with self._tok_lock:
            return self._tokenizer.decode(ids, skip_special_tokens=True)


def _batch_encoder(tokenizer: Any) -> Any:
    """The Rust tokenizer's own batch call (it spreads over threads and skips the Python
    wrapping of every result), when it gives what `tokenizer.encode(text,
    add_special_tokens=False)` gives: a plain fast tokenizer whose class changes nothing on
    the way. Else None."""
    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        return None
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        return None
    cls = type(tokenizer)
    for name in ("encode", "__call__", "tokenize", "_encode_plus", "_batch_encode_plus"):
        if getattr(cls, name, None) is not getattr(PreTrainedTokenizerFast, name, None):
            return None
    backend = tokenizer.backend_tokenizer
    if (
        getattr(tokenizer, "split_special_tokens", False)
        or getattr(backend, "encode_special_tokens", False)
        or backend.padding is not None
        or backend.truncation is not None
    ):
        return None
    call = getattr(backend, "encode_batch_fast", None) or backend.encode_batch
    return lambda texts: [list(e.ids) for e in call(texts, add_special_tokens=False)]


def prompt_error(exc: Exception) -> BackendError:
    """A failure to render or tokenize a request, as the request's own error."""
    return BackendError(f"could not prepare the prompt: {type(exc).__name__}: {exc}")
