"""The registry of games: stable ids mapped to their implementations.

Ids are part of the public API: a stored match names its game by id, so an id never changes
meaning. Modules are imported on first use so listing games stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from games.core import Game, GameInfo, GameParamError

# id -> "module:Class". Order is the order `arena games` lists them in.
_BUILTIN: dict[str, str] = {
    "tictactoe": "games.tictactoe:TicTacToe",
    "connect_four": "games.connect_four:ConnectFour",
    "kuhn_poker": "games.kuhn_poker:KuhnPoker",
    "leduc_poker": "games.leduc_poker:LeducPoker",
    "liars_dice": "games.liars_dice:LiarsDice",
    "negotiation": "games.negotiation:Negotiation",
    "prisoners_dilemma": "games.prisoners_dilemma:PrisonersDilemma",
    "spy": "games.spy:Spy",
    "chess": "games.chess_game:Chess",
}
_extra: dict[str, type[Game]] = {}


def load(path: str) -> Any:
    """Import "module:attribute"."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def register(cls: type[Game]) -> type[Game]:
    """Register a game class under `cls.id` (usable as a decorator by plug-in games)."""
    if cls.id in _BUILTIN or cls.id in _extra:
        raise ValueError(f"a game with id {cls.id!r} is already registered")
    _extra[cls.id] = cls
    return cls


def game_ids() -> list[str]:
    """Every registered game id."""
    return [*_BUILTIN, *_extra]


def game_class(game_id: str) -> type[Game]:
    """The class registered under `game_id`; `KeyError` with the known ids if none."""
    if game_id in _extra:
        return _extra[game_id]
    if game_id not in _BUILTIN:
        raise KeyError(f"unknown game {game_id!r}; known games: {', '.join(game_ids())}")
    return load(_BUILTIN[game_id])


def make(game_id: str, **params: Any) -> Game:
    """Make a game with the given parameters (`GameParamError` on unknown or bad ones)."""
    cls = game_class(game_id)
    for module in cls.REQUIRES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise GameParamError(
                f"{game_id} needs the {module!r} package: pip install 'arena-games[{game_id}]'"
            ) from exc
    return cls(**params)


def list_games() -> list[GameInfo]:
    """Metadata of every registered game."""
    return [game_class(gid).info() for gid in game_ids()]
