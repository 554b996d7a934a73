"""Help is generated from the real bindings; the leaderboard hides removed (retired) players
until `h` shows them, marked."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

import arena.tui
from arena.tui.app import ArenaApp, make_app
from tests.test_leaderboard_retired import build_db_with_a_retired_player


def arena_binding_classes() -> list[type]:
    """The app and every widget or screen class of arena.tui that declares bindings, found
    by importing every module and walking Textual's class tree (not the help's own walk)."""
    for module in pkgutil.walk_packages(arena.tui.__path__, "arena.tui."):
        importlib.import_module(module.name)
    found, todo = [], [Widget]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("arena.tui.") and cls.__dict__.get("BINDINGS"):
            found.append(cls)
    return [ArenaApp, *found]


async def open_help(pilot) -> list[tuple[list[str], str]]:
    await pilot.press("question_mark")
    await pilot.pause()
    screen = pilot.app.screen
    assert type(screen).__name__ == "HelpScreen"
    return [(keys.split(" / "), text) for keys, text in screen.shown_lines()]


def shown(rows: list[tuple[list[str], str]], key: str, description: str) -> bool:
    return any(key in keys and text.startswith(description) for keys, text in rows)


async def test_help_lists_every_described_binding_with_its_key(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    classes = arena_binding_classes()
    names = {c.__name__ for c in classes}
    assert {"ArenaApp", "LeaderboardScreen", "PlayScreen", "ReplayView", "GridBoard"} <= names
    async with app.run_test(size=(100, 40)) as pilot:
        rows = await open_help(pilot)
        missing = [
            (cls.__name__, app.get_key_display(b), b.description)
            for cls in classes
            for b in Binding.make_bindings(cls.BINDINGS)
            if b.description and not shown(rows, app.get_key_display(b), b.description)
        ]
        assert not missing
        assert shown(rows, "f5", "Refresh") and shown(rows, "^p", "Commands")
        assert shown(rows, "h", "Retired")  # the leaderboard's toggle, with no edit to help


async def test_a_binding_added_to_a_screen_class_shows_up_in_help(
    empty_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arena.tui.screens.replays import ReplaysScreen

    extra = Binding("ctrl+k", "nothing", "Knit a scarf", tooltip="Made up for this test")
    monkeypatch.setattr(ReplaysScreen, "BINDINGS", [*ReplaysScreen.BINDINGS, extra])
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(100, 40)) as pilot:
        rows = await open_help(pilot)
        assert shown(rows, "^k", "Knit a scarf: Made up for this test")
        titles = [str(s.visual) for s in app.screen.query(".title").results(Static)]
        replays = titles.index("Replays (r)")
        assert replays > titles.index("Leaderboard (l)")


@pytest.fixture()
def retired_db(tmp_path: Path) -> Path:
    return build_db_with_a_retired_player(tmp_path / "arena.db")


async def test_leaderboard_hides_retired_players_until_h(retired_db: Path) -> None:
    app = make_app(retired_db, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)

        def names() -> dict[str, str]:
            return {str(k.value): str(table.get_row(k)[1]) for k in table.rows}

        assert set(names()) == {"minimax", "kept"}
        assert "show retired" in str(app.screen.query_one("#hint", Static).visual)
        await pilot.press("h")
        await pilot.pause()
        shown_names = names()
        assert set(shown_names) == {"minimax", "kept", "gone"}
        assert "(retired)" in shown_names["gone"]
        assert "(retired)" not in shown_names["kept"] + shown_names["minimax"]
        await pilot.press("h")
        await pilot.pause()
        assert set(names()) == {"minimax", "kept"}
