"""The negotiation board: the conversation and your goods, a chat box for free text, an offer
builder (the legal offers, or an offer typed in the chat box), and Accept/Deny when an offer
is pending. A message is sent only when the game's parser turns it into a legal move.

What it draws comes from the state (`games.negotiation.NegotiationState`): your own
`inventory`, `start_inventory` and `unit_values` (the opponent's only once the game is over),
the public `conversation`, `pending_offer` and `moves_left`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Select, Static

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board
from games.negotiation import RESOURCES, goods_text, value_of

if TYPE_CHECKING:
    from games.negotiation import NegotiationState

PASS, ACCEPT, DENY = "I pass.", "[Accept]", "[Deny]"


def goods_lines(state: NegotiationState, seat: int) -> list[str]:
    """`seat`'s goods, values and inventory value (its own secret: call it for the viewer, or
    for any seat once the game is over)."""
    held, start, values = (
        state.inventory(seat),
        state.start_inventory(seat),
        state.unit_values(seat),
    )
    lines = [
        f"  {name}: {held[r]} units, value {values[r]} each" for r, name in enumerate(RESOURCES)
    ]
    now, before = value_of(held, values), value_of(start, values)
    lines.append(f"  inventory value: {now} now, {before} at the start ({now - before:+d})")
    return lines


def talk_lines(state: NegotiationState, seat: int) -> list[str]:
    """What `seat` may see: its own goods, the conversation, the pending offer, the moves left;
    everyone's goods and the result once the game is over."""
    if state.is_chance_node():
        return ["The goods are being dealt."]
    over = state.is_terminal()
    lines = [] if over else ["Your goods:", *goods_lines(state, seat)]  # shown at the end below
    lines.append("Conversation:")
    talk = state.conversation()
    for i, (speaker, move, events) in enumerate(talk):
        who = "you" if speaker == seat else "opponent"
        note = f"   ({events})" if events else ""
        lines.append(f"  {i + 1}. {who}: {move}{note}")
    if not talk:
        lines.append("  nothing yet")
    pending = state.pending_offer()
    if pending is not None:
        offerer, give, receive = pending
        if offerer == seat:
            lines.append(f"Your offer: you give {goods_text(give)}, receive {goods_text(receive)}.")
        else:
            values = state.unit_values(seat)
            gain = value_of(give, values) - value_of(receive, values)
            lines.append(
                f"Their offer: you receive {goods_text(give)} and give {goods_text(receive)} "
                f"(change to your value: {gain:+d})."
            )
    if over:
        for other in (0, 1):
            who = "Your" if other == seat else "Opponent's"
            lines += [f"{who} final goods (growth {state.growth(other):+d}):"]
            lines += goods_lines(state, other)
        result = state.returns()[seat]
        lines.append(
            f"Result: {'you won' if result > 0 else 'you lost' if result < 0 else 'a tie'}."
        )
    else:
        lines.append(f"Moves left: {state.moves_left()} (both players together).")
    return lines


class NegotiationBoard(Board):
    """Chat box, offer builder and Accept/Deny."""

    DEFAULT_CSS = """
    NegotiationBoard { padding: 0 1; }
    NegotiationBoard #talk { height: 1fr; min-height: 4; }
    NegotiationBoard #chat { margin-top: 1; }
    NegotiationBoard #deal { height: auto; }
    NegotiationBoard #deal Button { margin-left: 1; min-width: 8; }
    NegotiationBoard #error { color: $error; height: auto; }
    """

    def compose(self) -> ComposeResult:
        view = self.view
        if view is None:
            yield Static("")
            return
        lines = talk_lines(view.state, view.seat)  # type: ignore[arg-type]
        with VerticalScroll(id="talk"):
            yield Static(literal("\n".join(lines)))
        if not view.legal:
            yield Static(Text(self.turn_text()), classes="muted")
            return
        yield Input(placeholder="say something (or type an [Offer: ...])", id="chat")
        offers = [a for a in view.legal if a.startswith("[Offer")]
        yield Select([(literal(o), o) for o in offers], prompt="offer (optional)", id="offer")
        with Horizontal(id="deal"):
            yield Button("Send", id="send", variant="primary")
            if ACCEPT in view.legal:
                yield Button("Accept", id="accept", variant="success")
            if DENY in view.legal:
                yield Button("Deny", id="deny", variant="error")
            if PASS in view.legal:
                yield Button("Pass", id="pass")
        yield Static(self.feedback_text(), id="error")

    def message_text(self, suffix: str = "") -> str:
        """The chat text with the chosen offer (or `suffix`, an Accept/Deny) appended."""
        chat = self.query_one("#chat", Input).value.strip()
        if not suffix:
            offer = self.query_one("#offer", Select).value
            suffix = "" if offer is Select.NULL else str(offer)
        return f"{chat} {suffix}".strip()

    def _send(self, text: str) -> None:
        error = self.choose(text)
        if error is not None:
            self.query_one("#error", Static).update(literal(f"Not sent: {error}"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id
        if button == "send":
            self._send(self.message_text())
        elif button == "accept":
            self._send(self.message_text(ACCEPT))
        elif button == "deny":
            self._send(self.message_text(DENY))
        elif button == "pass":
            self._send(PASS)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._send(self.message_text())
