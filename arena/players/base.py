"""The player contract: given what its seat may see, return a reply.

Players are stateless across matches and may be shared by concurrent matches: anything that
belongs to one match and seat (a chat history) lives in the `Turn` the match loop hands over.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from games import Game, State


@dataclass
class Turn:
    """Everything a player gets when it is asked to move."""

    game: Game
    state: State  # a private clone: players read only what `seat` may know
    seat: int
    legal_actions: list[str]
    rng: random.Random  # the seat's own seeded generator
    move_index: int  # index of this decision in the match (0-based, chance moves excluded)
    attempt: int = 0  # 0 for the first try, 1.. for retries after an illegal reply
    feedback: str | None = None  # why the previous attempt was illegal
    memory: dict[str, Any] = field(default_factory=dict)  # per match and seat, kept by the loop
    on_text: Callable[[str], None] | None = None  # streaming pieces of the reply (live view)
    match_seed: int = 0

    def observation(self) -> str:
        return self.state.observation(self.seat)


@dataclass
class Reply:
    """A player's answer. `action` is set when the player already knows the exact move (a bot, a
    human picking from the legal moves); otherwise the loop parses `text`."""

    text: str
    action: str | None = None
    messages: list[dict[str, str]] | None = None  # the prompt, for language models
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    policy: dict[str, float] | None = None  # action probabilities, when known
    reasoning: str | None = None  # the model's reasoning, when kept apart from `text`
    meta: dict[str, Any] = field(default_factory=dict)


class Player(ABC):
    """Anything that moves: a bot, a person, a language model."""

    #: "bot" | "human" | "llm"
    kind: str = "player"
    #: whether the match's per-move time limit applies (models yes, people no)
    timed: bool = False
    #: answers at once (a bot): asked directly, not raced against a stop request
    quick: bool = False

    def __init__(self, name: str) -> None:
        self.name = name
        #: this player's own per-move time limit (overrides the match's)
        self.time_limit_s: float | None = None

    @abstractmethod
    async def act(self, turn: Turn) -> Reply:
        """Choose a move. Raise `arena.backends.BackendError` for infrastructure failures."""

    async def aclose(self) -> None:
        """Release what the player holds (a model, an engine)."""

    def describe(self) -> str:
        return f"{self.name} ({self.kind})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
