"""Classic strategies for the iterated prisoner's dilemma.

Each bot decides its choice for the round from the resolved rounds only (what both seats see),
and in the message phase announces that choice with one of the canonical messages.
"""

from __future__ import annotations

from games.bots.base import Bot
from games.core import State
from games.prisoners_dilemma import (
    CANONICAL_MESSAGES,
    CHOOSE0,
    COOPERATE,
    DEFECT,
    PrisonersDilemmaState,
)

_ANNOUNCE = {COOPERATE: CANONICAL_MESSAGES[0], DEFECT: CANONICAL_MESSAGES[1]}


class _PlanBot(Bot):
    """A deterministic strategy: `plan` picks this round's choice from the past rounds."""

    def plan(self, mine: list[str], theirs: list[str]) -> str:
        raise NotImplementedError

    def policy(self, state: State) -> dict[str, float]:
        assert isinstance(state, PrisonersDilemmaState)
        seat = state.current_player()
        mine = [rnd[seat] for rnd in state.choices]
        theirs = [rnd[1 - seat] for rnd in state.choices]
        choice = self.plan(mine, theirs)
        if state.phase < CHOOSE0:
            return {_ANNOUNCE[choice]: 1.0}
        return {choice: 1.0}


class TitForTat(_PlanBot):
    """Cooperate first, then copy the other player's previous choice."""

    name = "tit_for_tat"

    def plan(self, mine: list[str], theirs: list[str]) -> str:
        return theirs[-1] if theirs else COOPERATE


class AlwaysDefect(_PlanBot):
    """Defect every round."""

    name = "always_defect"

    def plan(self, mine: list[str], theirs: list[str]) -> str:
        return DEFECT


class GrimTrigger(_PlanBot):
    """Cooperate until the other player defects once, then defect for ever."""

    name = "grim"

    def plan(self, mine: list[str], theirs: list[str]) -> str:
        return DEFECT if DEFECT in theirs else COOPERATE
