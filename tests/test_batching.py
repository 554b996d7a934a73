"""The batch worker's gathering, delivery and admission, with an echo 'model' (no torch).

Concurrent matches only batch well if they stay in step: the answers of one step must reach
their coroutines in one turn of the event loop (so the next requests travel as one group),
and the worker must not wait for requests that will never come (matches that ended).
"""

from __future__ import annotations

import asyncio
import time

from arena.backends.base import BackendError
from arena.backends.batching import BatchWorker


def run(coro):
    return asyncio.run(coro)


def echo_worker(**kwargs):
    """A worker whose 'model' answers each job with itself; records each batch's jobs."""
    batches: list[list] = []

    def run_batch(items, admit):
        batches.append([p.job for p in items])
        for p in items:
            p.resolve(p.job)

    return BatchWorker(run_batch, **kwargs), batches


async def players(worker, moves: list[int]):
    """One coroutine per entry, each asking `moves[i]` times in a row (like a match)."""

    async def player(i: int, n: int) -> None:
        for k in range(n):
            assert await worker.submit((i, k)) == (i, k)

    await asyncio.gather(*(player(i, n) for i, n in enumerate(moves)))


def test_answers_of_one_batch_come_back_together_so_the_next_requests_form_one_batch():
    # No window at all, and the 'model' takes a moment over each answer (as decoding its
    # text does): only the delivery keeps the eight players in step.
    batches: list[list] = []

    def run_batch(items, admit):
        batches.append([p.job for p in items])
        for p in items:
            time.sleep(0.003)
            p.resolve(p.job)

    worker = BatchWorker(run_batch, window_s=0.0, max_batch_size=16)
    run(players(worker, [3] * 8))
    assert [len(b) for b in batches] == [8, 8, 8]
    assert [k for _, k in batches[2]] == [2] * 8
    worker.close()


def test_the_worker_does_not_wait_the_window_for_players_that_stopped_asking():
    # Half the players stop after one request; the window is long. Once every answer sent
    # back has been followed by its player's next request, nobody else is coming.
    worker, batches = echo_worker(window_s=1.0, max_batch_size=16)
    run(players(worker, [1] * 4 + [2] * 4))  # first batch: 8, and a full window for it
    start = time.perf_counter()
    run(players(worker, [3] * 4 + [1] * 4))
    elapsed = time.perf_counter() - start
    assert [len(b) for b in batches[-3:]] == [8, 4, 4]
    assert elapsed < 0.5  # one window would be 1 s
    worker.close()


def test_a_fresh_event_loop_still_waits_the_window_for_company():
    worker, batches = echo_worker(window_s=0.3, max_batch_size=16)

    async def staggered():
        first = asyncio.ensure_future(worker.submit("early"))
        await asyncio.sleep(0.05)
        return await asyncio.gather(first, *(worker.submit(f"late {i}") for i in range(3)))

    run(staggered())
    assert batches == [["early", "late 0", "late 1", "late 2"]]
    worker.close()


def test_a_request_arriving_mid_batch_joins_it_once_nothing_else_is_coming():
    # Eight long rows and one short one. The short one's next request is a single newcomer
    # (below the usual share of the running rows), but every answer sent back has been
    # followed, so waiting for more gains nothing: it joins the running batch.
    steps_until_joined: list[int] = []

    def run_batch(items, admit):
        live = list(items)
        for step in range(500):
            time.sleep(0.002)
            for p in live:
                if p.job in ("short", "late"):
                    p.resolve(p.job)
            if any(p.job == "late" for p in live):
                steps_until_joined.append(step)
                break
            live += admit(len(live) - 1) if admit is not None else []
        for p in live:
            p.resolve(p.job)

    worker = BatchWorker(run_batch, window_s=0.0, max_batch_size=16)

    async def scenario():
        longs = [asyncio.ensure_future(worker.submit(f"long {i}")) for i in range(8)]
        assert await worker.submit("short") == "short"
        assert await worker.submit("late") == "late"
        return await asyncio.gather(*longs)

    assert run(scenario()) == [f"long {i}" for i in range(8)]
    assert worker.batches_run == 1
    assert steps_until_joined and steps_until_joined[0] < 100
    worker.close()


def test_prepare_runs_once_per_group_on_the_loop_thread_and_can_fail_one_request():
    import threading

    seen: list[tuple[list, bool]] = []

    def prepare(group):
        seen.append(([p.job for p in group], threading.current_thread() is threading.main_thread()))
        for p in group:
            if p.job == "bad":
                p.fail(BackendError("cannot prepare this one"))

    worker, batches = echo_worker(window_s=0.05, max_batch_size=16)
    worker._prepare = prepare

    async def group():
        return await asyncio.gather(
            *(worker.submit(j) for j in ("a", "bad", "b")), return_exceptions=True
        )

    a, bad, b = run(group())
    assert (a, b) == ("a", "b")
    assert isinstance(bad, BackendError)
    assert seen == [(["a", "bad", "b"], True)]
    assert batches == [["a", "b"]]
    worker.close()
