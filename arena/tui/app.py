"""`ArenaApp`: sections as Textual modes (each with its own screen stack), a command palette
with the main actions, a help screen, and a footer with the key bindings.

One keyboard model everywhere: a text box takes the letters typed (section keys work when none
has focus, and from the command palette always); Enter in any field of a form submits it; Esc
leaves the field that has focus, and Esc again goes back (`action_back`). A screen takes part
with an optional `step_back() -> bool` that closes what it has open (a form, a confirmation).

`make_app()` is the one factory used by the CLI, the tests and the benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Checkbox, DataTable, Input, Select, SelectionList, TextArea

from arena.tui.safe import tell
from arena.tui.sections import SECTIONS
from arena.tui.widgets.key_bar import WIDE

if TYPE_CHECKING:
    from sqlite_utils import Database


def _lazy(module: str, name: str) -> Callable[[], Screen]:
    """A screen factory that imports its module on first use (fast start)."""

    def make() -> Screen:
        import importlib

        return getattr(importlib.import_module(f"arena.tui.screens.{module}"), name)()

    return make


# Widgets that hold a form's value: Esc leaves them before it goes back.
FIELDS = (Input, TextArea, Select, SelectionList, Checkbox)


def leave_field(screen: Screen) -> bool:
    """Move focus out of the field that has it, to the screen's first visible table (its main
    one) or to nothing. False when no field had focus."""
    if not isinstance(screen.focused, FIELDS):
        return False
    home = next((w for w in screen.focus_chain if isinstance(w, DataTable)), None)
    screen.set_focus(home)
    return True


class ArenaApp(App):
    """The arena in a terminal."""

    TITLE = "Arena"
    SUB_TITLE = "models play games, get rated, get stronger"
    MODES = {mode: _lazy(module, cls) for mode, (module, cls, _, _) in SECTIONS.items()}
    DEFAULT_MODE = "leaderboard"
    # Screens get `-narrow` or `-wide`: their CSS (and the footer's) lays out for the width.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    BINDINGS = [
        *[
            Binding(
                key, f"switch_mode('{mode}')", title, id=f"section.{mode}", tooltip=f"Go to {title}"
            )
            for mode, (_, _, key, title) in SECTIONS.items()
        ],
        Binding(
            "escape",
            "back",
            "Back",
            show=False,
            id="app.back",
            tooltip="Leave the field; again: close the form or screen, or go to the Leaderboard",
        ),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Key bindings"),
        Binding(
            "q", "quit", "Quit", id="app.quit", tooltip="Quit (running tournaments stop cleanly)"
        ),
    ]

    def __init__(self, db_path: str | Path | None = None, *, seed_first_run: bool = True) -> None:
        super().__init__()
        self.db_path = db_path
        self.seed_first_run = seed_first_run
        self.players_ensured = False  # set after the first frame, by `ensure_players`
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        """The app's connection (used on the event loop's thread only)."""
        if self._db is None:
            from arena.store import open_db

            self._db = open_db(self.db_path)
        return self._db

    def on_mount(self) -> None:
        # After the first frame: the player specs and every game's bots are imported for it,
        # a fifth of a second the first paint need not wait for (bots unrated are not shown).
        self.call_after_refresh(self.ensure_players)

    def ensure_players(self) -> None:
        """Give the built-in bots their rows, and on a first run register the demo model."""
        from arena.store.players import ensure_builtin_players

        ensure_builtin_players(self.db)
        if self.seed_first_run:
            self.seed_demo_player()
        self.players_ensured = True  # (the first run's model may still be in the making)

    def seed_demo_player(self) -> None:
        """First run: register the shipped real model (SmolLM2-135M-Instruct, when its package
        is installed) and the shipped tictactoe model, or (an install without it) make the
        tiny local model in a thread and register that, so there is a model to play at once.
        Skipped when the player exists or the extras are missing."""
        from arena.models.demo import (
            DEMO_PLAYER,
            SHIPPED_PLAYER,
            missing_extras,
            shipped_model_path,
            shipped_spec,
        )
        from arena.specs import parse_spec
        from arena.store.players import add_player, find_player

        if missing_extras():
            return
        self.seed_real_model()
        shipped = shipped_model_path()
        if shipped is not None:  # a trained model came with the install: nothing to make
            if find_player(self.db, SHIPPED_PLAYER) is None:
                add_player(self.db, parse_spec(shipped_spec(shipped)))
            return
        if find_player(self.db, DEMO_PLAYER) is not None:
            return
        tell(self, "Making the tiny demo model (once, under a minute)...", timeout=8)
        self.run_worker(self._make_demo_model, thread=True, name="demo-model", exclusive=True)

    def seed_real_model(self) -> None:
        from arena.models.real import REAL_PLAYER, real_model_path, real_spec
        from arena.specs import parse_spec
        from arena.store.players import add_player, find_player

        real = real_model_path()
        if real is not None and find_player(self.db, REAL_PLAYER) is None:
            add_player(self.db, parse_spec(real_spec(real)))

    def _make_demo_model(self) -> None:
        # In a child process: torch stays out of the app, and training never holds our GIL.
        import subprocess
        import sys

        code = "from arena.models.demo import ensure_demo_model; print(ensure_demo_model())"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:  # shown, never fatal: the bots still play
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            self.call_from_thread(self.notify, f"tiny model: {last}", severity="error")
            return
        self.call_from_thread(self._register_demo, Path(done.stdout.strip().splitlines()[-1]))

    def _register_demo(self, gguf: Path) -> None:
        from arena.models.demo import DEMO_PLAYER, demo_spec
        from arena.specs import parse_spec
        from arena.store.players import add_player, find_player

        if find_player(self.db, DEMO_PLAYER) is None:
            add_player(self.db, parse_spec(demo_spec(gguf)))
        tell(self, f"{DEMO_PLAYER} is ready: play it (g) or rate it (t)")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, (_, _, key, title) in SECTIONS.items():
            yield SystemCommand(title, f"Open {title} ({key})", lambda m=mode: self.switch_mode(m))
        yield SystemCommand(
            "Start a tournament", "Open the tournament form", lambda: self.switch_mode("tournament")
        )
        yield SystemCommand(
            "Play a game", "Pick a game and an opponent", lambda: self.switch_mode("play")
        )
        yield SystemCommand("Key bindings", "Show every key binding", self.action_help)

    def action_help(self) -> None:
        from arena.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_back(self) -> None:
        """Esc: leave the field that has focus; with none, close what the screen has open,
        else the screen itself when it was pushed, else go to the default section."""
        screen = self.screen
        if leave_field(screen):
            return
        step_back: Callable[[], bool] | None = getattr(screen, "step_back", None)
        if step_back is not None and step_back():
            return
        if isinstance(screen, ModalScreen) or len(self.screen_stack) > 1:
            screen.dismiss()
        elif self.current_mode != self.DEFAULT_MODE:
            self.switch_mode(self.DEFAULT_MODE)

    def on_unmount(self) -> None:
        if self._db is not None:
            self._db.close()


def make_app(db_path: str | Path | None = None, *, seed_first_run: bool | None = None) -> ArenaApp:
    """The app on `db_path` (default: `ARENA_DB` or the user's data directory)."""
    if seed_first_run is None:
        seed_first_run = os.environ.get("ARENA_NO_SEED") is None
    return ArenaApp(db_path, seed_first_run=seed_first_run)
