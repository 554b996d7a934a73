"""The registry of games: stable ids mapped to their implementations.

Ids are part of the public API: a stored match names its game by id, so an id never changes
meaning. Modules are imported on first use so listing games stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
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

OPENSPIEL_PREFIX = "openspiel/"
"""OpenSpiel's games (extra `arena-games[openspiel]`) are `openspiel/<name>`: resolved on
demand by `games.openspiel_games`, never imported by `import games` nor listed by `game_ids()`
(which names the native games: the conformance test, corpora and forms iterate it)."""
_OPENSPIEL_MISSING = (
    "OpenSpiel games need the open_spiel package: pip install 'arena-games[openspiel]'"
)


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


def openspiel_available() -> bool:
    """Whether pyspiel can be imported (checked without importing it)."""
    return importlib.util.find_spec("pyspiel") is not None


def openspiel_game_ids() -> list[str]:
    """The ids of OpenSpiel's games that play in the arena (`openspiel/<name>`); empty when
    open_spiel is not installed. Imports pyspiel and checks every game: about a second."""
    if not openspiel_available():
        return []
    return load("games.openspiel_games:exposed_ids")()


def game_class(game_id: str) -> type[Game]:
    """The class registered under `game_id`; `KeyError` with the known ids if none."""
    if game_id.startswith(OPENSPIEL_PREFIX) and game_id not in _extra:
        if not openspiel_available():
            raise KeyError(f"{game_id}: {_OPENSPIEL_MISSING}")
        return load("games.openspiel_games:game_class")(game_id[len(OPENSPIEL_PREFIX) :])
    if game_id in _extra:
        return _extra[game_id]
    if game_id not in _BUILTIN:
        raise KeyError(f"unknown game {game_id!r}; known games: {', '.join(game_ids())}")
    return load(_BUILTIN[game_id])


def make(game_id: str, **params: Any) -> Game:
    """Make a game with the given parameters (`GameParamError` on unknown or bad ones)."""
    if game_id.startswith(OPENSPIEL_PREFIX) and not openspiel_available():
        raise GameParamError(f"{game_id}: {_OPENSPIEL_MISSING}")
    cls = game_class(game_id)
    for module in cls.REQUIRES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise GameParamError(
                f"{game_id} needs the {module!r} package: pip install 'arena-games[{game_id}]'"
            ) from exc
    return cls(**params)


def list_games(*, openspiel: bool = False) -> list[GameInfo]:
    """Metadata of every registered game, then OpenSpiel's with `openspiel=True`."""
    ids = game_ids() + (openspiel_game_ids() if openspiel else [])
    return [game_class(gid).info() for gid in ids]
