"""Chat messages and text to llama.cpp token ids, for the in-process llama.cpp backend.

A renderer turns messages into (prompt token ids, stop strings) with the assistant turn opened,
either from the chat template stored in the GGUF or from a named llama-cpp-python chat format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arena.backends.base import BackendError, Message

Renderer = Callable[[list[Message]], tuple[list[int], list[str]]]


def tokenize(llama: Any, text: str, *, special: bool) -> list[int]:
    """`text`'s token ids, no BOS added. (llama-cpp-python's `tokenize` allocates a buffer as
    long as the model's training context, up to 128k tokens, on every call.)"""
    import llama_cpp

    data = text.encode("utf-8")
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    size = len(data) + 8
    for _ in range(2):
        buf = (llama_cpp.llama_token * size)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, size, False, special)
        if n >= 0:
            return list(buf[:n])
        size = -n
    raise RuntimeError(f"llama_tokenize failed on {len(data)} bytes")


def jinja_renderer(llama: Any, template: str) -> Renderer:
    """A renderer for a Jinja chat template (the GGUF's `tokenizer.chat_template`)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        if token < 0:
            return ""
        return llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=text(llama.token_eos()),
        bos_token=text(llama.token_bos()),
        add_generation_prompt=True,
    )

    def render(messages: list[Message]) -> tuple[list[int], list[str]]:
        result = formatter(messages=[dict(m) for m in messages])
        # As in transformers: the template writes the special tokens itself.
        ids = tokenize(llama, result.prompt, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop or ""]
        return ids, stop

    return render


def handler_renderer(llama: Any, handler: Any) -> Renderer:
    """A renderer for a llama-cpp-python chat completion handler (a named chat format)."""
    capture = _CapturingLlama(llama)

    def render(messages: list[Message]) -> tuple[list[int], list[str]]:
        try:
            handler(llama=capture, messages=[dict(m) for m in messages])
        except _PromptCaptured as got:
            return got.prompt, got.stop
        raise BackendError("the chat format produced no prompt")

    return render


class _PromptCaptured(Exception):
    """Raised by `_CapturingLlama` to stop a chat handler once it has built its prompt."""

    def __init__(self, prompt: list[int], stop: list[str]):
        super().__init__("prompt captured")
        self.prompt = prompt
        self.stop = stop


class _CapturingLlama:
    """Stands in for `Llama` when a named chat format renders a prompt.

    llama-cpp-python keeps its named formats behind chat handlers that tokenize the prompt and
    then call `llama.create_completion`; intercepting that call gives the exact prompt ids and
    stop strings the library itself would use, without generating anything.
    """

    def __init__(self, llama: Any):
        self._llama = llama

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, *, prompt: Any, stop: Any = None, **_: Any) -> Any:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if isinstance(prompt, str):
            prompt = self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        raise _PromptCaptured(list(prompt), stops)
