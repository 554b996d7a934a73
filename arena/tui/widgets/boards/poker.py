"""Poker boards (kuhn_poker, leduc_poker): your card(s), the pot and bets as text, and one
button per legal betting action.

What it draws comes from the state (`games.poker_common.PokerState`): your `private_card`, the
`public_card`, the `betting_rounds` and `contributions`; the opponent's card only after a
showdown. The sentences are the games' own (`narrate`, `pot_text`, `hand_over_text`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board
from games.poker_common import hand_over_text, narrate, pot_text

if TYPE_CHECKING:
    from games.poker_common import PokerState

_VARIANTS = {"fold": "error", "bet": "warning", "raise": "warning", "call": "primary"}
_SUITS = {"s": "♠", "h": "♥"}


def card_face(name: str) -> str:
    """A card name as drawn: the rank and a suit glyph when it has a suit ("Ks" -> "K♠")."""
    if len(name) == 2 and name[1] in _SUITS:
        return name[0] + _SUITS[name[1]]
    return name


def visible_cards(state: PokerState, seat: int) -> list[tuple[str, str]]:
    """(label, card) of the cards `seat` may see: its own, the public one, and the opponent's
    only after a showdown."""
    cards = []
    own = state.private_card(seat)
    if own is not None:
        cards.append(("Your card", card_face(own)))
    public = state.public_card()
    if public is not None:
        cards.append(("Public card", card_face(public)))
    if state.showdown():
        theirs = state.private_card(1 - seat)
        if theirs is not None:
            cards.append(("Their card", card_face(theirs)))
    return cards


def info_lines(state: PokerState, seat: int) -> list[str]:
    """The betting of each round, the pot and, at the end, the result, from `seat`'s side."""
    if state.private_card(1) is None:
        return ["The cards are being dealt."]
    rounds = state.betting_rounds()
    lines = []
    for i, actions in enumerate(rounds):
        label = f"Round {i + 1} betting" if len(rounds) > 1 else "Betting"
        lines.append(f"{label}: {narrate(actions, seat) or 'no action yet'}.")
    lines.append(pot_text(state.contributions(), seat))
    if state.is_terminal():
        theirs = state.private_card(1 - seat) if state.showdown() else None
        won = state.returns()[seat]
        lines.append(hand_over_text(won, state.folder(), seat, card_face(theirs or "?")))
    return lines


class PokerBoard(Board):
    """Cards, pot and a button per legal action."""

    DEFAULT_CSS = """
    PokerBoard { padding: 0 1; }
    PokerBoard #cards { height: auto; }
    PokerBoard .card {
        height: 3; border: round $accent; padding: 0 1;
        margin-right: 1; text-style: bold;
    }
    PokerBoard #info { height: auto; margin: 1 0; }
    PokerBoard #actions { height: auto; }
    PokerBoard #actions Button { margin-right: 1; min-width: 10; }
    """

    def compose(self) -> ComposeResult:
        view = self.view
        if view is None:
            yield Static("")
            return
        state: PokerState = view.state  # type: ignore[assignment]
        cards, info = visible_cards(state, view.seat), info_lines(state, view.seat)
        with Horizontal(id="cards"):
            for label, card in cards:
                box = Static(literal(card), classes="card")
                box.border_title = label
                box.styles.width = max(len(card), len(label) + 4) + 4  # the title fits
                yield box
        yield Static(literal("\n".join(info)), id="info")
        with Horizontal(id="actions"):
            for i, action in enumerate(view.legal):
                button = Button(
                    literal(action), id=f"act-{i}", variant=_VARIANTS.get(action, "default")
                )
                button.move = action  # type: ignore[attr-defined]
                yield button
        if not view.legal:
            yield Static(Text(self.turn_text()), classes="muted")
        yield Static(self.feedback_text(), classes="feedback")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        move = getattr(event.button, "move", None)
        if move is not None:
            self.choose(move)
