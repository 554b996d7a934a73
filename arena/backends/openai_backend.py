"""An OpenAI-compatible backend: any server that speaks `/v1/chat/completions`.

Requests go through the `openai` package with its own retries turned off; this module retries
429, 408, 5xx, connection errors and timeouts itself (exponential backoff with full jitter,
`Retry-After` honoured up to a cap) and then raises `BackendTimeout` or `BackendUnavailable`
naming the endpoint, the status and the number of attempts. Other 4xx answers are not retried:
`BackendError` with the server's message. The API key is read from an environment variable at
each request and never appears in a message, a `repr` or `describe()`.

A server that trickles, hangs, lies or dies ends in a `BackendError`, never in a hang or a
move (the match then ends with status `error`):
- Deadlines, wall clock: one attempt (connect, request, the whole body or stream) gets
  `timeout_s` (default 120 s); all attempts of one request, with the waits between them, get
  `total_timeout_s` (default 3 x `timeout_s`). A read timeout alone never trips on a server
  that sends one byte a second; these do. Waiting for the endpoint's concurrency gate does not
  count: that is our own queue, not the server's slowness.
- Size: a reply body (or one event of a stream, or the text a stream has delivered) is never
  read past `max_body_bytes` (default 1 MiB): a longer one is abandoned where the cap is
  reached (a `Content-Length` over the cap is refused before a byte is read) and raises
  `BackendBadReply`, not retried (the match stores an error, not megabytes). Replies are
  requested uncompressed (`Accept-Encoding: identity`) and a compressed one is refused, so the
  count is the size in memory (no gzip bomb).
- Retries: at most `max_retries` after the first attempt, only on 408, 429, 5xx, connection
  errors and timeouts, and never past `total_timeout_s` (a backoff or `Retry-After` that would
  end past it gives up at once).
- Lying servers (`BackendBadReply`, not retried, with the status and a short sanitised excerpt
  of the body): a body that is not JSON (whatever its content type), a 200 carrying
  `{"error": ...}`, no `choices`, no `message`, a `null` content that is no model outcome (one
  is: `finish_reason` "length" or "content_filter", a refusal, or reasoning only), a stream
  event that is not a chunk. A stream that ends with neither `[DONE]` nor a `finish_reason` was
  cut: `BackendUnavailable`, retried, like a connection closed mid-body.

All backends that talk to one base URL share one concurrency limit (per event loop).

llama.cpp servers (`python -m llama_cpp.server`) understand more than OpenAI's API, and two
switches use it:
- `grammar=True`: `generate(..., choices=...)` sends a GBNF grammar whose only sentences are the
  choices. It also turns on `llama_sampling` (send `top_k`, `min_p=0`, `repeat_penalty=1`), so
  that decoding matches the other backends: llama_cpp.server's defaults (min_p 0.05, repeat
  penalty 1.1) would change even greedy output.
- `gguf_path` (a local copy of the served GGUF): enables `score()`; `OpenAIBackend.score` says
  how, `ServedVocab` reads the file.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from arena.backends.base import (
    Backend,
    BackendBadReply,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Generation,
    Message,
    OnText,
    Sampling,
)
from arena.backends.endpoint_gate import endpoint_gate, endpoint_key, want_concurrency
from arena.backends.grammar import choices_grammar
from arena.backends.http_retry import BadReply, Failure, classify
from arena.backends.openai_wire import (
    DEFAULT_MAX_BODY_BYTES,
    METER,
    ReplyTooLarge,
    StreamCut,
    capping_hook,
    completion_from,
    delta_of,
    excerpt,
    field_of,
    json_body,
    size_text,
    stream_events,
    token_count,
)
from arena.backends.served_vocab import ServedVocab
from arena.safe_text import one_line
from arena.secrets import redact_url

T = TypeVar("T")

# Sent when no key is needed (a local server); the openai client refuses an empty one.
NO_KEY = "sk-no-key-required"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
# A logit bias that makes the forced token the greedy choice (logits of real models stay far
# below it); llama.cpp reports log-probabilities from the unbiased logits.
_FORCE_BIAS = 100.0
DEFAULT_TIMEOUT_S = 120.0  # one attempt, wall clock


class OpenAIBackend(Backend):
    """A model behind an OpenAI-compatible HTTP endpoint.

    - `base_url` (e.g. `http://127.0.0.1:8000/v1`), `model`: the endpoint and model name.
    - `api_key_env`: the NAME of the environment variable that holds the key, read at each
      request. `None` sends no real key. A missing variable is an error, except for a server on
      this machine (loopback), which gets no key.
    - `timeout_s`: the wall-clock deadline of one attempt, from connecting to the last byte of
      the reply (a server trickling one byte a second trips it). `max_retries`: attempts after
      the first one on retryable failures. `total_timeout_s`: the deadline of all attempts of
      one request and the waits between them (default 3 x `timeout_s`).
    - `max_body_bytes`: the most of one reply ever read (body, stream event, streamed text).
    - `concurrency`: requests in flight to `base_url` from all backends of the event loop.
    - `price_input_per_mtok`, `price_output_per_mtok`: USD per million tokens, for `cost_usd`.
    - `extra_body`: fields added to every request body (server-specific options).
    - `grammar`: the server takes GBNF grammars (llama.cpp): enables constrained generation.
    - `llama_sampling`: send llama.cpp's sampling fields (default: same as `grammar`).
    - `gguf_path`: the served GGUF file, for its chat template and vocabulary: enables `score()`.
    - `backoff_base_s`, `backoff_max_s`, `retry_after_max_s`: the retry schedule.
    """

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 3,
        total_timeout_s: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        concurrency: int = 4,
        price_input_per_mtok: float | None = None,
        price_output_per_mtok: float | None = None,
        extra_body: dict[str, Any] | None = None,
        grammar: bool = False,
        llama_sampling: bool | None = None,
        gguf_path: str | Path | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, got {redact_url(base_url)!r}"
            )
        total = 3 * timeout_s if total_timeout_s is None else total_timeout_s
        if timeout_s <= 0 or total <= 0 or max_retries < 0 or concurrency < 1:
            raise ValueError(
                f"bad settings: timeout_s={timeout_s}, total_timeout_s={total_timeout_s}, "
                f"max_retries={max_retries}, concurrency={concurrency}"
            )
        if max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {max_body_bytes}")
        self.base_url = endpoint_key(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.total_timeout_s = float(total)
        self.max_body_bytes = int(max_body_bytes)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self.price_input_per_mtok = price_input_per_mtok
        self.price_output_per_mtok = price_output_per_mtok
        self.extra_body = dict(extra_body or {})
        self.grammar = grammar
        self.llama_sampling = grammar if llama_sampling is None else llama_sampling
        self.gguf_path = Path(gguf_path).expanduser() if gguf_path is not None else None
        if self.gguf_path is not None and not self.gguf_path.is_file():
            raise ValueError(f"gguf_path {str(self.gguf_path)!r} is not a file")
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        want_concurrency(base_url, self.concurrency)
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._client_key = ""
        self._stream_usage = True  # ask for usage in streams until a server refuses
        self._vocab: ServedVocab | None = None
        self._vocab_lock: asyncio.Lock | None = None
        self._random = random.Random()

    # ------------------------------------------------------------------------ capabilities

    @property
    def can_constrain(self) -> bool:  # type: ignore[override]
        return self.grammar

    @property
    def can_score(self) -> bool:  # type: ignore[override]
        return self.gguf_path is not None

    def describe(self) -> str:
        extras = [name for name, on in (("grammar", self.grammar), ("score", self.can_score)) if on]
        tail = f" [{', '.join(extras)}]" if extras else ""
        return one_line(f"openai {self.model} @ {redact_url(self.base_url)}{tail}")

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(base_url={redact_url(self.base_url)!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    def count_tokens(self, text: str) -> int | None:
        """Exact when the vocabulary is loaded (`gguf_path`, after the first `score`)."""
        if self._vocab is None:
            return None
        return len(self._vocab.tokenize(text))

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.close()
        vocab, self._vocab = self._vocab, None
        self._vocab_lock = None  # bound to this loop; a later one makes its own
        if vocab is not None:
            vocab.close()

    # ---------------------------------------------------------------------------- generate

    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        if choices is not None:
            if not self.grammar:
                raise NotImplementedError(
                    "constrained generation needs a server that takes GBNF grammars: "
                    "give the openai backend grammar=True (llama.cpp servers)"
                )
            if not choices:
                raise ValueError("choices is empty")
            if self.gguf_path is not None:
                await self._check_spellable(choices)
        body = self._chat_body(messages, sampling, choices)
        started = time.perf_counter()
        if on_text is None:
            gen, attempts = await self._call("/chat/completions", lambda c: self._chat(c, body))
        else:
            gen, attempts = await self._call(
                "/chat/completions", lambda c: self._chat_stream(c, body, on_text)
            )
        gen.latency_s = time.perf_counter() - started
        gen.cost_usd = self._cost(gen.prompt_tokens, gen.completion_tokens)
        gen.meta.update(attempts=attempts, endpoint=redact_url(self.base_url))
        if choices is not None and gen.text not in choices:
            raise BackendError(
                f"{self._where('/chat/completions')}: constrained generation returned "
                f"{gen.text[:80]!r}, not one of the choices (does the server apply `grammar`?)"
            )
        return gen

    async def _check_spellable(self, choices: list[str]) -> None:
        # A grammar the vocabulary cannot complete aborts llama.cpp, server and all: refuse
        # such a choice here when the vocabulary is known.
        vocab = await self._load_vocab()
        for choice in choices:
            try:
                spelled = vocab.detokenize(vocab.tokenize(choice))
            except UnicodeDecodeError:
                spelled = None
            if spelled != choice:
                raise BackendError(f"the model's vocabulary cannot spell the choice {choice!r}")

    def _chat_body(
        self, messages: list[Message], sampling: Sampling, choices: list[str] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": max(sampling.temperature, 0.0),
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        extra: dict[str, Any] = {}
        if self.llama_sampling:
            # top_k <= 0 means "no cut" to llama.cpp as to us.
            extra.update(top_k=max(sampling.top_k, 0), min_p=0.0, repeat_penalty=1.0)
        if choices is not None:
            extra["grammar"] = choices_grammar(choices)
            # The grammar ends the reply; every token spells at least one byte.
            body["max_tokens"] = max(len(c.encode("utf-8")) for c in choices) + 1
        elif sampling.stop:
            body["stop"] = list(sampling.stop)
        extra.update(self.extra_body)
        if extra:
            body["extra_body"] = extra
        return body

    async def _chat(self, client: Any, body: dict[str, Any]) -> Generation:
        # The raw response, read by us: the client's own parsing accepts a text/html page or
        # a body without choices as "a completion" and fails later with an AttributeError.
        raw = await client.chat.completions.with_raw_response.create(**body)
        return completion_from(json_body(raw.http_response))

    async def _chat_stream(self, client: Any, body: dict[str, Any], on_text: OnText) -> Generation:
        from openai import BadRequestError

        streamed = dict(body, stream=True)
        if self._stream_usage:
            streamed["stream_options"] = {"include_usage": True}
        try:
            stream = await client.chat.completions.create(**streamed)
        except BadRequestError as exc:
            if not self._stream_usage or "stream" not in str(exc).lower():
                raise
            # Some servers refuse stream_options: ask once more without it, and remember.
            self._stream_usage = False
            del streamed["stream_options"]
            stream = await client.chat.completions.create(**streamed)
        pieces: list[str] = []
        thoughts: list[str] = []
        finish: str | None = None
        usage: Any = None
        size = 0
        async with stream:
            async for chunk in stream_events(stream):
                usage = getattr(chunk, "usage", None) or usage
                text, thought, ended = delta_of(chunk)
                finish = ended or finish
                size += len(text.encode()) + len((thought or "").encode())
                if size > self.max_body_bytes:
                    raise ReplyTooLarge(
                        f"the streamed reply passed {size_text(self.max_body_bytes)}; reading stopped"
                    )
                if text:
                    pieces.append(text)
                    on_text(text)
                if thought:
                    thoughts.append(thought)
            meter = stream.response.extensions.get(METER)
        if finish is None and not (meter is not None and meter.done):
            got = size_text(meter.total) if meter is not None else "some bytes"
            raise StreamCut(
                f"the stream ended after {got} with neither [DONE] nor a finish_reason: "
                "the reply was cut"
            )
        gen = Generation(
            text="".join(pieces),
            prompt_tokens=token_count(field_of(usage, "prompt_tokens")),
            completion_tokens=token_count(field_of(usage, "completion_tokens")),
            finish_reason=finish,
        )
        if thoughts:
            gen.meta["reasoning"] = "".join(thoughts)
        return gen

    def _cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        if self.price_input_per_mtok is None and self.price_output_per_mtok is None:
            return None
        if prompt_tokens is None or completion_tokens is None:
            return None
        return (
            prompt_tokens * (self.price_input_per_mtok or 0.0)
            + completion_tokens * (self.price_output_per_mtok or 0.0)
        ) / 1e6

    # ------------------------------------------------------------------------------- score

    async def score(self, messages: list[Message], candidates: list[str]) -> list[float]:
        """Sum of log-probabilities of each candidate's tokens after the rendered prompt.

        Method (llama.cpp servers): the prompt is rendered locally with the GGUF's chat template
        (as the server does with `--chat_format chat_template.default`, its default for a GGUF
        with a template) and tokenized with its vocabulary. For each token t_k of a candidate,
        one `/completions` request sends the prompt plus t_1..t_(k-1) as text, with
        `max_tokens=1`, `logprobs` and a logit bias that forces t_k; llama.cpp reports the
        log-probability of t_k from the unbiased logits. The sum over k is the score. Each
        request's tokenization is checked locally against prompt + t_1..t_(k-1), so a candidate
        that would merge with the prompt's last token is refused, not mis-scored.
        (`echo=True` would take one request per candidate, but llama-cpp-python pairs echoed
        tokens with the wrong logits when a prompt does not start with BOS, and sorts the whole
        vocabulary for every prompt token.)
        """
        if not self.can_score:
            raise NotImplementedError(
                "the openai backend scores only with gguf_path (a llama.cpp server's GGUF file)"
            )
        vocab = await self._load_vocab()
        try:
            prompt_text, prompt_ids = vocab.render(messages)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"the chat template rejected the messages: {exc}") from exc
        unique = list(dict.fromkeys(candidates))
        steps: list[tuple[str, str, int, int]] = []  # (candidate, text sent, forced token, n)
        for cand in unique:
            ids = vocab.tokenize(cand)
            for k, token in enumerate(ids):
                try:
                    text = prompt_text + vocab.detokenize(ids[:k])
                except UnicodeDecodeError:
                    text = ""  # the prefix ends inside a character: cannot go as text
                expected = prompt_ids + ids[:k]
                if not text or vocab.server_ids(text) != expected:
                    raise BackendError(
                        f"cannot score {cand!r} exactly: its first {k} tokens after the prompt "
                        "do not survive a round trip through text"
                    )
                steps.append((cand, text, token, len(expected)))

        async def one(text: str, token: int, n_prompt: int) -> float:
            piece = vocab.piece(token)
            logp, _ = await self._call(
                "/completions", lambda c: self._forced_logprob(c, text, token, piece, n_prompt)
            )
            return logp

        logps = await asyncio.gather(*(one(text, tok, n) for _, text, tok, n in steps))
        totals = dict.fromkeys(unique, 0.0)
        for (cand, *_), logp in zip(steps, logps):
            totals[cand] += logp
        return [totals[c] for c in candidates]

    async def _forced_logprob(
        self, client: Any, text: str, token: int, piece: str, n_prompt: int
    ) -> float:
        resp = await client.completions.create(
            model=self.model,
            prompt=text,
            max_tokens=1,
            temperature=0.0,
            logprobs=1,
            logit_bias={str(token): _FORCE_BIAS},
            extra_body=self.extra_body or None,
        )
        if not hasattr(resp, "choices"):
            raise BadReply(f"the reply is not a completion: {one_line(resp, 120)}")
        if not resp.choices or resp.choices[0].logprobs is None:
            raise BadReply("the completion has no logprobs (does the server support them?)")
        lp = resp.choices[0].logprobs
        if resp.usage is not None and resp.usage.prompt_tokens != n_prompt:
            raise BadReply(
                f"the server read {resp.usage.prompt_tokens} prompt tokens, expected "
                f"{n_prompt} (does it serve the GGUF given as gguf_path?)"
            )
        if not lp.tokens or lp.tokens[0] != piece or lp.token_logprobs[0] is None:
            got = lp.tokens[0] if lp.tokens else None
            raise BadReply(f"the server did not take the forced token {piece!r} (got {got!r})")
        return float(lp.token_logprobs[0])

    async def _load_vocab(self) -> ServedVocab:
        if self._vocab is None:
            if self._vocab_lock is None:
                self._vocab_lock = asyncio.Lock()
            async with self._vocab_lock:
                if self._vocab is None:
                    assert self.gguf_path is not None
                    self._vocab = await asyncio.to_thread(ServedVocab, self.gguf_path)
        return self._vocab

    # ---------------------------------------------------------------------------- requests

    def _api_key(self) -> str:
        if self.api_key_env is None:
            return NO_KEY
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if urlsplit(self.base_url).hostname in _LOOPBACK:
            return NO_KEY  # a local server usually wants none
        raise BackendError(
            f"the environment variable {self.api_key_env} is not set; it should hold the API key "
            f"for {redact_url(self.base_url)}"
        )

    def _openai_client(self, key: str) -> Any:
        """The client for this event loop and this key (remade when either changes: an HTTP
        client's connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client_key != key:
            from openai import AsyncOpenAI, DefaultAsyncHttpxClient

            http = DefaultAsyncHttpxClient(
                # Uncompressed, so that the bytes counted are the bytes held (no gzip bombs).
                headers={"Accept-Encoding": "identity"},
                event_hooks={"response": [capping_hook(self.max_body_bytes)]},
            )
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=key,
                # Per read; a backstop only: `_call`'s wall-clock deadline comes first.
                timeout=self.timeout_s + 1.0,
                max_retries=0,  # retries are ours
                http_client=http,
            )
            self._client_loop = loop
            self._client_key = key
        return self._client

    def _where(self, path: str) -> str:
        return f"{self.model} at {redact_url(self.base_url)}{path}"

    async def _call(self, path: str, attempt: Callable[[Any], Awaitable[T]]) -> tuple[T, int]:
        """Run `attempt(client)` with the endpoint's concurrency limit, a wall-clock deadline
        per attempt and for all of them, and our retry policy; return its result and the
        number of attempts it took."""
        key = self._api_key()
        client = self._openai_client(key)
        gate = endpoint_gate(self.base_url)
        tries = self.max_retries + 1
        budget = self.total_timeout_s
        spent = 0.0  # in attempts and backoff, not in the gate's queue
        gave_up = ""
        n = 0
        while True:
            n += 1
            limit = min(self.timeout_s, budget - spent)
            async with gate:
                started = time.monotonic()
                try:
                    return await _within(limit, attempt(client)), n
                except _DeadlinePassed:
                    failure = Failure(
                        "timeout", f"timed out: no complete reply within {limit:.3g} s", retry=True
                    )
                    if limit < self.timeout_s:
                        gave_up = f"; the request's budget of {budget:g} s is spent"
                except Exception as exc:
                    failure = _classify(exc)
                finally:
                    spent += time.monotonic() - started
            if gave_up or not failure.retry or n >= tries:
                break
            wait = self._backoff(n, failure.retry_after)
            if spent + wait >= budget:
                gave_up = f"; retrying would pass the request's budget of {budget:g} s"
                break
            await asyncio.sleep(wait)
            spent += wait
        attempts = f"{n} attempt" + ("s" if n != 1 else "")
        text = _scrub(f"{self._where(path)}: {failure.detail} ({attempts}{gave_up})", key)
        message = one_line(text, 600)  # server text may hold escape sequences
        if failure.kind == "timeout":
            raise BackendTimeout(message)
        if failure.kind == "unavailable":
            raise BackendUnavailable(message)
        if failure.kind == "bad_reply":
            raise BackendBadReply(message)
        raise BackendError(message)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max_s)
        # Full jitter under a cap that doubles per retry (base, 2 base, 4 base, ... max):
        # clients that failed together do not come back together.
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._random.uniform(0, cap)


def _scrub(text: str, key: str) -> str:
    """`text` with the API key, should a server have echoed it, blanked out."""
    if key and key != NO_KEY and len(key) >= 4:
        text = text.replace(key, "[api key]")
    return text


class _DeadlinePassed(Exception):
    pass


async def _within(seconds: float, work: Awaitable[T]) -> T:
    """`await work`, abandoned (cancelled) after `seconds` of wall clock: `_DeadlinePassed`.
    (Not `asyncio.wait_for`: a timeout raised inside `work` must stay apart from ours.)"""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(seconds, 0.0))
    except BaseException:  # we are cancelled: so is the request
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task})  # let it close its connection
        _retrieve(task)
        raise _DeadlinePassed()
    return task.result()


def _retrieve(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # read, so that asyncio does not log it as never retrieved


def _classify(exc: BaseException) -> Failure:
    """`classify`, knowing this module's own failures even when a library wrapped them."""
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in seen and len(seen) < 6:
        seen.append(cause)
        if isinstance(cause, BadReply):
            return Failure("bad_reply", f"bad reply: {cause}", retry=False)
        if isinstance(cause, StreamCut):
            return Failure("unavailable", str(cause), retry=True)
        cause = cause.__cause__ or cause.__context__
    failure = classify(exc)
    response = getattr(exc, "response", None)
    if getattr(exc, "status_code", None) and not isinstance(getattr(exc, "body", None), dict):
        # Not an OpenAI-style error (a proxy's HTML page, plain text): show its start.
        content = getattr(response, "content", b"")
        failure.detail = f"HTTP {exc.status_code}: {excerpt(content)}"  # type: ignore[attr-defined]
    if failure.kind == "error" and failure.detail.startswith("bad reply"):
        failure.kind = "bad_reply"  # a 200 that is no completion (an error event, bad JSON)
    return failure


# -------------------------------------------------------------------------- reply bodies
