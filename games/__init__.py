"""Games for language models: rules, states, parsing, reference bots and exact analysis.

    import games
    game = games.make("kuhn_poker")
    state = game.new_initial_state()

Standard library only (python-chess for chess). Nothing here imports `arena` or `trainer`.
"""

from games.core import (
    CHANCE,
    TERMINAL,
    Game,
    GameInfo,
    GameParamError,
    IllegalActionError,
    Parsed,
    State,
    random_playout,
    replay,
    sample_chance,
)
from games.registry import game_class, game_ids, list_games, make, register

__all__ = [
    "CHANCE",
    "TERMINAL",
    "Game",
    "GameInfo",
    "GameParamError",
    "IllegalActionError",
    "Parsed",
    "State",
    "game_class",
    "game_ids",
    "list_games",
    "make",
    "random_playout",
    "register",
    "replay",
    "sample_chance",
]
