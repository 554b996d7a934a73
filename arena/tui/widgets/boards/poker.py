"""Poker boards (kuhn_poker, leduc_poker): your card(s), the pot and bets as text, and one
button per legal betting action."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board

# Observation lines that are about cards, and those that are only instructions.
_CARD = re.compile(r"^(Your (?:private )?card|Public card)[^:]*:\s*(.*?)\.?$")
_SKIP = ("You are player", "It is your turn")
_VARIANTS = {"fold": "error", "bet": "warning", "raise": "warning", "call": "primary"}


def split_observation(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(card lines as (label, card), the other informative lines) of a poker observation."""
    cards, info = [], []
    for line in text.splitlines():
        line = line.strip()
        match = _CARD.match(line)
        if match:
            cards.append((match.group(1), match.group(2)))
        elif line and not line.startswith(_SKIP):
            info.append(line)
    return cards, info


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
        cards, info = split_observation(view.observation())
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
