"""The app shell and the leaderboard, driven by Textual's Pilot on a real database."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import DataTable, Select, Sparkline

from arena.tui.app import make_app


async def test_leaderboard_is_the_home_screen_and_sorts(seeded_db: Path) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        first = table.get_row_at(0)
        assert "minimax" in str(first[1])
        await pilot.press("s")  # next column: the share of best moves
        await pilot.press("s")  # mu
        await pilot.press("s")  # sigma
        assert app.screen.sort_key == "sigma"
        scope = app.screen.query_one(Select)
        assert "tictactoe" in [str(o[0]) for o in scope._options]


async def test_enter_opens_a_players_detail_with_history(seeded_db: Path) -> None:
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(DataTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "PlayerDetailScreen"
        assert len(app.screen.query_one(Sparkline).data) == 6
        recent = app.screen.query_one("#recent", DataTable)
        assert recent.row_count == 6
        assert not app.screen.query_one("#evaluations", DataTable).display  # none stored
        await pilot.press("escape")
        assert type(app.screen).__name__ == "LeaderboardScreen"


async def test_a_players_detail_shows_its_latest_evaluations(seeded_db: Path) -> None:
    from arena.store import open_db
    from arena.store.evaluations import record_evaluation
    from arena.store.players import get_player

    db = open_db(seeded_db)
    pid = get_player(db, "minimax").id
    record_evaluation(db, pid, "kuhn_poker", "exploitability", 0.9, method="exact")
    record_evaluation(db, pid, "kuhn_poker", "exploitability", 0.4583, method="exact")
    record_evaluation(
        db,
        pid,
        "leduc_poker",
        "exploitability",
        2.41,
        method="sampled",
        ci_low=2.3,
        ci_high=2.5,
        details={"confidence": 0.95, "samples": 20},
    )
    db.close()
    app = make_app(seeded_db, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(DataTable).focus()
        await pilot.press("enter")  # the first row: minimax
        await pilot.pause()
        table = app.screen.query_one("#evaluations", DataTable)
        assert table.display and table.row_count == 2
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(2)]
        assert rows[0][:4] == ["kuhn_poker", "exploitability", "0.4583", "exact"]
        assert rows[1][:4] == [
            "leduc_poker",
            "exploitability",
            "2.4100",
            "sampled, 95% CI 2.3000 to 2.5000",
        ]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rows[0][4])


async def test_sections_switch_by_key_and_help_lists_bindings(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, name in [
            ("p", "PlayersScreen"),
            ("t", "TournamentScreen"),
            ("g", "PlayScreen"),
            ("r", "ReplaysScreen"),
            ("l", "LeaderboardScreen"),
        ]:
            await pilot.press(key)
            await pilot.pause()
            assert type(app.screen).__name__ == name
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        assert type(app.screen).__name__ == "LeaderboardScreen"


async def _players_ensured(app, pilot, timeout: float = 30.0) -> None:
    """Until the app has registered its players: it does so after the first frame."""
    import asyncio
    import time

    end = time.monotonic() + timeout
    while not app.players_ensured:
        assert time.monotonic() < end, "the app never registered its players"
        await asyncio.sleep(0.05)
        await pilot.pause()


async def test_first_run_without_the_shipped_model_seeds_the_tiny_model(
    empty_db: Path, tmp_path: Path, tiny_gguf: Path, monkeypatch
) -> None:
    import shutil

    from arena.store import open_db

    monkeypatch.setattr("arena.models.demo.shipped_model_path", lambda: None)  # a trimmed install
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    models = tmp_path / "data" / "arena" / "models"
    models.mkdir(parents=True)
    shutil.copy(tiny_gguf, models / "tiny-demo.f32.gguf")  # made before: no build in the test
    app = make_app(empty_db, seed_first_run=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _players_ensured(app, pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
    names = {r[0]: r[1] for r in open_db(empty_db).conn.execute("SELECT name, kind FROM players")}
    assert names.get("tiny-demo") == "llamacpp" and names.get("minimax") == "bot"


async def test_first_run_registers_the_shipped_model_and_makes_nothing(
    empty_db: Path, tmp_path: Path, monkeypatch
) -> None:
    from arena.models.demo import SHIPPED_PLAYER, shipped_model_path
    from arena.store import open_db

    assert shipped_model_path() is not None
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    app = make_app(empty_db, seed_first_run=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _players_ensured(app, pilot)
        assert not app.workers  # nothing to build
    db = open_db(empty_db)
    row = db.conn.execute("SELECT kind, spec FROM players WHERE name = ?", (SHIPPED_PLAYER,))
    kind, spec = row.fetchone()
    assert kind == "llamacpp" and str(shipped_model_path().resolve()) in spec
    assert not (tmp_path / "data" / "arena" / "models").exists()


async def test_first_run_registers_the_real_model_with_the_local_defaults(
    empty_db: Path, real_gguf: Path
) -> None:
    import json

    from arena.models.real import REAL_PLAYER
    from arena.store import open_db

    app = make_app(empty_db, seed_first_run=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _players_ensured(app, pilot)
    row = open_db(empty_db).conn.execute("SELECT spec FROM players WHERE name = ?", (REAL_PLAYER,))
    spec = json.loads(row.fetchone()[0])
    assert spec["path"] == str(real_gguf.resolve())
    assert spec["decode"] == "constrained"
    assert spec["prompt"]["reasoning"] == "think-then-constrained"
