"""Players: the registry as a table, forms to add and edit players of every kind, removal with
confirmation, and a "test" action that asks a player for one move.

Editing, decided here: a player's spec is part of the record of every match it played, so a
player WITH matches is never changed in place. Saving its form under the same name is refused
with a message; saving under a new name adds a new player and leaves the old one as it was
(retire it with `d` if it should leave the lists). A player WITHOUT matches is replaced (its
name may change). A built-in bot cannot be edited: `e` on one opens a new player's form that
starts from it.

Keys: a add, e edit, d remove, T test (shift: plain `t` stays the app's Tournament key),
h show/hide retired players, Escape closes the form.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, DataTable, Header, Select, Static

from arena.specs import describe_spec
from arena.tui.safe import literal, show_error, tell
from arena.tui.widgets.key_bar import KeyBar
from arena.tui.widgets.player_form import PlayerForm

COLUMNS = ("name", "kind", "description", "matches", "status")


def probe_text(name: str, probe: Any) -> Text:
    """What a probe found, for the result pane (the reply is untrusted text)."""
    text = Text(f"{name} at {probe.game}: ", style="bold")
    text.append(f"{probe.latency_s:.3f} s · ")
    if probe.legal:
        text.append("legal move ")
        text.append_text(literal(probe.action, style="bold"))
    else:
        text.append("ILLEGAL: ", style="bold")
        text.append_text(literal(probe.error or "no move"))
    text.append("\nreply: ", style="bold")
    text.append_text(literal(probe.reply))
    return text


class PlayersScreen(Screen):
    """The players table; a/e/d/t add, edit, remove and test; the form validates per field."""

    DEFAULT_CSS = """
    PlayersScreen ContentSwitcher { height: 1fr; }
    PlayersScreen #list { height: 1fr; }
    PlayersScreen #players { height: 1fr; }
    PlayersScreen #hint { color: $text-muted; margin: 0 1; height: 1; }
    PlayersScreen #confirm { height: auto; margin: 0 1; display: none; background: $error 15%; }
    PlayersScreen #confirm.-shown { display: block; }
    PlayersScreen #confirm-text { width: 1fr; height: auto; }
    PlayersScreen #confirm Button { margin-left: 1; }
    PlayersScreen #probe-bar { height: 1; margin: 0 1; }
    PlayersScreen #probe-label { width: auto; color: $text-muted; margin-right: 1; }
    PlayersScreen #probe-game { width: 22; }
    PlayersScreen #probe-status { width: 1fr; margin-left: 1; color: $text-muted; }
    PlayersScreen #probe-pane { height: auto; max-height: 5; margin: 0 1; display: none; }
    PlayersScreen #probe-pane.-shown { display: block; }
    PlayersScreen #probe-pane.-error { color: $error; }
    """
    BINDINGS = [
        Binding("a", "add", "Add", id="players.add", tooltip="Add a player"),
        Binding("e", "edit", "Edit", id="players.edit", tooltip="Edit the selected player"),
        Binding("d,delete", "remove", "Remove", id="players.remove", tooltip="Remove or retire"),
        Binding("T", "test", "Test", id="players.test", tooltip="Ask the player for one move"),
        Binding("h", "toggle_retired", "Retired", id="players.retired", tooltip="Show retired"),
        Binding("y", "confirm(True)", "Yes", id="players.confirm", show=False),
        Binding(
            "escape",
            "escape",
            "Back",
            id="players.back",
            tooltip="Leave the field, then close the form (or the question)",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.include_retired = False
        self.rows: dict[str, Any] = {}  # name -> PlayerRow
        self.match_counts: dict[int, int] = {}
        self.removing: str | None = None

    def compose(self) -> ComposeResult:
        import games

        yield Header()
        with ContentSwitcher(initial="list"):
            with Vertical(id="list"):
                yield DataTable(id="players", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="confirm"):
                    yield Static(id="confirm-text")
                    yield Button("Remove", id="confirm-yes", variant="error", compact=True)
                    yield Button("Cancel", id="confirm-no", compact=True)
                yield Static("", id="hint")
            yield PlayerForm(id="form")
        with Horizontal(id="probe-bar"):
            yield Static("test at", id="probe-label")
            yield Select(
                [(g, g) for g in games.game_ids()],
                value="tictactoe",
                allow_blank=False,
                id="probe-game",
                compact=True,
            )
            yield Static("", id="probe-status")
        with VerticalScroll(id="probe-pane", can_focus=False):
            yield Static(id="probe-result")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#players", DataTable)
        for label in COLUMNS:
            table.add_column(label, key=label)
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self._mode() == "list":
            self.reload()

    # --- the table ------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        """Read the players (and how many matches each has played) into the table."""
        from arena.store.players import list_players, match_counts

        db = self.app.db
        players = list_players(db, include_retired=self.include_retired)
        self.rows = {p.name: p for p in players}
        self.match_counts = match_counts(db)
        table = self.query_one("#players", DataTable)
        current = select or self.selected_name()
        table.clear()
        for p in players:
            status = "retired" if p.retired_at else "built-in" if p.builtin else ""
            table.add_row(
                literal(p.name),
                p.kind,
                literal(describe_spec(p.spec)),
                self.match_counts.get(p.id, 0),
                status,
                key=p.name,
            )
        if current in self.rows:
            table.move_cursor(row=table.get_row_index(current))
        retired = "h: hide retired" if self.include_retired else "h: show retired"
        self.query_one("#hint", Static).update(
            f"{len(players)} players · a: add · e: edit · d: remove · T: test · {retired}"
        )

    def selected_name(self) -> str | None:
        table = self.query_one("#players", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _mode(self) -> str | None:
        return self.query_one(ContentSwitcher).current

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        try:
            mode = self._mode()
        except Exception:  # not composed yet
            return True
        if action in ("add", "edit", "remove", "test", "toggle_retired"):
            return mode == "list" and self.removing is None
        if action == "confirm":
            return self.removing is not None
        if action == "escape":
            return mode == "form" or self.removing is not None
        return True

    def action_toggle_retired(self) -> None:
        self.include_retired = not self.include_retired
        self.reload()

    # --- add and edit ---------------------------------------------------------------------
    def _open_form(self, spec: dict[str, Any], *, editing: str | None, title: str = "") -> None:
        self.query_one(ContentSwitcher).current = "form"
        self.query_one(PlayerForm).load(spec, editing=editing, title=title)
        self.refresh_bindings()

    def action_add(self) -> None:
        self._open_form({"kind": "bot", "name": ""}, editing=None)

    def action_edit(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        row = self.rows[name]
        if row.builtin:
            spec = {**row.spec, "name": ""}
            self._open_form(spec, editing=None, title=f"New player based on built-in {name}")
            tell(self, "built-in bots cannot be edited: this form adds a new player")
            return
        self._open_form(row.spec, editing=name)

    def _close_form(self, select: str | None = None) -> None:
        self.query_one(ContentSwitcher).current = "list"
        self.reload(select)
        self.query_one("#players", DataTable).focus()
        self.refresh_bindings()

    def on_player_form_cancelled(self, event: PlayerForm.Cancelled) -> None:
        self._close_form()

    def on_player_form_save_requested(self, event: PlayerForm.SaveRequested) -> None:
        from arena.store.players import (
            PlayerError,
            PlayerHasMatchesError,
            add_player,
            save_edited_player,
        )

        db, spec, form = self.app.db, event.spec, self.query_one(PlayerForm)
        try:
            if event.editing is None:
                add_player(db, spec)
                verb = "added"
            else:
                # whether it has played is read in the same transaction as the change
                verb = save_edited_player(db, event.editing, spec)
        except PlayerHasMatchesError:
            form.show_errors(
                {
                    "name": f"{event.editing!r} has played matches, and its spec is part "
                    "of their record: save under a new name (the old player stays; "
                    "retire it with d)"
                }
            )
            return
        except PlayerError as exc:
            form.show_errors({"name": str(exc)})
            return
        tell(self, f"{spec.name}: {verb}")
        self._close_form(select=spec.name)

    def action_escape(self) -> None:
        # Shown in the footer while a form or question is open; the app's Esc does the rest.
        self.app.action_back()  # type: ignore[attr-defined]

    def step_back(self) -> bool:
        """Close the question or the form (Esc, once no field has focus)."""
        if self.removing is not None:
            self._end_confirm()
        elif self._mode() == "form":
            self._close_form()
        else:
            return False
        return True

    # --- remove -------------------------------------------------------------------------
    def action_remove(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        row = self.rows[name]
        if row.builtin:
            tell(self, f"{name} is a built-in bot and cannot be removed", severity="warning")
            return
        if row.retired_at:
            tell(self, f"{name} is already retired")
            return
        played = self.match_counts.get(row.id, 0)
        what = (
            f"it has {played} matches: it is retired (hidden, its history kept)"
            if played
            else "it has no matches: it is deleted"
        )
        text = Text("Remove ")
        text.append_text(literal(name, style="bold"))
        text.append(f"? {what}.  y: yes  esc: no")
        self.query_one("#confirm-text", Static).update(text)
        self.removing = name
        self.query_one("#confirm").add_class("-shown")
        self.query_one("#confirm-no", Button).focus()
        self.refresh_bindings()

    def _end_confirm(self) -> None:
        self.removing = None
        self.query_one("#confirm").remove_class("-shown")
        self.query_one("#players", DataTable).focus()
        self.refresh_bindings()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("confirm-yes", "confirm-no"):
            event.stop()
            self.action_confirm(event.button.id == "confirm-yes")

    def action_confirm(self, yes: bool) -> None:
        from arena.store.players import PlayerError, remove_player

        name = self.removing
        self._end_confirm()
        if not yes or name is None:
            return
        try:
            outcome = remove_player(self.app.db, name)
        except PlayerError as exc:
            show_error(self, exc)
            return
        tell(self, f"{name}: {outcome}")
        self.reload()

    # --- test -----------------------------------------------------------------------------
    def action_test(self) -> None:
        from arena.specs import SpecError

        name = self.selected_name()
        if name is None:
            return
        try:
            spec = self.rows[name].parsed_spec()
        except SpecError as exc:
            self._show_probe(literal(str(exc)), error=True)
            return
        self.start_probe(spec)

    def on_player_form_test_requested(self, event: PlayerForm.TestRequested) -> None:
        self.start_probe(event.spec)

    def start_probe(self, spec: Any) -> None:
        """Ask `spec` for one move in an async worker (a newer test replaces a running one)."""
        if spec.kind == "human":
            self._show_probe(Text("people are not tested: they answer in Play"), error=True)
            return
        game = str(self.query_one("#probe-game", Select).value)
        status = Text("asking ")
        status.append_text(literal(spec.name))
        status.append(f" for one move at {game}…")
        self.query_one("#probe-status", Static).update(status)
        self.run_worker(self._probe(spec, game), group="probe", exclusive=True)

    async def _probe(self, spec: Any, game: str) -> None:
        from arena.backends.base import BackendError
        from arena.sessions import probe_player

        try:
            probe = await probe_player(spec, game)
        except BackendError as exc:
            self._show_probe(literal(f"{spec.name}: backend error: {exc}"), error=True)
        except Exception as exc:  # a bot without this game, a model that cannot constrain...
            self._show_probe(literal(f"{spec.name}: {type(exc).__name__}: {exc}"), error=True)
        else:
            self._show_probe(probe_text(spec.name, probe), error=False)

    def _show_probe(self, text: Text, *, error: bool) -> None:
        self.query_one("#probe-status", Static).update("")
        self.query_one("#probe-result", Static).update(text)
        pane = self.query_one("#probe-pane")
        pane.add_class("-shown")
        pane.set_class(error, "-error")
