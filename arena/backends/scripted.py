"""A scripted backend: replies from a list or a function. For demos and for unit tests of the
prompt plumbing; never the only test of a real backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from arena.backends.base import Backend, BackendUnavailable, Generation, Message, OnText, Sampling

Script = list[str] | Callable[[list[Message]], str]


class ScriptedBackend(Backend):
    """Answers with the next scripted reply (cycling), or `script(messages)`.

    `fail_after=N` raises `BackendUnavailable` from the N+1-th call on, like a crashed model.
    """

    kind = "scripted"

    def __init__(self, script: Script, *, delay_s: float = 0.0, fail_after: int | None = None):
        if isinstance(script, list) and not script:
            raise ValueError("a scripted backend needs at least one reply")
        self.script = script
        self.delay_s = delay_s
        self.fail_after = fail_after
        self.calls: list[list[Message]] = []

    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        if choices is not None:
            raise NotImplementedError("the scripted backend cannot constrain replies")
        t0 = time.perf_counter()
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise BackendUnavailable("scripted backend: simulated crash")
        self.calls.append([dict(m) for m in messages])  # type: ignore[misc]
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if callable(self.script):
            text = self.script(messages)
        else:
            text = self.script[(len(self.calls) - 1) % len(self.script)]
        if on_text is not None:
            on_text(text)
        words = len(text.split())
        finish = "stop"
        if words > sampling.max_tokens:
            text = " ".join(text.split()[: sampling.max_tokens])
            finish = "length"
        return Generation(
            text=text,
            prompt_tokens=sum(len(m["content"].split()) for m in messages),
            completion_tokens=min(words, sampling.max_tokens),
            finish_reason=finish,
            latency_s=time.perf_counter() - t0,
        )
