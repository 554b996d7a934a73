"""The form that starts a tournament: games and players, then one input per setting in
`arena.tournament.fields` (the same descriptions `arena tournament run`'s options are built
from). It only gathers text: the screen validates it with the same `parse_config` and
`create_tournament` as the CLI and hands any error back (`show_problems`, `show_error`)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from arena.fields import FieldDef, Problem, from_text
from arena.tournament.config import DUPLICATE_DEFAULT
from arena.tournament.fields import FIELDS, FORMATS, LABELS, default, placeholder
from arena.tui.safe import literal

PER_ROW = 3


def _wid(field: FieldDef) -> str:
    return field.key.replace("_", "-")


def _rows() -> list[list[FieldDef]]:
    """The inputs' rows: the format with the settings only some formats have, then the rest,
    three to a row, in the order `FIELDS` gives them."""
    first = [f for f in FIELDS if f.key == "format" or f.kinds != FORMATS]
    rest = [f for f in FIELDS if f not in first]
    return [first] + [rest[i : i + PER_ROW] for i in range(0, len(rest), PER_ROW)]


def _bool_default(field: FieldDef, fmt: str) -> bool:
    """What a bool setting left unset means in the format (`duplicate`: the format's own)."""
    if field.key == "duplicate":
        return DUPLICATE_DEFAULT[fmt]
    return bool(default(field.key))


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
        for row in _rows():
            with Horizontal(classes="form-row"):
                for f in row:
                    hidden = "" if "round_robin" in f.kinds else "hidden"
                    with Vertical(id=f"{_wid(f)}-box", classes=hidden):
                        yield Label(f.label, classes="field-label")
                        yield self._input(f)
        yield Static("", id="form-error")
        yield Button("Start", variant="primary", id="start")

    def _input(self, f: FieldDef) -> Input | Select | Checkbox:
        if f.key == "challenger":
            return Select([(literal(p), p) for p in self._players], id="challenger")
        if f.type == "choice":
            return Select(
                [(c, c) for c in f.choices], value=default(f.key), allow_blank=False, id=_wid(f)
            )
        if f.type == "bool":
            # shows what an unset setting means for the format (`_bool_default`)
            return Checkbox("on", _bool_default(f, "round_robin"), tooltip=f.help, id=_wid(f))
        value = default(f.key)
        text = "" if value is None else str(value)
        kind = {"int": "integer", "float": "number"}.get(f.type, "text")
        return Input(text, type=kind, placeholder=placeholder(f), tooltip=f.help, id=_wid(f))

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
    def show_problems(self, problems: list[Problem]) -> None:
        """Show a config's problems as sentences naming each field by its label here."""
        self.show_error("\n".join(p.sentence(LABELS.get(p.loc, "")) for p in problems))

    def data(self) -> dict[str, Any]:
        """The config as plain data for `parse_config`: text, for the config to judge; a blank
        field sets nothing (its placeholder says what that means)."""
        fmt = str(self.query_one("#format", Select).value)
        out: dict[str, Any] = {
            "format": fmt,
            "games": list(self.query_one("#games", SelectionList).selected),
            "players": list(self.query_one("#players", SelectionList).selected),
        }
        for f in FIELDS:
            if f.key in ("format", "challenger") or fmt not in f.kinds:
                continue
            value = self.query_one(f"#{_wid(f)}").value
            if f.type == "bool" and value == _bool_default(f, fmt):
                continue  # as the format has it: left unset, as on the command line
            given, parsed = from_text(f, None if value is Select.NULL else value)
            if given and parsed is not None:
                out[f.key] = parsed
        if fmt == "gauntlet":
            challenger = self.query_one("#challenger", Select).value
            if challenger is not Select.NULL:
                out["challenger"] = challenger
                # the challenger plays everyone in the field, not itself
                out["players"] = [p for p in out["players"] if p != challenger]
        return out

    # --- events ------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "format":
            return
        fmt = str(event.value)
        for f in FIELDS:
            self.query_one(f"#{_wid(f)}-box").set_class(fmt not in f.kinds, "hidden")
            if f.type == "bool":
                self.query_one(f"#{_wid(f)}", Checkbox).value = _bool_default(f, fmt)

    def submit(self) -> None:
        """Post the gathered config, or show why it cannot be read."""
        self.post_message(self.Submitted(self.data()))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            event.stop()
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in any field starts, like pressing Start
        self.submit()
