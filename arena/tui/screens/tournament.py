"""The tournament section (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class TournamentScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("tournament")
        yield Footer()
