"""Game transcripts as chat conversations: the training text of the tiny models.

Each decision of a seeded game becomes one conversation: the game's rules as the system turn,
the seat's observation as the user turn, and "Final answer: <move>" as the assistant turn. A model
trained on them answers in the format the arena parses, with (sometimes) legal moves, which makes
tests of the match loop meaningful without downloading anything.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import games
from games.bots import make_bot

# Games whose bots are cheap enough to play hundreds of games in a second (chess's bots are not).
CORPUS_GAMES = (
    "tictactoe",
    "connect_four",
    "kuhn_poker",
    "leduc_poker",
    "liars_dice",
    "prisoners_dilemma",
    "negotiation",
    "spy",
)

ANSWER_PREFIX = "Final answer: "


def game_conversations(seed: int, games_per_game: int = 12) -> Iterator[list[dict[str, str]]]:
    """Yield one chat conversation per decision of seeded games between the games' own bots.

    Each seat of each game is played by a bot picked with the seeded generator (the random bot
    included), so the moves are plausible but varied. Deterministic for a given seed.
    """
    rng = random.Random(seed)
    for game_id in CORPUS_GAMES:
        game = games.make(game_id)
        rules = game.rules()
        bot_names = list(game.info().bots)
        for _ in range(games_per_game):
            bots = [make_bot(game, rng.choice(bot_names)) for _ in range(game.num_players)]
            state = game.new_initial_state()
            while not state.is_terminal():
                if state.is_chance_node():
                    state.apply(games.sample_chance(state, rng))
                    continue
                seat = state.current_player()
                action = bots[seat].act(state, rng)
                yield [
                    {"role": "system", "content": rules},
                    {"role": "user", "content": state.observation(seat)},
                    {"role": "assistant", "content": ANSWER_PREFIX + action},
                ]
                state.apply(action)


def rules_texts() -> list[str]:
    """The rules text of every game (chess's too when python-chess is installed)."""
    texts = []
    for game_id in games.game_ids():
        try:
            texts.append(games.make(game_id).rules())
        except games.GameParamError:  # an optional dependency is missing
            continue
    return texts
