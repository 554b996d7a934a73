"""The form that starts a tournament: games, players, format, games per pair, concurrency,
seed and name. It only gathers plain data: the screen validates it with the same
`parse_config` and `create_tournament` as the CLI and hands any error back to `show_error`."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from arena.tui.safe import literal

FORMATS = ("round_robin", "gauntlet", "swiss", "ladder")
INTEGER_FIELDS = (  # input id, config key, shown for these formats (None: all)
    ("games-per-pair", "games_per_pair", None),
    ("concurrency", "concurrency", None),
    ("seed", "seed", None),
    ("rounds", "rounds", ("swiss",)),
    ("matches", "matches", ("ladder",)),
)


class TournamentForm(VerticalScroll):
    """Gathers a tournament config; posts `Submitted` when Start (or Enter in a field) is
    pressed."""

    can_focus = False  # not a tab stop of its own: focusing a field scrolls it into view

    DEFAULT_CSS = """
    TournamentForm { padding: 0 1; }
    TournamentForm Label { color: $text-muted; margin: 1 0 0 0; }
    TournamentForm .form-lists { height: auto; }
    TournamentForm .form-lists > Vertical { width: 1fr; height: auto; }
    TournamentForm SelectionList { height: 8; }
    TournamentForm .form-row { height: auto; }
    TournamentForm .form-row > Vertical { width: 1fr; height: auto; margin: 0 1 0 0; }
    TournamentForm #form-error { color: $error; height: auto; margin: 1 0 0 0; }
    TournamentForm #start { margin: 1 0; }
    TournamentForm .hidden { display: none; }
    """

    class Submitted(Message):
        """Start was pressed; `data` is a tournament config as plain data."""

        def __init__(self, data: dict[str, Any]) -> None:
            super().__init__()
            self.data = data

    def __init__(self, games: list[str], players: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._games = games
        self._players = players

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-lists"):
            with Vertical():
                yield Label("games (space selects)")
                yield SelectionList[str](*[Selection(g, g) for g in self._games], id="games")
            with Vertical():
                yield Label("players")
                yield SelectionList[str](
                    *[Selection(literal(p), p) for p in self._players], id="players"
                )
        with Horizontal(classes="form-row"):
            with Vertical():
                yield Label("format")
                yield Select(
                    [(f, f) for f in FORMATS], value="round_robin", allow_blank=False, id="format"
                )
            with Vertical(id="challenger-box", classes="hidden"):
                yield Label("challenger")
                yield Select([(literal(p), p) for p in self._players], id="challenger")
            with Vertical(id="rounds-box", classes="hidden"):
                yield Label("rounds (blank: auto)")
                yield Input(type="integer", id="rounds")
            with Vertical(id="matches-box", classes="hidden"):
                yield Label("matches (blank: auto)")
                yield Input(type="integer", id="matches")
        with Horizontal(classes="form-row"):
            with Vertical():
                yield Label("games per pair")
                yield Input("2", type="integer", id="games-per-pair")
            with Vertical():
                yield Label("concurrency")
                yield Input("4", type="integer", id="concurrency")
            with Vertical():
                yield Label("seed")
                yield Input("0", type="integer", id="seed")
        yield Label("name (optional)")
        yield Input(placeholder="a name to find it by", id="name")
        yield Static("", id="form-error")
        yield Button("Start", variant="primary", id="start")

    # --- attributes down ---------------------------------------------------------------
    def set_players(self, players: list[str]) -> None:
        """Offer a new list of players (registered ones may have changed); keeps selections."""
        if players == self._players:
            return
        self._players = players
        chosen = set(self.query_one("#players", SelectionList).selected)
        plist = self.query_one("#players", SelectionList)
        plist.clear_options()
        plist.add_options([Selection(literal(p), p, p in chosen) for p in players])
        challenger = self.query_one("#challenger", Select)
        current = challenger.value
        challenger.set_options([(literal(p), p) for p in players])
        if current in players:
            challenger.value = current

    def show_error(self, message: str) -> None:
        """Show why the tournament could not start (empty clears it)."""
        self.query_one("#form-error", Static).update(literal(message))

    @property
    def error_text(self) -> str:
        """The error on show (empty when none)."""
        return str(self.query_one("#form-error", Static).content)

    # --- gathering ---------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        """The config as plain data for `parse_config`; blank fields take the defaults."""
        fmt = str(self.query_one("#format", Select).value)
        out: dict[str, Any] = {
            "format": fmt,
            "games": list(self.query_one("#games", SelectionList).selected),
            "players": list(self.query_one("#players", SelectionList).selected),
        }
        name = self.query_one("#name", Input).value.strip()
        if name:
            out["name"] = name
        if fmt == "gauntlet":
            challenger = self.query_one("#challenger", Select).value
            if challenger is not Select.NULL:
                out["challenger"] = challenger
                # the challenger plays everyone in the field, not itself
                out["players"] = [p for p in out["players"] if p != challenger]
        for input_id, key, formats in INTEGER_FIELDS:
            if formats is not None and fmt not in formats:
                continue
            text = self.query_one(f"#{input_id}", Input).value.strip()
            if text:
                try:
                    out[key] = int(text)
                except ValueError:
                    label = input_id.replace("-", " ")
                    raise ValueError(f"{label}: {text!r} is not a whole number") from None
        return out

    # --- events ------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "format":
            return
        fmt = str(event.value)
        self.query_one("#challenger-box").set_class(fmt != "gauntlet", "hidden")
        self.query_one("#rounds-box").set_class(fmt != "swiss", "hidden")
        self.query_one("#matches-box").set_class(fmt != "ladder", "hidden")

    def submit(self) -> None:
        """Post the gathered config, or show why it cannot be read."""
        try:
            data = self.data()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.post_message(self.Submitted(data))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            event.stop()
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in any field starts, like pressing Start
        self.submit()
