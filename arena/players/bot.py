"""Built-in bots as players: the fixed anchors of every leaderboard."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arena.players.base import Player, Reply, Turn
from games import Game
from games.bots import Bot, make_bot, sample_policy

# A bot whose move took longer than this is moved off the event loop from then on.
_SLOW_S = 0.005


class BotPlayer(Player):
    """Plays `games.bots` bot `bot` (e.g. "random", "minimax", "cfr") in any game that has it."""

    kind = "bot"
    quick = True

    def __init__(self, name: str, bot: str | None = None, params: dict[str, Any] | None = None):
        super().__init__(name)
        self.bot_name = bot or name
        self.params = dict(params or {})
        self._bots: dict[tuple[str, str], Bot] = {}
        self._slow: set[tuple[str, str]] = set()

    def _key(self, game: Game) -> tuple[str, str]:
        return (game.id, repr(sorted(game.params.items())))

    def bot_for(self, game: Game) -> Bot:
        key = self._key(game)
        bot = self._bots.get(key)
        if bot is None:
            bot = self._bots[key] = make_bot(game, self.bot_name, **self.params)
        return bot

    async def act(self, turn: Turn) -> Reply:
        bot = self.bot_for(turn.game)
        key = self._key(turn.game)
        if key in self._slow:
            policy = await asyncio.to_thread(bot.policy, turn.state)
        else:
            t0 = time.perf_counter()
            policy = bot.policy(turn.state)
            if time.perf_counter() - t0 > _SLOW_S:
                self._slow.add(key)
        action = sample_policy(policy, turn.rng)
        return Reply(text=action, action=action, policy=dict(policy))

    async def aclose(self) -> None:
        for bot in self._bots.values():
            bot.close()
        self._bots.clear()

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name} (bot {self.bot_name}{'(' + args + ')' if args else ''})"
