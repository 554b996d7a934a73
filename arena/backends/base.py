"""The backend contract: generate chat completions; optionally score candidate replies.

A backend turns chat messages into text. It may also *score* a list of candidate replies (the
log-probability of each candidate's tokens after the prompt), which gives exact action
probabilities and constrained play, and it may *constrain* generation to one of a list of
strings (a GBNF grammar in llama.cpp, a trie of allowed tokens in transformers).

Infrastructure failures (timeouts, connection errors, HTTP 429/5xx after retries, a crashed
model) raise `BackendError`. They are never turned into game moves: the match loop ends the
match with status `error`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict


class Message(TypedDict):
    """One chat message, as OpenAI's API has it."""

    role: str  # "system" | "user" | "assistant"
    content: str


class BackendError(RuntimeError):
    """An infrastructure failure: the model could not be asked. Never a game move."""


class BackendTimeout(BackendError):
    """The backend did not answer within its request timeout."""


class BackendUnavailable(BackendError):
    """The endpoint or model cannot be reached or loaded (connection refused, crashed, 5xx)."""


class BackendBadReply(BackendError):
    """The endpoint answered, but not with a usable reply: a body that is not JSON or not a
    completion, an error inside a 200, no choices or no message, a reply over the size cap."""


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. `temperature == 0` means greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k cut (backends that lack it ignore it)
    max_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def with_seed(self, seed: int | None) -> Sampling:
        return Sampling(self.temperature, self.top_p, self.top_k, self.max_tokens, seed, self.stop)


@dataclass
class Generation:
    """One completion and what it cost."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None  # "stop" | "length" | ...
    latency_s: float = 0.0
    cost_usd: float | None = None
    token_ids: list[int] | None = None  # the sampled ids, when the backend knows them
    meta: dict[str, Any] = field(default_factory=dict)


# Called with each piece of text as it streams in (for a live view). Must not block.
OnText = Callable[[str], None]


class Backend(ABC):
    """A model that answers chat messages.

    Implementations must be safe to share between concurrent matches on one event loop:
    serialise access to a single local model, batch it, or rely on the server.
    """

    #: a short identifier, e.g. "llamacpp"
    kind: str = "backend"
    #: `score()` is implemented
    can_score: bool = False
    #: `generate(..., choices=[...])` restricts the reply to one of the choices
    can_constrain: bool = False
    #: a trailing assistant message is continued (prefilled), not closed: see
    #: `split_continuation`
    can_continue: bool = False

    @abstractmethod
    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        """Complete the chat. With `choices`, the reply is exactly one of them
        (only when `can_constrain`; otherwise `NotImplementedError`)."""

    async def score(self, messages: list[Message], candidates: list[str]) -> list[float]:
        """Log-probability of each candidate as the assistant's whole reply (natural log, sum
        over the candidate's tokens). Only when `can_score`."""
        raise NotImplementedError(f"the {self.kind} backend cannot score candidates")

    def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` by this model's tokenizer, when known."""
        return None

    async def aclose(self) -> None:
        """Release the model, the HTTP client or the worker thread."""

    def describe(self) -> str:
        """One line for logs and the UI (never includes secrets)."""
        return self.kind


def split_continuation(messages: list[Message]) -> tuple[list[Message], str]:
    """(the messages to render with the assistant turn opened, the text the assistant has
    already written). A trailing assistant message is a reply in progress, continued by
    `generate` and `score` on backends that `can_continue` (reason, then a constrained answer).
    """
    if messages and messages[-1].get("role") == "assistant":
        content = messages[-1].get("content")
        return messages[:-1], content if isinstance(content, str) else ""
    return messages, ""
