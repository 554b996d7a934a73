"""The help screen: every key binding of the app and of the current section."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from arena.tui.app import SECTIONS


class HelpScreen(ModalScreen[None]):
    """Key bindings, dismissed with Escape or ?."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        lines = ["[b]Arena: key bindings[/b]", ""]
        for _, (_, _, key, title) in SECTIONS.items():
            lines.append(f"  {key:<10} {title}")
        lines += [
            f"  {'?':<10} this help",
            f"  {'ctrl+p':<10} command palette (every action by name)",
            f"  {'q':<10} quit",
            "",
            "[b]In the sections[/b]",
            f"  {'enter':<10} open / choose the selected row",
            f"  {'arrows':<10} move; in a board, the arrows move the cursor and enter plays",
            f"  {'s':<10} sort the leaderboard by the next column",
            f"  {'space':<10} pause or resume a running tournament (Tournament)",
            f"  {'x':<10} stop a running tournament (Tournament)",
            f"  {'u':<10} resume the watched, interrupted tournament here (Tournament)",
            f"  {'n v a':<10} new / live / all tournaments tabs (Tournament)",
            f"  {'n / b':<10} next / previous move; home / end: first / last (Replays)",
            f"  {'v':<10} show or hide the prompts (Replays)",
            f"  {'a e d':<10} add / edit / remove a player (Players)",
            f"  {'T':<10} test: ask the selected player for one move (Players)",
            f"  {'h':<10} show or hide the opponent's reasoning (Play)",
            f"  {'x / u / s':<10} stop / resume a job; s: samples or log (Training)",
        ]
        with VerticalScroll():
            yield Static("\n".join(lines))
