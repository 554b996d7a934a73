"""Gather requests from concurrent coroutines into batches for one worker thread.

A local model runs best when the requests of many matches are computed together: one forward
pass over 16 rows costs little more than one over a single row. `BatchWorker` owns a thread
that waits for a request, gathers whatever else arrives within a short window (or until the
batch is full), hands the batch to a `run_batch` callable, and goes back to waiting. Results
travel back to the awaiting coroutines through `loop.call_soon_threadsafe`, so the event loop
never blocks on the model and never sees a half-finished result; the results of one step
travel together, which keeps concurrent matches in step with each other.

Pure Python on purpose: the torch parts live in `arena.backends.torch_decode`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from arena.backends.base import BackendError, BackendUnavailable, OnText

log = logging.getLogger(__name__)

_STOP = object()  # tells the worker thread to finish


class Pending:
    """One request in flight: its job, and the way back to the coroutine awaiting it.

    Created on the event loop; resolved exactly once, from the worker thread. While a worker
    holds it, its result waits in the worker's outbox until `BatchWorker.deliver` sends the
    results of a whole step back together.
    """

    __slots__ = ("job", "on_text", "_loop", "_future", "done", "_outbox")

    def __init__(self, job: Any, loop: asyncio.AbstractEventLoop, on_text: OnText | None) -> None:
        self.job = job
        self.on_text = on_text
        self._loop = loop
        self._future: asyncio.Future[Any] = loop.create_future()
        self.done = False
        self._outbox: list[tuple[Pending, Any, BaseException | None]] | None = None

    @property
    def cancelled(self) -> bool:
        """The awaiting coroutine gave up (cancelled or timed out): stop working on it."""
        # Reading a flag another thread may set is benign here: at worst one more step runs.
        return self._future.cancelled()

    def resolve(self, result: Any) -> None:
        """Deliver the result to the awaiting coroutine (call from the worker thread)."""
        if not self.done:
            self.done = True
            self._send(result, None)

    def fail(self, error: BaseException) -> None:
        """Deliver an exception to the awaiting coroutine (call from the worker thread, or
        from the loop's own thread while the request is prepared)."""
        if not self.done:
            self.done = True
            self._send(None, error)

    def emit(self, text: str) -> None:
        """Stream a piece of text to `on_text`, on the event loop's thread."""
        if self.on_text is not None and text and not self.done:
            self._post(self.on_text, text)

    def _send(self, result: Any, error: BaseException | None) -> None:
        if self._outbox is None:
            self._post(_settle, [(self._future, result, error)])
        else:
            self._outbox.append((self, result, error))

    def _post(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """Set the futures of requests answered together, in one turn of the event loop: their
    coroutines then run on in the same turn and their next requests travel together."""
    for future, result, error in outcomes:
        if future.done():  # cancelled while the result was on its way
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class BatchWorker:
    """A thread that runs batches of requests through `run_batch`.

    `run_batch(items, admit)` must resolve or fail every item it is given. While it runs, it
    may call `admit(rows)` (where `rows` is how many rows it is computing) to take requests
    that arrived since, up to `max_batch_size` rows in all, and must then resolve those too.
    If it raises instead, the items of a batch (admitted ones included) are run again one by
    one, without admission, so that one bad request fails alone while the others succeed;
    what still raises fails with `BackendError`. The thread survives any exception.

    Gathering: requests submitted during one turn of the event loop travel to the thread as
    one group (so the matches that `asyncio.gather` starts together arrive together). After
    the first group arrives, the worker waits up to `window_s` for more, but stops waiting as
    soon as it holds as many requests as the previous batch had, or `max_batch_size` of them,
    or when every answer it sent back has been followed by the group its coroutines submitted
    next (answers of one step go back together, see `deliver`): concurrent matches then meet
    again at once, a lone match never waits for company, and matches that ended are not
    waited for.

    Preparing: `prepare(group)`, when given, runs on the event loop's thread with each group
    before it travels (work that costs less done for many requests at once, such as
    tokenizing their prompts in one call); it may fail some of them, which then stay behind.

    Admission (continuous batching): a running batch takes the requests that arrived since it
    started once they number at least `admit_share` times its rows or fill it (each admission
    costs a forward pass of its own), or once no other request is on its way (every answer
    sent back has been followed); `None` turns admission off.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Pending], Callable[[int], list[Pending]] | None], None],
        *,
        window_s: float,
        max_batch_size: int,
        admit_share: float | None = 0.5,
        prepare: Callable[[list[Pending]], None] | None = None,
        name: str = "arena-batch-worker",
    ) -> None:
        self._run_batch = run_batch
        self._prepare = prepare
        self._window_s = max(0.0, window_s)
        self._max = max(1, max_batch_size)
        self._admit_share = admit_share
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outbox: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self._carry: list[Pending] = []  # what did not fit into the last batch
        self._current: list[Pending] = []  # the batch running, admitted requests included
        self._answers: list[tuple[Pending, Any, BaseException | None]] = []  # not yet sent
        # Deliveries per event loop: made (worker thread), run (the loop's thread), and the
        # latest one whose follow-up group has reached the worker (worker thread).
        self._sent: dict[asyncio.AbstractEventLoop, int] = {}
        self._seen: dict[asyncio.AbstractEventLoop, int] = {}
        self._followed: dict[asyncio.AbstractEventLoop, int] = {}
        self._stop_seen = False
        self._last_size = self._max  # the first batch waits the whole window for company
        self._closed = False
        self._lock = threading.Lock()
        self.batches_run = 0  # for tests and benchmarks: how many batches ran
        self.largest_batch = 0
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The worker thread."""
        return self._thread

    @property
    def alive(self) -> bool:
        """The worker thread is running."""
        return self._thread.is_alive()

    async def submit(self, job: Any, on_text: OnText | None = None) -> Any:
        """Queue `job` and wait for its result (raises what the worker failed it with)."""
        loop = asyncio.get_running_loop()
        pending = Pending(job, loop, on_text)
        with self._lock:
            if self._closed:
                raise BackendUnavailable("the backend is closed")
            group = self._outbox.get(loop)
            if group is None:
                # Flush after the callbacks already scheduled in this turn have run: every
                # coroutine started together has submitted by then.
                self._outbox[loop] = [pending]
                loop.call_soon(self._flush, loop)
            else:
                group.append(pending)
        return await pending._future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            group = self._outbox.pop(loop, [])
        if self._prepare is not None and group:
            try:
                self._prepare(group)
            except Exception as exc:  # noqa: BLE001 - the group fails, the worker goes on
                for pending in group:
                    pending.fail(_as_backend_error(exc))
            group = [p for p in group if not p.done]
        with self._lock:
            if not self._closed:
                # Tagged with the latest answers this loop has run: the group holds what
                # their coroutines asked next.
                self._queue.put((group, loop, self._seen.get(loop, 0)))
                return
        for pending in group:
            pending.fail(BackendUnavailable("the backend was closed"))

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread after the batch it is running; fail what is still queued. Blocks."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- the worker thread --------------------------------------------------------------

    def _main(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._gather()
            batch = [p for p in batch if not p.cancelled]
            if batch:
                self._run(batch)
            stopping = stopping or self._stop_seen
        # Closed: what was queued behind the stop marker, or left over, is never run.
        leftovers = self._carry
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                leftovers.extend(item[0])
        for pending in leftovers:
            pending.fail(BackendUnavailable("the backend was closed"))

    def _gather(self) -> tuple[list[Pending], bool]:
        if self._carry:
            batch, self._carry = self._carry, []
        else:
            first = self._queue.get()
            if first is _STOP:
                return [], True
            batch = list(self._take(first))
        target = min(self._max, self._last_size)
        deadline = time.monotonic() + self._window_s
        stopping = False
        while len(batch) < self._max:
            done = len(batch) >= target or self._caught_up()
            wait = 0.0 if done else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stopping = True
                break
            batch.extend(self._take(item))
        batch, self._carry = batch[: self._max], batch[self._max :] + self._carry
        self._last_size = len(batch)
        return batch, stopping

    def _take(self, item: tuple[list[Pending], asyncio.AbstractEventLoop, int]) -> list[Pending]:
        """The requests of a queued group, noting which answers they follow."""
        group, loop, epoch = item
        if epoch > self._followed.get(loop, 0):
            self._followed[loop] = epoch
        return group

    def _caught_up(self) -> bool:
        """Every answer sent back has been followed by its coroutines' next group: no more
        requests are on their way from them (the matches that ended ask nothing)."""
        return bool(self._sent) and all(
            self._followed.get(loop, 0) >= sent for loop, sent in self._sent.items()
        )

    def _arrive(
        self, loop: asyncio.AbstractEventLoop, epoch: int, outcomes: list[Any]
    ) -> None:  # on the loop's thread
        self._seen[loop] = epoch
        _settle(outcomes)

    def deliver(self) -> None:
        """Send the answers held so far back to their event loops, one callback per loop.

        Rows that finish in the same step are answered together: their matches then move on
        in the same turn of the event loop, and their next requests arrive as one group
        instead of a trickle that splits the next batch into several prefill passes.
        """
        if not self._answers:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for pending, result, error in self._answers:
            by_loop.setdefault(pending._loop, []).append((pending._future, result, error))
        self._answers.clear()  # (in place: the pendings being run hold this list)
        for loop in [loop for loop in self._sent if loop.is_closed()]:
            for seen in (self._sent, self._seen, self._followed):
                seen.pop(loop, None)
        for loop, outcomes in by_loop.items():
            epoch = self._sent[loop] = self._sent.get(loop, 0) + 1
            try:
                loop.call_soon_threadsafe(self._arrive, loop, epoch, outcomes)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                self._sent.pop(loop, None)

    def _admit(self, rows: int) -> list[Pending]:
        """Requests already waiting, up to `max_batch_size - rows` of them, without waiting.

        First sends back the answers of the step that just ran (see `deliver`). Joining
        costs a forward pass of its own, so a running batch takes newcomers only once there
        are enough of them (a share of the rows it runs) to be worth it.
        """
        self.deliver()
        while not self._stop_seen and not self._queue.empty():
            item = self._queue.get_nowait()  # (this thread is the only reader)
            if item is _STOP:
                self._stop_seen = True
                break
            self._carry.extend(self._take(item))
        if not self._carry:
            return []
        self._carry = [p for p in self._carry if not p.cancelled]
        room = self._max - rows
        if self._admit_share is None or room <= 0 or not self._carry:
            return []
        # ... unless nothing more is on its way (every answer sent back has been followed by
        # its coroutine's next request, or its match ended): then waiting gains nothing.
        if len(self._carry) < min(room, rows * self._admit_share) and not self._caught_up():
            return []
        taken, self._carry = self._carry[:room], self._carry[room:]
        for pending in taken:
            pending._outbox = self._answers
        self._current.extend(taken)
        self._last_size = max(self._last_size, rows + len(taken))
        return taken

    def _run(self, batch: list[Pending], admit: bool = True) -> None:
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        self._current = list(batch)
        for item in batch:
            item._outbox = self._answers
        try:
            self._run_batch(batch, self._admit if admit else None)
        except BaseException as exc:  # noqa: BLE001 - the thread must outlive any request
            everything = self._current
            self.deliver()  # what was answered before the failure goes back as it is
            if len(everything) == 1:
                everything[0].fail(_as_backend_error(exc))
            else:
                log.warning(
                    "a batch of %d failed (%s); running its requests alone", len(everything), exc
                )
                for item in everything:
                    if not item.done and not item.cancelled:
                        self._run([item], admit=False)
            batch = everything
        else:
            batch = self._current
        for item in batch:  # run_batch must resolve everything; never leave a coroutine hanging
            if not item.done:
                item.fail(BackendError("the model worker dropped this request"))
        self.deliver()
        for item in batch:
            item._outbox = None


def _as_backend_error(exc: BaseException) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    return BackendError(f"the model failed on this request: {type(exc).__name__}: {exc}")
