"""A liar's dice bot that reasons from its own dice and the odds of the unseen ones.

It knows only its own dice. Each unseen die counts toward a face with probability 2/faces (the
face itself or the wild face) or 1/faces for a bid on the wild face, so the chance that a bid
holds is a binomial tail. The bot calls liar when the standing bid holds with probability below
one half; otherwise it makes the raise most likely to hold, preferring the smallest such raise.
"""

from __future__ import annotations

from math import comb

from games.bots.base import Bot
from games.core import State
from games.liars_dice import LIAR, LiarsDice, LiarsDiceState

CALL_BELOW = 0.5
"""Call liar when the standing bid holds with a probability below this."""


def binomial_tail(n: int, p: float, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(k, n + 1))


def bid_probability(game: LiarsDice, own: list[int], quantity: int, face: int) -> float:
    """The probability that at least `quantity` dice count as `face`, given only `own` dice."""
    wild = game.faces
    if face == wild:
        have = sum(1 for d in own if d == wild)
        p = 1.0 / game.faces
    else:
        have = sum(1 for d in own if d == face or d == wild)
        p = 2.0 / game.faces
    return binomial_tail(game.total_dice - len(own), p, quantity - have)


class LiarsDiceHeuristic(Bot):
    """Binomial odds from its own dice: challenge unlikely bids, otherwise raise plausibly."""

    name = "heuristic"

    def policy(self, state: State) -> dict[str, float]:
        assert isinstance(state, LiarsDiceState)
        game = state.game
        own = state.own_dice(state.current_player())
        legal = state.legal_actions()
        bid = state.current_bid()
        if bid is not None and bid_probability(game, own, *bid) < CALL_BELOW:
            return {LIAR: 1.0}
        best, best_p = None, -1.0
        for action in legal:  # bids come in increasing order, so ties keep the smallest raise
            if action == LIAR:
                continue
            p = bid_probability(game, own, *game.bid_of(game.codes[action]))
            if p > best_p + 1e-12:
                best, best_p = action, p
        if best is None:  # the highest bid stands: liar is the only move
            return {LIAR: 1.0}
        return {best: 1.0}
