"""The vocabulary and chat template of the GGUF a llama.cpp server serves, read locally.

The OpenAI backend scores candidates through a llama.cpp server's `/completions` endpoint; to do
that exactly it must know which tokens the server sees, so it loads the same GGUF here
(vocabulary only, no weights) and renders and tokenizes prompts as the server would.
"""

from __future__ import annotations

from pathlib import Path

from arena.backends.base import BackendError, BackendUnavailable, Message


class ServedVocab:
    """The served GGUF's chat template and tokenizer, loaded locally (vocabulary only), to
    render the exact prompt llama.cpp's server builds and predict how it tokenizes text."""

    def __init__(self, path: Path) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            self._llama = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        except Exception as exc:
            raise BackendUnavailable(f"cannot read the vocabulary of {path}: {exc}") from exc
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            self.close()
            raise BackendError(f"{path} has no chat template; the openai backend cannot score")
        bos_id, eos_id = self._llama.token_bos(), self._llama.token_eos()
        self._bos_id = bos_id
        self._bos = self._special_text(bos_id)
        self._add_bos = bool(self._llama._model.add_bos_token()) and bos_id >= 0
        self._format = Jinja2ChatFormatter(
            template=template, eos_token=self._special_text(eos_id), bos_token=self._bos
        )

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    def render(self, messages: list[Message]) -> tuple[str, list[int]]:
        """(the prompt text to send to /completions, the token ids the chat endpoint uses)."""
        text = self._format(messages=[dict(m) for m in messages]).prompt
        ids = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        # /completions adds BOS itself when the model asks for one: drop the template's.
        if self._add_bos and self._bos and text.startswith(self._bos):
            text = text[len(self._bos) :]
        if self.server_ids(text) != ids:
            raise BackendError(
                "the server's /completions endpoint would not see the chat prompt's tokens "
                "(the model adds a BOS its chat template leaves out)"
            )
        return text, ids

    def server_ids(self, text: str) -> list[int]:
        """The tokens llama-cpp-python's /completions makes of a text prompt."""
        ids = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return [self._bos_id, *ids] if self._add_bos else ids

    def tokenize(self, text: str) -> list[int]:
        """A candidate's tokens on its own: no BOS, special-token text not parsed."""
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, ids: list[int]) -> str:
        return self._llama.detokenize(ids).decode("utf-8", errors="strict")

    def piece(self, token: int) -> str:
        """The text llama-cpp-python reports for a generated `token` in its logprobs."""
        return self._llama.detokenize([token], prev_tokens=[]).decode("utf-8", errors="ignore")

    def close(self) -> None:
        self._llama.close()
