"""What a player's strength costs, on the leaderboard: prompt and completion tokens, mean
latency per decision, cost in all and per game (from the price table in the player's spec),
per player and per game, in the CLI table, its JSON and the app. The model is a real
OpenAI-compatible server on 127.0.0.1 that reports fixed token counts; the database is a real
SQLite file, and every expected figure is summed independently from its `moves` table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from arena.store import open_db

pytest.importorskip("openai")

from servers import RawServer  # noqa: E402
from test_reasoning_apart import (  # noqa: E402
    DIRECT_USAGE,
    THINK_USAGE,
    add_thinker,
    reasoning_model,
    run,
)

PRICE_IN, PRICE_OUT = 2.0, 8.0  # USD per million tokens, as `add_thinker` registers them


def moves_totals(db: Path, player: str, game: str | None = None) -> tuple[int, int, int]:
    """(prompt tokens, completion tokens, rated matches) of `player`, from the moves table."""
    con = sqlite3.connect(db)
    where, args = ("AND m.game = ?", [player, game]) if game else ("", [player])
    prompt, completion = con.execute(
        "SELECT SUM(mv.prompt_tokens), SUM(mv.completion_tokens) FROM moves mv "
        "JOIN matches m ON m.id = mv.match_id JOIN players p ON p.id = mv.player_id "
        f"WHERE m.rated = 1 AND p.name = ? {where}",
        args,
    ).fetchone()
    matches = con.execute(
        "SELECT COUNT(DISTINCT m.id) FROM matches m JOIN results r ON r.match_id = m.id "
        f"JOIN players p ON p.id = r.player_id WHERE m.rated = 1 AND p.name = ? {where}",
        args,
    ).fetchone()[0]
    con.close()
    return prompt or 0, completion or 0, matches


def board(db: Path, *args: str) -> dict[str, dict]:
    data = json.loads(run(db, "leaderboard", "--json", *args))
    return {p["name"]: p for p in data["players"]}


@pytest.fixture(scope="module")
def costed_db(tmp_path_factory) -> Path:
    """thinker+think and thinker+direct (one spec, two players) against the random bot: two
    tictactoe matches each, and one connect_four match of thinker+think."""
    db = tmp_path_factory.mktemp("costs") / "arena.db"
    with RawServer(reasoning_model) as server:
        add_thinker(db, server.base_url, "--thinking", "both")
        for name in ("thinker+think", "thinker+direct"):
            for seed in ("1", "2"):
                run(db, "match", "tictactoe", name, "random", "--seed", seed, "--no-show-replies")
        run(
            db,
            *("match", "connect_four", "thinker+think", "random", "--seed", "3"),
            "--no-show-replies",
        )
    return db


@pytest.mark.parametrize("game", [None, "tictactoe", "connect_four"])
def test_json_leaderboard_sums_tokens_cost_and_latency_per_player_and_game(
    costed_db: Path, game: str | None
) -> None:
    players = board(costed_db, *(["--game", game] if game else []))
    names = ["thinker+think"] if game == "connect_four" else ["thinker+think", "thinker+direct"]
    for name in names:
        p = players[name]
        prompt, completion, matches = moves_totals(costed_db, name, game)
        assert matches == p["games"] and matches > 0
        assert (p["prompt_tokens"], p["completion_tokens"]) == (prompt, completion)
        assert p["tokens"] == prompt + completion
        usage = THINK_USAGE if name.endswith("think") else DIRECT_USAGE
        assert prompt % usage[0] == 0 and completion == prompt // usage[0] * usage[1]
        cost = (prompt * PRICE_IN + completion * PRICE_OUT) / 1e6
        assert p["cost_usd"] == pytest.approx(cost)
        assert p["cost_per_game_usd"] == pytest.approx(cost / matches)
        assert p["tokens_per_game"] == pytest.approx((prompt + completion) / matches)
        assert p["mean_latency_s"] > 0
    bot = players["random"]
    assert (bot["prompt_tokens"], bot["completion_tokens"], bot["cost_usd"]) == (0, 0, 0.0)
    assert bot["cost_per_game_usd"] == 0.0


def test_overall_cost_is_the_sum_of_the_games(costed_db: Path) -> None:
    overall = board(costed_db)["thinker+think"]
    parts = [board(costed_db, "--game", g)["thinker+think"] for g in ("tictactoe", "connect_four")]
    for key in ("prompt_tokens", "completion_tokens", "games"):
        assert overall[key] == sum(p[key] for p in parts)
    assert overall["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in parts))


def test_thinking_costs_more_per_game_than_answering_directly(costed_db: Path) -> None:
    players = board(costed_db, "--game", "tictactoe")
    think, direct = players["thinker+think"], players["thinker+direct"]
    assert think["completion_tokens"] > direct["completion_tokens"]
    assert think["cost_per_game_usd"] > direct["cost_per_game_usd"] > 0


def test_cli_table_shows_tokens_latency_cost_and_cost_per_game(costed_db: Path) -> None:
    players = board(costed_db, "--game", "tictactoe", "--min-games", "1")
    out = run(costed_db, "leaderboard", "--game", "tictactoe", "--min-games", "1")
    header = next(line for line in out.splitlines() if "player" in line)
    for column in ("latency", "prompt tok", "compl tok", "cost $", "$/game"):
        assert column in header
    row = next(line for line in out.splitlines() if "thinker+think" in line).split()
    p = players["thinker+think"]
    assert row[-5:] == [
        f"{p['mean_latency_s']:.3f}s",
        f"{p['cost_usd']:.4f}",
        f"{p['cost_per_game_usd']:.4f}",
        str(p["prompt_tokens"]),
        str(p["completion_tokens"]),
    ]


def test_an_open_database_sees_the_costs_of_matches_stored_since(
    tmp_path: Path, costed_db: Path
) -> None:
    """The app keeps its connection and asks every few seconds: a match stored by another
    process since the last look is counted, once."""
    from arena.leaderboard import leaderboard

    db_path = tmp_path / "copy.db"
    src, dst = sqlite3.connect(costed_db), sqlite3.connect(db_path)
    src.backup(dst)
    src.close()
    dst.close()
    db = open_db(db_path)
    try:

        def mine() -> dict:
            return next(p for p in leaderboard(db)["players"] if p["name"] == "thinker+direct")

        before = mine()
        assert mine() == before  # asked again, nothing new: the same figures
        with RawServer(reasoning_model) as server:
            con = sqlite3.connect(db_path)
            con.execute(
                "UPDATE players SET spec = json_set(spec, '$.base_url', ?) "
                "WHERE name LIKE 'thinker%'",
                (server.base_url,),
            )
            con.commit()
            con.close()
            run(db_path, "match", "tictactoe", "thinker+direct", "random", "--seed", "9")
        after = mine()
        prompt, completion, matches = moves_totals(db_path, "thinker+direct")
        assert after["games"] == before["games"] + 1 == matches
        assert (after["prompt_tokens"], after["completion_tokens"]) == (prompt, completion)
        assert after["prompt_tokens"] > before["prompt_tokens"]
    finally:
        db.close()


async def test_app_leaderboard_shows_the_cost_columns(costed_db: Path) -> None:
    from textual.widgets import DataTable

    from arena.tui.app import make_app

    expected = board(costed_db)["thinker+think"]
    app = make_app(costed_db, seed_first_run=False)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#board", DataTable)
        labels = [str(c.label) for c in table.columns.values()]
        for column in ("latency", "prompt tok", "compl tok", "cost $", "$/game"):
            assert column in labels
        row = table.get_row("thinker+think")
        keys = [str(k.value) for k in table.columns]
        cells = dict(zip(keys, row))
        assert cells["prompt_tokens"] == expected["prompt_tokens"]
        assert cells["completion_tokens"] == expected["completion_tokens"]
        assert cells["cost_usd"] == f"{expected['cost_usd']:.4f}"
        assert cells["cost_per_game_usd"] == f"{expected['cost_per_game_usd']:.4f}"
        assert cells["mean_latency_s"] == f"{expected['mean_latency_s']:.3f}s"
