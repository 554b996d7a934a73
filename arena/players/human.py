"""People as players: the move comes from the UI or the terminal through an async hand-off."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from arena.players.base import Player, Reply, Turn

Provider = Callable[[Turn], Awaitable[str]]


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
            return Reply(text=await self.provider(turn))
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


async def terminal_provider(turn: Turn) -> str:
    """Ask on the terminal: show the observation and read a line (off the event loop)."""
    header = f"\n--- {turn.game.name}: your move (player {turn.seat}) ---\n"
    if turn.feedback:
        header += f"Not accepted: {turn.feedback}\n"
    print(header + turn.observation())
    return await asyncio.to_thread(input, "your move> ")
