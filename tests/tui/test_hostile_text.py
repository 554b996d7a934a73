"""Hostile text in the app: a database whose replies, server errors, player, tournament and job
names and job log hold escape sequences, C1 controls and bidi overrides (made by real servers
on 127.0.0.1, see `tests/hostile_cases.py`). Every section shows it visibly: nothing on screen
carries a control character, and the escaped form is what a user reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_cases import build_hostile_db
from textual.widgets import DataTable

from arena.safe_text import has_unsafe
from arena.tui.app import make_app


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_db(tmp_path_factory.mktemp("hostile-tui"))["db"]


def _screen_text(app) -> str:
    """Everything the terminal would be sent for the current screen, as SVG text."""
    return app.export_screenshot()


# The sections that list what holds hostile text (players, replays, jobs) must show it; the
# leaderboard (the hostile rows are unrated) and the tournament form must not leak any.
SHOWS = {"p", "r", "j"}


@pytest.mark.parametrize("section", ["l", "p", "r", "t", "j"])
async def test_every_section_shows_hostile_text_escaped(hostile: Path, section: str) -> None:
    app = make_app(hostile, seed_first_run=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press(section)
        await pilot.pause()
        seen = [_screen_text(app)]
        tables = list(app.screen.query(DataTable))
        if tables:
            # open each row in turn: a replay's steps, a job's log, a player's details
            table = tables[0]
            table.focus()
            for _ in range(min(table.row_count, 4)):
                await pilot.press("enter")
                await pilot.pause(0.2)
                seen.append(_screen_text(app))
                # step through a replay, where there is one, and unfold its reasoning (folded)
                for key in ("n", "n", "end", "f"):
                    await pilot.press(key)
                    await pilot.pause()
                seen.append(_screen_text(app))
                if app.screen is not None and app.screen.is_modal:
                    await pilot.press("escape")
                    await pilot.pause()
                await pilot.press("down")
                await pilot.pause()
        for text in seen:
            assert not has_unsafe(text), f"section {section!r} showed a raw control character"
        assert section not in SHOWS or any("\\x1b" in text for text in seen), (
            f"section {section!r} never showed the hostile text: the test is not looking at it"
        )
