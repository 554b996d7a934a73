"""Which failures of an OpenAI-compatible request are worth another attempt, and when.

429, 408, 5xx, connection errors and timeouts are retryable (with the server's `Retry-After`,
when it sends one); other 4xx answers and malformed replies are not. Anything else is a bug of
ours and is re-raised.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any

_RETRY_STATUS = {408, 429}  # and every 5xx


class Failure:
    """One failed attempt, classified."""

    def __init__(self, kind: str, detail: str, retry: bool, retry_after: float | None = None):
        self.kind = kind  # "timeout" | "unavailable" | "error"
        self.detail = detail
        self.retry = retry
        self.retry_after = retry_after


class BadReply(Exception):
    """The server answered, but not with what was asked for."""


def classify(exc: BaseException) -> Failure:
    """What kind of failure `exc` (raised by an `openai` client call) is; re-raises our bugs."""
    import openai

    timeouts, transport = _transport_errors()
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError, *timeouts)):
        return Failure("timeout", "timed out", retry=True)
    if isinstance(exc, (openai.APIConnectionError, ConnectionError, *transport)):
        cause = exc.__cause__ or exc.__context__
        why = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return Failure("unavailable", f"connection failed ({why})", retry=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f"HTTP {status}: {_server_message(exc)}"
        if status in _RETRY_STATUS or status >= 500:
            return Failure("unavailable", detail, retry=True, retry_after=_retry_after(exc))
        return Failure("error", detail, retry=False)
    if isinstance(exc, (BadReply, openai.APIError, json.JSONDecodeError)):
        return Failure("error", f"bad reply: {exc}", retry=False)
    raise exc  # a bug of ours, not the server's: let it show


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeouts, other transport errors) of the HTTP library under `openai`: errors raised
    while a stream is read are not wrapped by the client."""
    try:
        import httpx2 as httpx  # openai >= 3
    except ImportError:
        import httpx  # type: ignore[no-redef]
    return (httpx.TimeoutException,), (httpx.TransportError, httpx.StreamError)


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg is None:
            msg = body.get("detail", body)
        text = str(msg)
    else:
        text = str(getattr(exc, "message", "") or exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return when.timestamp() - time.time()
    except (TypeError, ValueError):
        return None
