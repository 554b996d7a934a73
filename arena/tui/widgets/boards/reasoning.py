"""The opponent's reasoning: their raw reply for the current or last move, streamed in.

Token pieces are buffered by `feed()` (cheap, callable for every token) and drawn by a timer a
few times a second, so a fast model costs a handful of redraws, not one per token. The reply is
untrusted text: it is shown literally (markup and escape sequences visible, never interpreted).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from arena.tui.safe import literal


class ReasoningPane(VerticalScroll):
    """Shows one player's reply as it streams, then what it parsed to."""

    FLUSH_S = 0.08
    DEFAULT_CSS = """
    ReasoningPane {
        width: 35%; max-width: 60; min-width: 24; height: 1fr;
        border-left: vkey $accent; padding: 0 1;
    }
    ReasoningPane #reasoning-title { text-style: bold; color: $accent; }
    ReasoningPane #reasoning-verdict { margin-top: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reply = ""  # the reply text shown so far (raw, as the model wrote it)
        self.updates = 0  # redraws of the reply (the coalescing test counts them)
        self._pieces: list[str] = []
        self._dirty = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Opponent's reasoning"), id="reasoning-title")
        yield Static(Text("(nothing yet)", style="dim"), id="reasoning-text")
        yield Static("", id="reasoning-verdict")

    def on_mount(self) -> None:
        self.set_interval(self.FLUSH_S, self.flush)

    def begin(self, player: str, attempt: int = 0) -> None:
        """A new reply starts (the title names the player and the retry)."""
        title = Text("Reasoning of ")
        title.append_text(literal(player))
        if attempt:
            title.append(f" (retry {attempt})")
        self.query_one("#reasoning-title", Static).update(title)
        self.query_one("#reasoning-verdict", Static).update("")
        self._pieces.clear()
        self.reply = ""
        self._dirty = True

    def feed(self, piece: str) -> None:
        """A streamed piece of the reply; drawn at the next flush."""
        self._pieces.append(piece)

    def settle(self, raw: str, action: str | None, error: str | None) -> None:
        """The whole reply and what it parsed to (replaces the streamed pieces)."""
        self._pieces.clear()
        self.reply = raw
        self._dirty = True
        verdict = Text()
        if action is not None:
            verdict.append("move: ", style="bold")
            verdict.append_text(literal(action))
        else:
            verdict.append("illegal: ", style="bold red")
            verdict.append_text(literal(error or "no move"))
        self.query_one("#reasoning-verdict", Static).update(verdict)
        self.flush()

    def flush(self) -> None:
        """Draw what arrived since the last flush (called by the timer)."""
        if self._pieces:
            pieces, self._pieces = self._pieces, []
            self.reply += "".join(pieces)
            self._dirty = True
        if not self._dirty:
            return
        self._dirty = False
        self.updates += 1
        self.query_one("#reasoning-text", Static).update(literal(self.reply))
        self.scroll_end(animate=False)

    def rendered_text(self) -> str:
        """The reply as drawn on screen (plain text, escapes visible)."""
        return str(self.query_one("#reasoning-text", Static).render())
