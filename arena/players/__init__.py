"""Players: bots, people and language models."""

from arena.players.base import Player, Reply, Turn
from arena.players.bot import BotPlayer
from arena.players.human import HumanPlayer

__all__ = ["BotPlayer", "HumanPlayer", "Player", "Reply", "Turn"]
