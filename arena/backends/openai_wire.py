"""What comes over the wire from an OpenAI-compatible server, read defensively: a byte meter
that stops a body (or one stream event) at the size cap as it arrives, and strict parsing of a
chat completion into a `Generation` (a body that is not JSON, a 200 carrying an error, no
choices, no message, a null content that is no model outcome: `BadReply`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from arena.backends.base import (
    Generation,
)
from arena.backends.http_retry import BadReply
from arena.safe_text import one_line

_MIB = 1 << 20
DEFAULT_MAX_BODY_BYTES = _MIB
METER = "arena.meter"  # where a response's byte meter sits in its `extensions`
# A null content is the model's doing with these: it ran out of tokens (while reasoning), or
# its provider filtered it.
NO_CONTENT_FINISHES = ("length", "content_filter")


class ReplyTooLarge(BadReply):
    """The reply passed the backend's size cap; reading stopped there."""


class StreamCut(Exception):
    """The stream ended before the reply was complete (no `[DONE]`, no `finish_reason`)."""


async def stream_events(stream: Any) -> Any:
    """The chunks of an `openai` stream; an event that is not JSON is a `BadReply`."""
    try:
        async for chunk in stream:
            yield chunk
    except json.JSONDecodeError as exc:
        raise BadReply(f"a stream event is not JSON: {excerpt(exc.doc)}") from None


def delta_of(chunk: Any) -> tuple[str, str | None, str | None]:
    """(text, reasoning, finish_reason) of a stream chunk's first choice; `BadReply` for a
    chunk that is not one."""
    try:
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return "", None, None  # (the usage chunk at the end has none)
        choice = choices[0]
        if choice is None or isinstance(choice, (str, int, float, list)):
            raise TypeError(f"a choice is {one_line(repr(choice), 40)}")
        delta = field_of(choice, "delta")
        text = content_text(field_of(delta, "content")) if delta else ""
        thought = reasoning_of(delta) if delta else None
        finish = field_of(choice, "finish_reason")
    except (AttributeError, TypeError, KeyError) as exc:
        raise BadReply(f"a stream event is not a completion chunk ({exc})") from exc
    return text, thought, finish if isinstance(finish, str) else None


def size_text(n: int) -> str:
    if n >= _MIB:
        return f"{n / _MIB:.1f} MiB".replace(".0 MiB", " MiB")
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def excerpt(data: bytes | str, limit: int = 120) -> str:
    """The start of a body, on one line, every control character shown as an escape."""
    text = data if isinstance(data, str) else data[: limit * 4].decode("utf-8", "replace")
    return one_line(text.strip(), limit) or "(empty)"


class ByteMeter:
    """Counts a response's bytes as they are read, and stops the read at the cap: the whole
    body for a plain reply; for a stream (text/event-stream), the bytes of the event being
    read (the SSE decoder holds one event at a time). Notes `[DONE]` at a line start."""

    _BOUNDARIES = (b"\n\n", b"\r\n\r\n", b"\r\r")

    def __init__(self, cap: int, status: int, events: bool) -> None:
        self.cap = cap
        self.status = status
        self.events = events
        self.total = 0
        self.pending = 0  # bytes since the last event boundary (streams)
        self.done = False
        self._tail = b"\n"  # the stream starts at a line start

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if not self.events:
            if self.total > self.cap:
                raise ReplyTooLarge(
                    f"HTTP {self.status}: the reply passed {size_text(self.cap)}; reading stopped"
                )
            return
        seen = self._tail + chunk
        ends = [seen.rfind(b) + len(b) for b in self._BOUNDARIES if b in seen]
        if ends:
            self.pending = len(seen) - max(ends)
        else:
            self.pending += len(chunk)
        if self.pending > self.cap:
            raise ReplyTooLarge(
                f"HTTP {self.status}: a stream event passed {size_text(self.cap)}; reading stopped"
            )
        if b"\ndata: [DONE]" in seen or b"\ndata:[DONE]" in seen:
            self.done = True
        self._tail = seen[-16:]


@functools.cache
def metered_stream_class() -> type:
    """A response body read through a `ByteMeter`: an `AsyncByteStream` of the HTTP library under
    `openai` (it checks the type)."""
    try:
        from httpx2 import AsyncByteStream  # openai >= 3
    except ImportError:
        from httpx import AsyncByteStream  # type: ignore[no-redef]

    class MeteredStream(AsyncByteStream):
        def __init__(self, inner: Any, meter: ByteMeter) -> None:
            self.inner = inner
            self.meter = meter

        async def __aiter__(self) -> Any:
            async for chunk in self.inner:
                self.meter.feed(chunk)
                yield chunk
                if self.meter.done:
                    return  # nothing after [DONE] is read (a server may go on forever)

        async def aclose(self) -> None:
            await self.inner.aclose()

    return MeteredStream


def capping_hook(cap: int) -> Callable[[Any], Awaitable[None]]:
    """An HTTP client response hook (it runs before the body is read) that puts the body
    behind a `ByteMeter`, and refuses a declared length over `cap` or a compressed body."""

    async def hook(response: Any) -> None:
        status = response.status_code
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise BadReply(
                f"HTTP {status}: the reply is compressed ({one_line(encoding, 40)}) although "
                "none was asked for"
            )
        events = "text/event-stream" in response.headers.get("content-type", "").lower()
        length = response.headers.get("content-length", "")
        if not events and length.isdigit() and int(length) > cap:
            raise ReplyTooLarge(
                f"HTTP {status}: the reply is {size_text(int(length))}, over the cap of "
                f"{size_text(cap)}; not read"
            )
        meter = ByteMeter(cap, status, events)
        response.stream = metered_stream_class()(response.stream, meter)
        response.extensions[METER] = meter

    return hook


def json_body(response: Any) -> Any:
    """A response's body (already read, under the cap) as JSON, or `BadReply` saying what
    it is instead."""
    data = response.content
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "") or "no content type"
        raise BadReply(
            f"HTTP {response.status_code} ({one_line(kind, 60)}) is not JSON: {excerpt(data)}"
        ) from None


def completion_from(data: Any) -> Generation:
    """A chat completion's JSON (`choices[0].message`, `usage`) as a `Generation`; anything
    else is a `BadReply` that says what was there instead."""
    if not isinstance(data, dict):
        raise BadReply(f"the reply is JSON but not an object: {excerpt(json.dumps(data))}")
    error = data.get("error")
    if error:
        message = error.get("message", error) if isinstance(error, dict) else error
        raise BadReply(f"HTTP 200 carrying an error: {excerpt(str(message), 200)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadReply(f"the reply has no choices: {excerpt(json.dumps(data))}")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise BadReply(f"choices[0] has no message: {excerpt(json.dumps(choice))}")
    finish = choice.get("finish_reason")
    finish = finish if isinstance(finish, str) else None
    reasoning = reasoning_of(message)
    content = message.get("content")
    refusal = message.get("refusal")
    if content is None and isinstance(refusal, str) and refusal:
        text = refusal  # the model declined: its words are its reply
    elif content is None and (finish in NO_CONTENT_FINISHES or reasoning):
        text = ""  # the model spent its tokens (thinking) or was filtered: its outcome
    elif content is None:
        raise BadReply(
            f"the message has no content (finish_reason {one_line(repr(finish), 40)}): "
            f"{excerpt(json.dumps(message))}"
        )
    else:
        text = content_text(content)
    usage = data.get("usage")
    gen = Generation(
        text=text,
        prompt_tokens=token_count(field_of(usage, "prompt_tokens")),
        completion_tokens=token_count(field_of(usage, "completion_tokens")),
        finish_reason=finish,
    )
    if reasoning:
        gen.meta["reasoning"] = reasoning
    return gen


def token_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def content_text(content: Any) -> str:
    """A reply's `content` as text: a string as it is, nothing as "", and the content-parts
    form (a list of `{"type": "text", "text": ...}`, which several servers send) joined. A part
    that is not text (an image, audio) is refused: a move is text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = field_of(part, "type")
            text = field_of(part, "text")
            if kind in ("text", "output_text", None) and isinstance(text, str):
                texts.append(text)
            elif kind in ("refusal",) and isinstance(field_of(part, "refusal"), str):
                texts.append(field_of(part, "refusal"))
            else:
                raise BadReply(f"the reply holds a {kind or 'non-text'} part; only text is read")
        return "".join(texts)
    raise BadReply(f"the reply's content is a {type(content).__name__}, not text")


def field_of(part: Any, name: str) -> Any:
    return part.get(name) if isinstance(part, dict) else getattr(part, name, None)


def reasoning_of(message: Any) -> str | None:
    """The reasoning some servers return beside the answer (`reasoning_content`: vLLM,
    DeepSeek; `reasoning`: others), as text."""
    extra = getattr(message, "model_extra", None) or {}
    for name in ("reasoning_content", "reasoning"):
        value = field_of(message, name) or extra.get(name)
        if isinstance(value, str) and value:
            return value
    return None
