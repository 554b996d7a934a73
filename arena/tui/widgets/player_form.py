"""`PlayerForm`: add or edit a player of any kind, validated by the spec classes.

One input per spec field (`player_fields.FIELDS`); the rows shown follow the kind. Validation is
`parse_spec`: every "  field: problem" line of its `SpecError` is shown under that field's input;
a key variable that is not set is a warning at its field. The form touches no database: it posts
`SaveRequested` / `TestRequested` / `Cancelled` with the validated spec and its parent screen
does the rest (messages up), telling the form about a refusal with `show_errors` (attributes
down).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from arena.player_fields import (
    BY_KEY,
    FIELDS,
    FORM_KINDS,
    FieldDef,
    build_spec_dict,
    default_value,
    extra_keys,
    form_values,
    key_warnings,
    spec_errors,
)
from arena.secrets import looks_like_secret
from arena.specs import SpecError, parse_spec
from arena.tui.safe import literal


class PlayerForm(Vertical):
    """The add/edit form. `load()` fills it; Save and Test post the validated spec."""

    DEFAULT_CSS = """
    PlayerForm { height: 1fr; }
    PlayerForm #form-title { height: 1; margin: 0 1; text-style: bold; color: $accent; }
    PlayerForm #form-fields { height: 1fr; padding: 0 1; }
    PlayerForm .field-row { height: auto; }
    PlayerForm .field-label { width: 20; padding-right: 1; color: $text-muted; }
    PlayerForm .field-body { width: 1fr; height: auto; }
    PlayerForm .field-body Input, PlayerForm .field-body Select { width: 1fr; }
    PlayerForm .field-body Checkbox { width: auto; }
    PlayerForm .field-note { height: auto; display: none; }
    PlayerForm .field-note.-error { display: block; color: $error; }
    PlayerForm .field-note.-warning { display: block; color: $warning; }
    PlayerForm #form-general { height: auto; margin: 0 1; color: $error; display: none; }
    PlayerForm #form-general.-shown { display: block; }
    PlayerForm #form-buttons { height: 1; margin: 0 1; }
    PlayerForm #form-buttons Button { margin-right: 2; min-width: 8; }
    """

    class SaveRequested(Message):
        """The form holds a valid spec and the user asked to save it."""

        def __init__(self, spec: Any, editing: str | None) -> None:
            super().__init__()
            self.spec = spec
            self.editing = editing  # the name of the player being edited; None = a new one

    class TestRequested(Message):
        """Ask the model in the form for one move (without saving it)."""

        def __init__(self, spec: Any) -> None:
            super().__init__()
            self.spec = spec

    class Cancelled(Message):
        """The user left the form without saving."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.editing: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="form-title")
        # Not a stop of its own in the tab order: focusing a field scrolls it into view.
        with VerticalScroll(id="form-fields", can_focus=False):
            with Horizontal(classes="field-row"):
                yield Label("kind", classes="field-label")
                with Vertical(classes="field-body"):
                    yield Select(
                        [(k, k) for k in FORM_KINDS],
                        value="bot",
                        allow_blank=False,
                        id="f-kind",
                        compact=True,
                    )
            for f in FIELDS:
                with Horizontal(classes="field-row", id=f"row-{f.widget_id}"):
                    yield Label(f.label, classes="field-label")
                    with Vertical(classes="field-body"):
                        yield self._input(f)
                        yield Static("", classes="field-note", id=f"note-{f.widget_id}")
        yield Static(id="form-general")
        with Horizontal(id="form-buttons"):
            yield Button("Save", id="form-save", variant="primary", compact=True)
            yield Button("Test", id="form-test", compact=True)
            yield Button("Cancel", id="form-cancel", compact=True)

    @staticmethod
    def _input(f: FieldDef) -> Input | Select | Checkbox:
        if f.type == "bool":
            return Checkbox("on", id=f.widget_id, compact=True)
        if f.type == "choice":
            prompt = "(same as name)" if f.key == "bot" else "(default)"
            return Select(
                [(c, c) for c in f.choices],
                prompt=prompt,
                allow_blank=f.nullable,
                id=f.widget_id,
                compact=True,
            )
        return Input(placeholder=f.hint, id=f.widget_id, compact=True)

    # --- filling ------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return str(self.query_one("#f-kind", Select).value)

    def load(self, spec: dict[str, Any], *, editing: str | None = None, title: str = "") -> None:
        """Fill the form from a spec dict (a stored one to edit, or a starting point)."""
        self.editing = editing
        kind = spec.get("kind") or "bot"
        kind_select = self.query_one("#f-kind", Select)
        with kind_select.prevent(Select.Changed):
            kind_select.value = kind
        for key, value in form_values(spec, kind).items():
            widget = self.query_one(f"#{_wid(key)}")
            with widget.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
                if isinstance(widget, Select):
                    widget.value = Select.NULL if value is None else value
                else:
                    widget.value = value
        heading = title or (f"Edit {editing}" if editing else "New player")
        self.query_one("#form-title", Static).update(literal(heading))
        self.clear_notes()
        self._show_kind(kind)
        self._shown_kind = kind
        self.query_one("#f-name", Input).focus()

    def _show_kind(self, kind: str) -> None:
        for f in FIELDS:
            self.query_one(f"#row-{f.widget_id}").display = kind in f.kinds
        self.query_one("#form-test", Button).display = kind != "human"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "f-kind":
            event.stop()
            self.clear_notes()
            self._follow_kind_defaults(getattr(self, "_shown_kind", None), self.kind)
            self._show_kind(self.kind)
            self._shown_kind = self.kind

    def _follow_kind_defaults(self, old: str | None, new: str) -> None:
        """Fields whose default depends on the kind (a local model reasons, then answers
        among the legal moves; an API model answers in free text) follow a change of kind
        unless the user changed them."""
        if old is None or old == new:
            return
        for f in FIELDS:
            if new not in f.kinds or f.type != "choice":
                continue
            after = default_value(f.key, new)
            widget = self.query_one(f"#{_wid(f.key)}", Select)
            # A field the old kind hid cannot have been changed by the user.
            untouched = old not in f.kinds or widget.value == default_value(f.key, old)
            if untouched and widget.value != after:
                with widget.prevent(Select.Changed):
                    widget.value = after

    def on_input_changed(self, event: Input.Changed) -> None:
        # The key variable is checked as it is typed: a warning, never a block.
        if event.input.id == "f-api_key_env":
            # A key pasted here is masked on screen at once (saving refuses it anyway).
            event.input.password = looks_like_secret(event.value.strip())
            self._note("api_key_env", "")
            for key, text in key_warnings("openai", event.value.strip()).items():
                self._note(key, text, warning=True)

    # --- values and validation -------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The raw value of every field's input (text, bool, or a choice / None)."""
        out: dict[str, Any] = {}
        for f in FIELDS:
            widget = self.query_one(f"#{f.widget_id}")
            value = widget.value
            out[f.key] = None if value is Select.NULL else value
        return out

    def validate(self) -> Any | None:
        """The spec the form describes, or None after showing each problem at its field."""
        self.clear_notes()
        values = self.values()
        data, errors = build_spec_dict(self.kind, values)
        spec = None
        general: list[str] = []
        if not errors:
            try:
                spec = parse_spec(data)
            except SpecError as exc:
                errors, general = spec_errors(exc, self.kind, extra_keys(values))
        self.show_errors(errors, general)
        if spec is not None:
            for key, text in key_warnings(spec.kind, getattr(spec, "api_key_env", None)).items():
                self._note(key, text, warning=True)
        return spec

    def show_errors(self, errors: dict[str, str], general: list[str] | None = None) -> None:
        """Show problems at their fields (and the rest above the buttons)."""
        for key, text in errors.items():
            self._note(key, text)
        box = self.query_one("#form-general", Static)
        lines = list(general or [])
        if errors:
            lines.insert(0, f"{len(errors)} field(s) need attention")
        box.update(literal("\n".join(lines)))
        box.set_class(bool(lines), "-shown")
        if errors:
            first = next(f for f in FIELDS if f.key in errors)
            self.query_one(f"#row-{first.widget_id}").scroll_visible(animate=False)

    def _note(self, key: str, text: str, *, warning: bool = False) -> None:
        note = self.query_one(f"#note-{_wid(key)}", Static)
        note.update(literal(text))
        note.set_class(bool(text) and not warning, "-error")
        note.set_class(bool(text) and warning, "-warning")

    def clear_notes(self) -> None:
        for f in FIELDS:
            self._note(f.key, "")
        box = self.query_one("#form-general", Static)
        box.update(Text(""))
        box.remove_class("-shown")

    def note_text(self, key: str) -> str:
        """The error or warning shown at a field ("" when none)."""
        note = self.query_one(f"#note-{_wid(key)}", Static)
        return str(note.visual) if note.has_class("-error") or note.has_class("-warning") else ""

    # --- buttons ------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-cancel":
            self.post_message(self.Cancelled())
        elif event.button.id == "form-save":
            self.save()
        elif event.button.id == "form-test":
            spec = self.validate()
            if spec is not None:
                self.post_message(self.TestRequested(spec))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in any field saves, like pressing Save
        self.save()

    def save(self) -> None:
        """Post `SaveRequested` with the validated spec, or show each problem at its field."""
        spec = self.validate()
        if spec is not None:
            self.post_message(self.SaveRequested(spec, self.editing))


def _wid(key: str) -> str:
    return BY_KEY[key].widget_id
