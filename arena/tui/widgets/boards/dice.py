"""The liars_dice board: your dice, the current bid, a bid picker whose quantity and face
choices are limited to the legal bids, and a "Liar!" button when a challenge is legal.

What it draws comes from the state: `own_dice(seat)` (only the viewer's dice while the game
goes on), `current_bid()` and `bids()`; every seat's dice once the game is over."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Button, Select, Static

from arena.tui.widgets.boards.base import Board

if TYPE_CHECKING:
    from games.liars_dice import LiarsDiceState

DIE_FACES = "⚀⚁⚂⚃⚄⚅"


def legal_bids(legal: tuple[str, ...]) -> dict[int, list[int]]:
    """Quantity -> faces, from the legal action strings "bid Q F"."""
    bids: dict[int, list[int]] = {}
    for action in legal:
        parts = action.split()
        if len(parts) == 3 and parts[0] == "bid":
            bids.setdefault(int(parts[1]), []).append(int(parts[2]))
    return bids


def bid_line(state: LiarsDiceState) -> str:
    """The standing bid and who made it (public)."""
    bid = state.current_bid()
    if bid is None:
        return "No bids yet."
    quantity, face = bid
    bidder = state.bids()[-1][0]
    return f"Current bid: bid {quantity} {face} by player {bidder}"


def end_line(state: LiarsDiceState) -> str:
    """Who called liar, every seat's dice and who lost ("" while the game goes on: the other
    seats' dice are shown only once the game is over)."""
    if not state.is_terminal():
        return ""
    seats = range(state.game.num_players)
    dice = "; ".join(f"player {s}: {' '.join(str(d) for d in state.own_dice(s))}" for s in seats)
    return f"Player {state.challenger} called liar. Dice: {dice}. Player {state.loser} loses."


def die(face: str) -> str:
    """A face as a die glyph and its number ("⚄ 5"); plain digits past six faces."""
    if face.isdigit() and 1 <= int(face) <= 6:
        return f"{DIE_FACES[int(face) - 1]} {face}"
    return face


class LiarsDiceBoard(Board):
    """Dice, the bid, and the bid picker."""

    DEFAULT_CSS = """
    LiarsDiceBoard { padding: 0 1; }
    LiarsDiceBoard #dice { height: 3; border: round $accent; padding: 0 1; }
    LiarsDiceBoard #bid, LiarsDiceBoard #end { height: auto; margin-top: 1; }
    LiarsDiceBoard #picker { height: auto; margin-top: 1; }
    LiarsDiceBoard #quantity { width: 12; }
    LiarsDiceBoard #face { width: 13; }
    LiarsDiceBoard #picker Button { margin-left: 1; min-width: 7; }
    """

    def compose(self) -> ComposeResult:
        view = self.view
        if view is None:
            yield Static("")
            return
        state: LiarsDiceState = view.state  # type: ignore[assignment]
        faces = [str(d) for d in state.own_dice(view.seat)]
        shown = "   ".join(die(f) for f in faces) or "?"
        box = Static(Text(shown), id="dice")
        box.border_title = "your dice"
        box.styles.width = max(len(shown), 13) + 4  # the title fits
        yield box
        yield Static(Text(bid_line(state)), id="bid")
        end = end_line(state)
        if end:
            yield Static(Text(end), id="end")
        bids = legal_bids(view.legal)
        if view.legal:
            with Horizontal(id="picker"):
                if bids:
                    first = min(bids)
                    yield Select(
                        [(str(q), q) for q in sorted(bids)],
                        value=first,
                        allow_blank=False,
                        id="quantity",
                    )
                    yield Select(
                        self._face_options(bids[first]),
                        value=bids[first][0],
                        allow_blank=False,
                        id="face",
                    )
                    yield Button("Bid", id="place-bid", variant="primary")
                if "liar" in view.legal:
                    yield Button("Liar!", id="liar", variant="error")
        else:
            yield Static(Text(self.turn_text()), classes="muted")
        yield Static(self.feedback_text(), classes="feedback")

    @staticmethod
    def _face_options(faces: list[int]) -> list[tuple[str, int]]:
        return [(die(str(f)), f) for f in sorted(faces)]

    def on_select_changed(self, event: Select.Changed) -> None:
        # A new quantity offers only the faces that make a legal bid with it.
        if event.select.id != "quantity" or self.view is None or event.value is Select.NULL:
            return
        event.stop()
        faces = legal_bids(self.view.legal).get(int(event.value), [])
        if faces:
            face = self.query_one("#face", Select)
            face.set_options(self._face_options(faces))
            face.value = min(faces)

    def current_bid(self) -> str | None:
        """The bid the picker shows ("bid Q F"), or None without a picker."""
        try:
            quantity = self.query_one("#quantity", Select).value
            face = self.query_one("#face", Select).value
        except NoMatches:
            return None
        if quantity is Select.NULL or face is Select.NULL:
            return None
        return f"bid {quantity} {face}"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "liar":
            self.choose("liar")
        elif event.button.id == "place-bid":
            bid = self.current_bid()
            if bid is not None:
                self.choose(bid)
