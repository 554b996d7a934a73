"""The equilibrium bot for small poker games: a CFR+ average strategy shipped as package data."""

from __future__ import annotations

from games.bots.base import Bot
from games.core import Game, State


class CFRBot(Bot):
    """Plays the shipped CFR+ equilibrium (see `games.cfr`); exploitability is pinned by tests."""

    name = "cfr"

    def __init__(self, game: Game) -> None:
        super().__init__(game)
        from games.cfr import load_policy

        self.table = load_policy(game.id)

    def policy(self, state: State) -> dict[str, float]:
        legal = state.legal_actions()
        row = self.table.get(state.information_state(state.current_player()))
        if row is None:
            raise KeyError(
                f"the {self.game.id} CFR policy has no entry for "
                f"{state.information_state(state.current_player())!r}; regenerate it with "
                f"python -m games.cfr {self.game.id}"
            )
        probs = {a: max(0.0, row.get(a, 0.0)) for a in legal}
        total = sum(probs.values())
        return {a: p / total for a, p in probs.items()}
