"""Every screen is usable at 80x24, checked by geometry: each Button and Input is on screen and
not under the footer, or inside a container that scrolls it into view; the footer shows every
section's key in full."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, TabbedContent
from textual.widgets._footer import FooterKey

from arena.tui.app import SECTIONS, make_app
from arena.tui.widgets.key_bar import KeyBar, KeysFooter

SIZE = (80, 24)

Opener = Callable[[Pilot], Awaitable[None]]


def press(*keys: str) -> Opener:
    async def open_(pilot: Pilot) -> None:
        await pilot.press(*keys)

    return open_


def tournament_tab(tab: str) -> Opener:
    async def open_(pilot: Pilot) -> None:
        await pilot.press("t")
        await pilot.pause()
        pilot.app.screen.query_one(TabbedContent).active = tab

    return open_


async def open_player_detail(pilot: Pilot) -> None:
    pilot.app.screen.query_one(DataTable).focus()
    await pilot.press("enter")


async def open_player_form(pilot: Pilot) -> None:
    await pilot.press("p")
    await pilot.pause()
    await pilot.press("a")


async def open_remove_confirmation(pilot: Pilot) -> None:
    from arena.specs import parse_spec
    from arena.store.players import add_player

    add_player(pilot.app.db, parse_spec({"name": "b1", "kind": "bot", "bot": "random"}))
    await pilot.press("p")
    await pilot.pause()
    table = pilot.app.screen.query_one("#players", DataTable)
    table.move_cursor(row=table.get_row_index("b1"))
    await pilot.press("d")


async def open_replay(pilot: Pilot) -> None:
    await pilot.press("r")
    await pilot.pause()
    pilot.app.screen.query_one(DataTable).focus()
    await pilot.press("enter")


SCREENS: dict[str, Opener] = {
    **{mode: press(key) for mode, (_, _, key, _) in SECTIONS.items()},
    "players-form": open_player_form,
    "players-remove": open_remove_confirmation,
    "replay": open_replay,
    **{f"tournament-{tab}": tournament_tab(tab) for tab in ("live", "watch", "all")},
    "help": press("question_mark"),
    "player-detail": open_player_detail,
}

FORMS = {"play", "tournament", "replays", "training", "players-form", "players-remove"}


def shown(widget: Widget) -> bool:
    """Displayed, as are all its ancestors (a hidden tab or form hides what it holds)."""
    return all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))


def usable_area(pilot: Pilot) -> Region:
    """The screen less the key bar docked at its bottom (a modal has none of its own)."""
    screen = pilot.app.screen
    bars = list(screen.query(KeyBar))
    if not bars:
        return screen.region
    return Region(0, 0, screen.region.width, bars[0].region.y)


def fully_visible(widget: Widget, area: Region) -> bool:
    """The whole widget is drawn, not clipped by a scrolling parent, inside `area`."""
    try:
        geometry = widget.screen.find_widget(widget)
    except Exception:  # not in the compositor's map: scrolled out of sight entirely
        return False
    region = geometry.region
    return (
        bool(region)
        and region.intersection(geometry.clip) == region
        and area.contains_region(region)
        and region.right <= SIZE[0]
    )


@pytest.mark.parametrize("screen", list(SCREENS))
async def test_every_button_and_input_can_be_reached_at_80x24(seeded_db: Path, screen: str) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await SCREENS[screen](pilot)
        await pilot.pause()
        await pilot.pause()
        area = usable_area(pilot)
        everything = [*app.screen.query(Button), *app.screen.query(Input)]
        controls = [w for w in everything if shown(w)]
        if screen in FORMS:  # the check has something to check
            assert controls
        unreachable = []
        for widget in controls:
            if not fully_visible(widget, area):
                widget.scroll_visible(animate=False, immediate=True)
                await pilot.pause()
                if not fully_visible(widget, area):
                    unreachable.append(f"{widget!r} at {widget.region}")
        assert not unreachable, f"{screen}: cut off at 80x24: {unreachable}"


@pytest.mark.parametrize("mode", list(SECTIONS))
async def test_footer_shows_every_section_key_at_80x24(seeded_db: Path, mode: str) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(SECTIONS[mode][2])
        await pilot.pause()
        await pilot.pause()
        assert app.current_mode == mode
        footer = app.screen.query_one("KeysFooter.-app", KeysFooter)
        keys = {key.key: key for key in footer.query(FooterKey)}
        screen_region = app.screen.region
        for _, _, key, title in SECTIONS.values():
            assert key in keys, f"{mode}: no footer key {key!r}"
            footer_key = keys[key]
            assert footer_key.display
            assert screen_region.contains_region(footer_key.region), f"{mode}: {key!r} is cut"
            assert footer_key.region.right <= SIZE[0]
            text = footer_key.render().plain
            assert key in text and title in text, f"{mode}: footer shows {text!r}"
        screen_keys = app.screen.query_one("KeysFooter.-screen", KeysFooter)
        for footer_key in screen_keys.query(FooterKey):
            assert screen_region.contains_region(footer_key.region), f"{mode}: {footer_key.key}"
