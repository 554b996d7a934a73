"""Requests made in the same turn of the event loop, served together.

The rollouts play many games concurrently in one event loop; the positions (or replies) their
players ask for at the same moment are worth one batched forward pass. `TickBatcher.submit`
queues a request and waits; the first request of a turn schedules the flush behind the games
already ready to run (`loop.call_soon`), so they queue theirs first, and `serve` gets them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")


class TickBatcher(Generic[Request, Result]):
    """Serves the requests of one turn of the event loop with one `serve(requests)` call,
    which returns a result per request in order; an exception it raises fails every waiting
    request (each game fails with the model's error)."""

    def __init__(self, serve: Callable[[list[Request]], Sequence[Result]]) -> None:
        self.serve = serve
        self._queue: list[tuple[Request, asyncio.Future[Result]]] = []
        self._scheduled = False

    async def submit(self, request: Request) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.append((request, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        self._scheduled = False
        try:
            results = self.serve([r for r, _ in queue])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            for _, future in queue:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(queue, results, strict=True):
            if not future.done():
                future.set_result(result)
