"""Crash points for tests of what a killed trainer leaves behind (never set them otherwise).

`ARENA_TEST_CRASH_AT=<point>` (or `<point>:<step>`) makes the trainer process kill itself with
SIGKILL when it reaches that point (at that step): no handler, no `finally`, no last write, as
`kill -9` or a power cut would. The points: `after_checkpoint_rename` (a checkpoint folder is in
place, nothing else of it done), `after_step_metrics` (a step's metrics are stored, its
checkpoint not yet saved), `during_evaluation` (a checkpoint's first evaluation match is stored).
"""

from __future__ import annotations

import os
import signal

ENV = "ARENA_TEST_CRASH_AT"


def crash_point(name: str, step: int | None = None) -> None:
    """Kill this process at once if `ARENA_TEST_CRASH_AT` names this point (and step)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    if wanted == name or (step is not None and wanted == f"{name}:{step}"):
        print(f"{ENV}={wanted}: killing the trainer now", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
