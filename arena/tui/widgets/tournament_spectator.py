"""The spectator pane: the selected match's board and the model's reply as it streams in.

Everything shown here comes from players (names) and models (replies): it goes through
`arena.tui.safe.literal`, so Rich markup and escape sequences appear as typed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from arena.tui.safe import literal
from arena.tui.widgets.tournament_live import LiveMatch

IDLE = "No match selected: pick one in flight (arrows) to watch it."


class SpectatorPane(Vertical):
    """Shows one `LiveMatch`; `show()` is cheap when nothing changed (the view calls it on
    every tick)."""

    DEFAULT_CSS = """
    SpectatorPane { border: round $panel; padding: 0 1; }
    SpectatorPane #spec-title { text-style: bold; height: auto; max-height: 2; }
    SpectatorPane #spec-board { height: auto; margin: 0 0 1 0; }
    SpectatorPane #spec-verdict { color: $text-muted; height: auto; }
    SpectatorPane #spec-reply-title { color: $accent; height: auto; }
    SpectatorPane #spec-scroll { height: 1fr; min-height: 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: tuple[int, int] | None = None  # (slot id, version) on screen
        self.border_title = "spectator"

    def compose(self) -> ComposeResult:
        yield Static(IDLE, id="spec-title")
        with VerticalScroll(id="spec-scroll"):
            yield Static("", id="spec-board")
            yield Static("", id="spec-verdict")
            yield Static("", id="spec-reply-title")
            yield Static("", id="spec-reply")

    def show(self, match: LiveMatch | None) -> None:
        """Draw `match` (None: nothing selected) unless it is already on screen."""
        key = None if match is None else (match.slot_id, match.version)
        if key == self.shown:
            return
        self.shown = key
        title = self.query_one("#spec-title", Static)
        board = self.query_one("#spec-board", Static)
        verdict = self.query_one("#spec-verdict", Static)
        reply_title = self.query_one("#spec-reply-title", Static)
        reply = self.query_one("#spec-reply", Static)
        if match is None:
            title.update(IDLE)
            for part in (board, verdict, reply_title, reply):
                part.update("")
            return
        head = f"#{match.number} {match.game}: {' vs '.join(match.players)} · {match.moves} moves"
        if match.outcome:
            head += f" · ended: {match.outcome}"
        title.update(literal(head))
        board.update(literal(match.board or "(no move yet)"))
        verdict.update(literal(match.verdict))
        reply_title.update(literal(f"reply of {match.reply_title}" if match.reply_title else ""))
        reply.update(literal(match.reply_text()))
        scroll = self.query_one("#spec-scroll", VerticalScroll)
        if scroll.max_scroll_y - scroll.scroll_y < 3:  # follow the stream unless scrolled up
            scroll.scroll_end(animate=False)
