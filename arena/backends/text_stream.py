"""Token bytes to reply text, for backends that decode token by token in a worker thread.

`TextStream` decodes UTF-8 across token boundaries, cuts the text at the first stop string and
streams what is certain to stay; `loop_emitter` carries those pieces onto the event loop.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable

from arena.backends.base import OnText


def loop_emitter(on_text: OnText | None) -> Callable[[str], None] | None:
    """A function a worker thread may call with text: it schedules `on_text` on the running
    event loop (`call_soon_threadsafe`), so the callback never runs in the worker. Call this on
    the loop."""
    if on_text is None:
        return None
    loop = asyncio.get_running_loop()

    def emit(piece: str) -> None:
        loop.call_soon_threadsafe(on_text, piece)

    return emit


class TextStream:
    """Turns token bytes into text: UTF-8 across token boundaries, stop strings, streaming.

    Text that could be the start of a stop string is held back from `emit` until it is known
    not to be one, so a stop string never reaches the live view.
    """

    def __init__(self, stops: list[str], emit: Callable[[str], None] | None):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = stops
        self._longest = max((len(s) for s in stops), default=0)
        self._emit = emit
        self._emitted = 0
        self._cut = False
        self.text = ""

    def feed(self, data: bytes) -> bool:
        """Add a token's bytes; True when a stop string has appeared (the text is cut there)."""
        before = len(self.text)
        self.text += self._decoder.decode(data)
        if self._stops:
            window = max(0, before - self._longest + 1)
            hits = [i for i in (self.text.find(s, window) for s in self._stops) if i >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self._cut = True
                return True
        self._flush(final=False)
        return False

    def finish(self) -> str:
        """The whole text (an unfinished UTF-8 sequence at the end becomes U+FFFD)."""
        if not self._cut:
            self.text += self._decoder.decode(b"", final=True)
        self._flush(final=True)
        return self.text

    def _flush(self, final: bool) -> None:
        if self._emit is None:
            return
        end = len(self.text)
        if not final:
            for stop in self._stops:
                for k in range(min(len(stop) - 1, end), 0, -1):
                    if self.text.endswith(stop[:k]):
                        end = min(end, len(self.text) - k)
                        break
        if end > self._emitted:
            self._emit(self.text[self._emitted : end])
            self._emitted = end
