"""The bot contract and the random bot."""

from __future__ import annotations

import random

from games.core import Game, State


def sample_policy(policy: dict[str, float], rng: random.Random) -> str:
    """Sample an action from `{action: probability}` with `rng`."""
    r = rng.random()
    acc = 0.0
    last = None
    for action, p in policy.items():
        if p <= 0:
            continue
        acc += p
        last = action
        if r < acc:
            return action
    if last is None:
        raise ValueError("empty policy")
    return last


class Bot:
    """A player that knows its action probabilities.

    Subclasses implement `policy(state)` using only what the player to move may know
    (its `information_state`/`observation`), never other seats' private information.
    """

    name: str = "bot"

    def __init__(self, game: Game) -> None:
        self.game = game

    def policy(self, state: State) -> dict[str, float]:
        """`{action: probability}` over legal actions of the player to move."""
        raise NotImplementedError

    def act(self, state: State, rng: random.Random) -> str:
        """Choose an action, sampling the policy with the caller's seeded generator."""
        return sample_policy(self.policy(state), rng)

    def close(self) -> None:
        """Release resources (an engine process, say)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} for {self.game.id}>"


class RandomBot(Bot):
    """Uniform over legal actions."""

    name = "random"

    def policy(self, state: State) -> dict[str, float]:
        legal = state.legal_actions()
        p = 1.0 / len(legal)
        return {a: p for a in legal}

    def act(self, state: State, rng: random.Random) -> str:
        return rng.choice(state.legal_actions())
