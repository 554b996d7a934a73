"""Reference bots: the fixed anchors of every leaderboard.

A bot exposes its action probabilities, not only a choice: `bot.policy(state)` returns
`{action: probability}`; `bot.act(state, rng)` samples from it with the caller's generator.
"""

from __future__ import annotations

from typing import Any

from games.bots.base import Bot, RandomBot, sample_policy
from games.core import Game
from games.registry import load

__all__ = ["Bot", "RandomBot", "available_bots", "make_bot", "sample_policy"]


def available_bots(game: Game | type[Game]) -> list[str]:
    """Names of the bots that play `game`."""
    return list(game.info().bots)


def make_bot(game: Game, name: str, **params: Any) -> Bot:
    """Make the bot `name` for `game` (a `Game` instance). `KeyError` if it has no such bot."""
    if name == "random":
        return RandomBot(game, **params)
    path = type(game).BOTS.get(name)
    if path is None:
        raise KeyError(
            f"{game.id} has no bot {name!r}; available: {', '.join(available_bots(game))}"
        )
    return load(path)(game, **params)
