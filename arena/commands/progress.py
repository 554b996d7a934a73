"""A progress line for headless runs: a bar with ETA on a terminal, plain periodic lines in a
log (no escape codes where nobody sees them)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from arena.outcomes import outcome
from arena.safe_text import one_line
from arena.tournament.runner import Progress


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _last(progress: Progress) -> str:
    r = progress.last
    if r is None:
        return ""
    if r.status != "finished" or not r.returns:
        return f"{r.game_id} {' v '.join(r.players)}: {r.status}"
    said = outcome(r.game_id, r.returns, r.forfeit_seat, r.teams, params=r.params)
    return f"{r.game_id} {' v '.join(r.players)}: {said.sentence(players=r.players)}"


class ProgressLine:
    """Call with each `Progress`; `close()` ends the line."""

    def __init__(self, stream: TextIO | None = None, width: int = 24, every_s: float = 2.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.width = width
        self.every_s = every_s
        self._last_print = 0.0
        self._drawn = False

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        settled = p.done + p.failed
        final = settled >= p.total and not p.in_flight
        if not self.tty and not final and now - self._last_print < self.every_s:
            return
        if self.tty and not final and now - self._last_print < 0.05:
            return
        self._last_print = now
        frac = settled / p.total if p.total else 1.0
        fill = int(frac * self.width)
        bar = "#" * fill + "." * (self.width - fill)
        extra = []
        if p.errors:
            extra.append(f"{p.errors} errors")
        if p.aborted:
            extra.append(f"{p.aborted} aborted")
        leaders = "  ".join(f"{n} {w}-{d}-{lo}" for n, (w, d, lo) in p.leaders())
        line = (
            f"[{bar}] {settled}/{p.total}  running {p.in_flight}  ETA {_clock(p.eta_s)}"
            f"{'  ' + ', '.join(extra) if extra else ''}"
            f"{'  | ' + leaders if leaders else ''}  | {_last(p)}"
        )
        line = one_line(line)  # player names and errors come from outside
        if self.tty:
            self.stream.write("\r\x1b[2K" + line[:200])
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
