"""A value-driven negotiation bot: it only ever trades up by its own private values.

It accepts a pending offer that raises its inventory value and otherwise makes the menu offer
that gains it value while looking fairest to the opponent (judged by the public base values,
the only thing it knows about the opponent's valuation). With nothing worth offering it denies
the pending offer or passes.
"""

from __future__ import annotations

from games.bots.base import Bot
from games.core import State
from games.negotiation import ACCEPT, BASE_VALUES, DENY, MENU_OFFERS, PASS, value_of


class NegotiationHeuristic(Bot):
    """Accepts offers that raise its value, denies others, proposes trades that raise it."""

    name = "heuristic"

    def policy(self, state: State) -> dict[str, float]:
        seat = state.current_player()
        values = state.values[seat]  # type: ignore[attr-defined]
        legal = state.legal_actions()
        pending = state.pending  # type: ignore[attr-defined]
        if pending is not None and ACCEPT in legal:
            _, offered, asked = pending
            if value_of(offered, values) > value_of(asked, values):
                return {ACCEPT: 1.0}
        allowed = set(legal)
        best: list[str] = []
        best_score = None
        for _, _, text, move in MENU_OFFERS:
            if text not in allowed:
                continue
            gain = value_of(move.receive, values) - value_of(move.give, values)
            if gain <= 0:
                continue
            # The opponent's values are private: estimate its side of the deal by base values.
            their_gain = value_of(move.give, BASE_VALUES) - value_of(move.receive, BASE_VALUES)
            score = (their_gain, gain)
            if best_score is None or score > best_score:
                best, best_score = [text], score
            elif score == best_score:
                best.append(text)
        if not best:
            return {DENY if pending is not None else PASS: 1.0}
        return {a: 1.0 / len(best) for a in best}
