"""The negotiation board: the conversation and your goods, a chat box for free text, an offer
builder (the legal offers, or an offer typed in the chat box), and Accept/Deny when an offer
is pending. A message is sent only when the game's parser turns it into a legal move."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Select, Static

from arena.tui.safe import literal
from arena.tui.widgets.boards.base import Board

_INSTRUCTIONS = ("It is your turn", "For example", "Legal moves include")
PASS, ACCEPT, DENY = "I pass.", "[Accept]", "[Deny]"


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
        lines = [
            line
            for line in view.observation().splitlines()
            if not line.strip().startswith(_INSTRUCTIONS)
        ]
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
