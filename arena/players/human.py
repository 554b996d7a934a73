"""People as players: the move comes from the UI or the terminal through an async hand-off."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable

from arena.errors import Interrupted
from arena.players.base import Player, Reply, Turn

Provider = Callable[[Turn], Awaitable[Reply]]


class HumanPlayer(Player):
    """A person. Either give a `provider` coroutine (the terminal), or let a UI answer the
    pending turn with `submit()`: the match waits until it does. People have no time limit."""

    kind = "human"
    timed = False

    def __init__(self, name: str, provider: Provider | None = None) -> None:
        super().__init__(name)
        self.provider = provider
        self.pending: Turn | None = None
        self._answer: asyncio.Future[tuple[str, bool]] | None = None

    async def act(self, turn: Turn) -> Reply:
        if self.provider is not None:
            return await self.provider(turn)
        self._answer = asyncio.get_running_loop().create_future()
        self.pending = turn
        try:
            text, exact = await self._answer
        finally:
            self.pending = None
            self._answer = None
        return Reply(text=text, action=text if exact else None)

    def submit(self, move: str, *, exact: bool = False) -> None:
        """Answer the pending turn. `exact=True` when `move` is a legal action picked from a
        list; otherwise it is free text, parsed like a model's reply. Call on the loop's thread."""
        if self._answer is None or self._answer.done():
            raise RuntimeError(f"{self.name} has no pending turn")
        self._answer.set_result((move, exact))


PROMPT = "your move> "
END_OF_INPUT = "stopped at the end of input (Ctrl-D); nothing was stored"


async def terminal_provider(turn: Turn) -> Reply:
    """Ask on the terminal until the person types a legal move: show the observation, read a
    line, and read it with the game's own reply parser (the one models go through, so "b2" and
    "Final answer: b2" both count). A typo, an illegal or ambiguous move says why, with the
    legal moves, and asks again; a blank line asks again. The end of input (Ctrl-D) raises
    `Interrupted`: the person stopped the match, which is never a forfeit."""
    _say(f"\n--- {turn.game.name}: your move (player {turn.seat}) ---")
    if turn.feedback:
        _say(f"Not accepted: {turn.feedback}")
    _say(turn.observation())
    while True:
        line = await read_line(PROMPT)
        if line is None:
            _say("")
            raise Interrupted(END_OF_INPUT)
        if not line.strip():
            continue
        parsed = turn.game.parse_action(turn.state, line)
        if parsed.ok and parsed.action in turn.legal_actions:
            return Reply(text=line, action=parsed.action)
        _say(refusal(line, parsed.error, turn.legal_actions))


def _say(text: str) -> None:
    """A line to the person, through the one sanitiser (it may quote what they typed)."""
    from arena.safe_text import visible

    print(visible(text), flush=True)


def refusal(line: str, error: str | None, legal: list[str]) -> str:
    """What to tell a person whose entry was refused: why, and the legal moves (shortened
    when there are many)."""
    from games.parsing import format_moves

    reason = error or f"{line.strip()!r} is not a legal move"
    if "legal moves" not in reason.lower():
        reason += f"; legal moves: {format_moves(legal, 40)}"
    return f"Not accepted: {reason}. Try again (Ctrl-D or Ctrl-C ends the match)."


async def read_line(prompt: str) -> str | None:
    """One line from standard input, None at its end, without blocking the event loop.

    A daemon thread reads it, not the loop's executor: when Ctrl-C cancels the match while a
    read is pending, the process must not wait at exit for that read to return. Where
    standard input is the process's file descriptor 0 (a terminal, a pipe), the thread reads
    the descriptor itself (`_read_fd_line`): `input()` would hold the lock of Python's stdin
    buffer while it waits, and the interpreter aborts at exit on a lock a daemon thread holds."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def deliver(line: str | None) -> None:
        if not answer.done():
            answer.set_result(line)

    fd = _stdin_fd()

    def read() -> None:
        try:
            if fd is None:
                line: str | None = input(prompt)
            else:
                sys.stdout.write(prompt)
                sys.stdout.flush()
                line = _read_fd_line(fd)
        except (EOFError, OSError, ValueError):  # end of input; a closed stream
            line = None
        try:
            loop.call_soon_threadsafe(deliver, line)
        except RuntimeError:  # the loop is gone: the match already ended
            pass

    threading.Thread(target=read, name="arena-terminal-input", daemon=True).start()
    return await answer


def _stdin_fd() -> int | None:
    """Standard input's file descriptor when it is the process's own (0), else None (a
    replaced `sys.stdin`, such as a test runner's)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if fd == 0 else None


def _read_fd_line(fd: int) -> str | None:
    """One line read straight from the descriptor, without its end of line; None at the end
    of input (with nothing read)."""
    import os

    data = bytearray()
    while True:
        chunk = os.read(fd, 1)
        if not chunk:
            if not data:
                return None
            break
        if chunk == b"\n":
            break
        data += chunk
    return data.decode("utf-8", errors="replace").rstrip("\r")
