"""A simple spy-game bot: clues from its word's associations, votes for the odd one out.

Its clue is one of its own word's associations (uniform over those nobody has said yet). Its
vote goes to the seat whose clues share the fewest words with its own word and associations,
uniform over ties: with civilians' clues drawn from the same list, that is most often the spy.
"""

from __future__ import annotations

import re

from games.bots.base import Bot
from games.core import State

_WORD_RE = re.compile(r"[a-z]+")


def _stems(text: str) -> set[str]:
    """The words of `text`, lower case, with a plural -s dropped so 'bean' matches 'beans'."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _WORD_RE.findall(text.lower())}


class SpyHeuristic(Bot):
    """Clue from its associations; vote for the seat whose clues fit its own word least."""

    name = "heuristic"

    def policy(self, state: State) -> dict[str, float]:
        seat = state.current_player()
        legal = state.legal_actions()
        word = state.words[seat]  # type: ignore[attr-defined]
        clues = state.clues  # type: ignore[attr-defined]
        if legal[0].startswith("clue: "):
            said = {f"clue: {clue}" for _, clue in clues}
            fresh = [a for a in legal if a not in said] or legal
            return {a: 1.0 / len(fresh) for a in fresh}
        vocab = _stems(" ".join((word, *state.game.associations.get(word, ()))))  # type: ignore[attr-defined]
        scores: dict[str, int] = {}
        for action in legal:
            target = int(action.split(": ")[1])
            scores[action] = sum(len(_stems(c) & vocab) for s, c in clues if s == target)
        low = min(scores.values())
        worst = [a for a, v in scores.items() if v == low]
        return {a: 1.0 / len(worst) for a in worst}
