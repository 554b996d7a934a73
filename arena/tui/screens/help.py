"""The help screen, generated from the real key bindings: the app's own `BINDINGS`, then each
section's screen, the other screens and the widgets with keys of their own. A binding added
anywhere in `arena.tui` shows up here with no edit to this file."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from arena.tui.sections import SECTIONS

if TYPE_CHECKING:
    from textual.dom import DOMNode

NOTE = (
    "In a table the arrows move and enter opens or chooses the row. A text box takes the "
    "letters typed: there, use the f-keys, or escape to leave it. Enter in any field of a "
    "form submits it."
)


@dataclass(frozen=True)
class KeyLine:
    """One action and every key bound to it, as Textual displays them ("d / delete")."""

    keys: str
    description: str
    tooltip: str


@dataclass(frozen=True)
class HelpSection:
    title: str
    lines: list[KeyLine]


def own_bindings(cls: type[DOMNode]) -> list[Binding]:
    """The bindings `cls` declares itself (not inherited), compound keys expanded. Read from
    the class at call time, so a binding added later is seen."""
    return list(Binding.make_bindings(cls.__dict__.get("BINDINGS", [])))


def key_lines(app: App, bindings: list[Binding]) -> list[KeyLine]:
    """Bindings of one action and description merged into one line, in declaration order;
    bindings with neither description nor tooltip are left out."""
    merged: dict[tuple[str, str], list[Binding]] = {}
    for binding in bindings:
        if binding.description or binding.tooltip:
            merged.setdefault((binding.action, binding.description), []).append(binding)
    lines = []
    for group in merged.values():
        keys = " / ".join(dict.fromkeys(app.get_key_display(b) for b in group))
        first = group[0]
        lines.append(KeyLine(keys, first.description or first.tooltip, first.tooltip))
    return lines


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    names = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
    return [root] + [importlib.import_module(name) for name in sorted(names)]


def _defined_in(module: ModuleType, base: type) -> list[type]:
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, base) and v.__module__ == module.__name__
    ]


def _widget_group(module: str) -> str:
    """`arena.tui.widgets.boards.grid` -> `arena.tui.widgets.boards`: a screen that uses one
    module of a widget package uses the package's widgets."""
    return ".".join(module.split(".")[:4])


def _used_groups(module: ModuleType) -> set[str]:
    names = set()
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", "")
        if isinstance(name, str) and name.startswith("arena.tui.widgets."):
            names.add(_widget_group(name))
    return names


def _title(cls: type) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__.removesuffix("Screen")).lower()
    return words[:1].upper() + words[1:]


def help_sections(app: App) -> list[HelpSection]:
    """Every key binding of `app`, grouped: the app's (everywhere), each section's screen
    with the widgets it uses, the other screens, the widgets no screen names."""
    app_bindings: list[Binding] = []
    for cls in type(app).__mro__:
        if cls is App:
            break
        app_bindings[:0] = own_bindings(cls)
    if app.ENABLE_COMMAND_PALETTE:
        app_bindings.append(
            Binding(
                app.COMMAND_PALETTE_BINDING,
                "command_palette",
                "Commands",
                tooltip="Every action by name",
            )
        )
    sections = [HelpSection("Everywhere", key_lines(app, app_bindings))]

    screen_modules = {m.__name__: m for m in _modules("arena.tui.screens")}
    widgets = [
        w for m in _modules("arena.tui.widgets") for w in _defined_in(m, Widget) if own_bindings(w)
    ]
    placed: set[type] = set()

    def screen_section(cls: type[Screen], title: str) -> HelpSection:
        used = _used_groups(screen_modules[cls.__module__])
        bindings = own_bindings(cls)
        for widget in widgets:
            if _widget_group(widget.__module__) in used:
                bindings += own_bindings(widget)
                placed.add(widget)
        return HelpSection(title, key_lines(app, bindings))

    section_classes = set()
    for module, name, key, title in SECTIONS.values():
        cls = getattr(screen_modules[f"arena.tui.screens.{module}"], name)
        section_classes.add(cls)
        sections.append(screen_section(cls, f"{title} ({app.get_key_display(Binding(key, ''))})"))
    for module in screen_modules.values():
        for cls in _defined_in(module, Screen):
            if cls not in section_classes and own_bindings(cls):
                sections.append(screen_section(cls, _title(cls)))
    for widget in widgets:
        if widget not in placed:
            sections.append(HelpSection(_title(widget), key_lines(app, own_bindings(widget))))
    return [s for s in sections if s.lines]


class HelpScreen(ModalScreen[None]):
    """Key bindings, dismissed with Escape or ?."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen .title { text-style: bold; color: $accent; margin-top: 1; }
    HelpScreen #heading { margin-top: 0; }
    HelpScreen .binding { height: auto; }
    HelpScreen .keys { width: 16; }
    HelpScreen .what { width: 1fr; }
    HelpScreen #note { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Arena: key bindings", classes="title", id="heading")
            for section in help_sections(self.app):
                yield Static(section.title, classes="title", markup=False)
                for line in section.lines:
                    what = Content.styled(line.description, "bold")
                    if line.tooltip and line.tooltip != line.description:
                        what = Content.assemble(what, ": ", line.tooltip)
                    with Horizontal(classes="binding"):
                        yield Static(line.keys, classes="keys", markup=False)
                        yield Static(what, classes="what")
            yield Static(NOTE, id="note", markup=False)

    def shown_lines(self) -> list[tuple[str, str]]:
        """(keys, text) of every binding row shown, top to bottom (for tests)."""
        return [
            (str(row.query_one(".keys", Static).visual), str(row.query_one(".what", Static).visual))
            for row in self.query(".binding")
        ]


__all__ = ["HelpScreen", "HelpSection", "KeyLine", "help_sections", "own_bindings"]
