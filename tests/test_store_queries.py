"""Store reads that the leaderboard, the CLI and the TUI call instead of spelling SQL, and the
player edit that decides and writes in one transaction."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import games
from arena.leaderboard import leaderboard
from arena.match import play_match
from arena.players.bot import BotPlayer
from arena.ratings import Rating
from arena.specs import parse_spec
from arena.store import open_db
from arena.store.players import (
    PlayerError,
    PlayerHasMatchesError,
    add_player,
    builtin_specs,
    find_player,
    get_player,
    list_players,
    match_counts,
    player_ids,
    remove_player,
    save_edited_player,
)
from arena.store.queries import is_match_rated, tournaments_with_progress
from arena.store.ratings import OVERALL
from arena.store.records import record_match
from arena.store.standings import (
    conservative_rating_history,
    game_draw_stats,
    player_rating,
    player_ratings,
    rated_match_seats,
    rated_scopes,
    rating_history,
    standing_rows,
)


def _play(game_id: str, names: list[str], seed: int):
    game = games.make(game_id)
    builtin = builtin_specs()
    players = [BotPlayer(n, n if n in builtin else "random") for n in names]
    return asyncio.run(play_match(game, players, seed))


def _record(db, game_id: str, names: list[str], seed: int, **kwargs) -> int:
    return record_match(db, _play(game_id, names, seed), player_ids(db, names), **kwargs)


def _bot(name: str, bot: str = "random"):
    return parse_spec({"name": name, "kind": "bot", "bot": bot})


@pytest.fixture
def db(tmp_path: Path):
    db = open_db(tmp_path / "arena.db")
    yield db
    db.close()


def test_ratings_history_and_conservative_come_from_the_rating_class(db) -> None:
    for seed in range(3):
        _record(db, "tictactoe", ["minimax", "random"], seed)
    _record(db, "kuhn_poker", ["cfr", "random"], 7)
    random_id = get_player(db, "random").id

    assert rated_scopes(db) == ["kuhn_poker", "tictactoe"]
    rows = player_ratings(db, random_id)
    assert [r["scope"] for r in rows] == [OVERALL, "kuhn_poker", "tictactoe"]
    assert list(rows[0]) == [
        "scope",
        "mu",
        "sigma",
        "conservative",
        "games",
        "wins",
        "draws",
        "losses",
    ]
    for r in rows:
        assert r["conservative"] == Rating(r["mu"], r["sigma"]).conservative
        # the same number SQLite computed before this moved here
        assert r["conservative"] == r["mu"] - 3 * r["sigma"]
    assert rows[0]["games"] == 4 and rows[2]["games"] == 3

    history = rating_history(db, random_id, "tictactoe")
    assert len(history) == 3 and all(isinstance(h, Rating) for h in history)
    assert history[-1] == Rating(rows[2]["mu"], rows[2]["sigma"])
    assert conservative_rating_history(db, random_id, "tictactoe") == [
        h.conservative for h in history
    ]
    assert len(conservative_rating_history(db, random_id, OVERALL)) == 4
    assert conservative_rating_history(db, random_id, "liars_dice") == []

    assert player_rating(db, "random", "tictactoe") == history[-1]
    assert player_rating(db, "random", "liars_dice") is None
    assert player_rating(db, "nobody", "tictactoe") is None


def test_standing_rows_and_retired_players(db) -> None:
    add_player(db, _bot("old"))
    _record(db, "tictactoe", ["old", "random"], 1)
    assert remove_player(db, "old") == "retired"
    rows = {r["name"]: r for r in standing_rows(db, "tictactoe")}
    assert set(rows) == {"old", "random"}
    assert rows["old"]["retired_at"] is not None and rows["random"]["kind"] == "bot"
    assert rows["random"]["scope"] == "tictactoe" and rows["random"]["games"] == 1
    assert [r["name"] for r in standing_rows(db, "tictactoe", include_retired=False)] == ["random"]
    assert standing_rows(db, "chess") == []
    board = leaderboard(db, "tictactoe")
    assert {p["name"] for p in board["players"]} == {"old", "random"}
    for p in board["players"]:
        assert p["conservative"] == Rating(p["mu"], p["sigma"]).conservative


def test_rated_match_seats_and_is_match_rated(db) -> None:
    rated = _record(db, "tictactoe", ["minimax", "random"], 1)
    self_play = _record(db, "tictactoe", ["random", "random"], 2)  # not rated
    poker = _record(db, "kuhn_poker", ["cfr", "random"], 3)
    assert is_match_rated(db, rated) and is_match_rated(db, poker)
    assert not is_match_rated(db, self_play)
    assert not is_match_rated(db, 999)
    seats = rated_match_seats(db)
    assert [s[0] for s in seats] == [rated, rated, poker, poker]
    assert [s[1] for s in seats] == ["minimax", "random", "cfr", "random"]
    assert [s[:2] for s in rated_match_seats(db, "kuhn_poker")] == [
        (poker, "cfr"),
        (poker, "random"),
    ]
    assert rated_match_seats(db, "chess") == []


def test_game_draw_stats(db) -> None:
    from arena.store.ratings import set_draw_probability

    assert game_draw_stats(db) == []
    _record(db, "tictactoe", ["minimax", "random"], 1)
    set_draw_probability(db, "kuhn_poker", 0.2)
    stats = game_draw_stats(db)
    assert [s[0] for s in stats] == ["kuhn_poker", "tictactoe"]
    assert stats[0] == ("kuhn_poker", 0, 0, 0.2)
    assert stats[1][1] == 1 and stats[1][3] is None


def test_match_counts(db) -> None:
    assert match_counts(db) == {}
    _record(db, "tictactoe", ["minimax", "random"], 1)
    _record(db, "tictactoe", ["random", "random"], 2)  # two seats: two
    ids = dict(zip(["minimax", "random"], player_ids(db, ["minimax", "random"])))
    assert match_counts(db) == {ids["minimax"]: 1, ids["random"]: 3}


def test_tournaments_with_progress(db) -> None:
    assert tournaments_with_progress(db) == []
    for name in ("first", "second"):
        db.conn.execute(
            "INSERT INTO tournaments (name, format, config, seed, status, created_at) "
            "VALUES (?, 'round_robin', '{}', 0, 'running', 'now')",
            (name,),
        )
    for idx in range(3):
        db.conn.execute(
            "INSERT INTO schedule (tournament_id, idx, game, params, seats, seed) "
            "VALUES (1, ?, 'tictactoe', '{}', ?, ?)",
            (idx, json.dumps(["minimax", "random"]), idx),
        )
    _record(db, "tictactoe", ["minimax", "random"], 0, tournament_id=1, schedule_id=1)
    rows = tournaments_with_progress(db)
    assert [r["name"] for r in rows] == ["second", "first"]
    assert (rows[0]["scheduled"], rows[0]["played"]) == (0, 0)
    assert (rows[1]["scheduled"], rows[1]["played"]) == (3, 1)
    assert rows[1]["status"] == "running" and "pid" in rows[1]


def test_unknown_player_error_lists_players_without_writing(db) -> None:
    add_player(db, _bot("zed"))
    add_player(db, _bot("abe"))
    before = db.conn.execute("SELECT COUNT(*) FROM players").fetchone()[0]
    db.conn.execute("BEGIN IMMEDIATE")  # safe inside a transaction: it only reads
    try:
        with pytest.raises(PlayerError) as err:
            get_player(db, "ghost")
    finally:
        db.conn.execute("ROLLBACK")
    known = [p.name for p in list_players(db)]
    assert known[-2:] == ["abe", "zed"] and set(builtin_specs()) <= set(known)
    assert str(err.value) == f"unknown player 'ghost' (known: {', '.join(known)})"
    assert before < db.conn.execute("SELECT COUNT(*) FROM players").fetchone()[0]


def test_edit_without_matches_updates_or_replaces(db) -> None:
    add_player(db, _bot("alice"))
    assert save_edited_player(db, "alice", _bot("alice", "minimax")) == "updated"
    assert get_player(db, "alice").spec["bot"] == "minimax"
    assert save_edited_player(db, "alice", _bot("alicia")) == "replaced"
    assert find_player(db, "alice") is None
    assert get_player(db, "alicia").spec["bot"] == "random"


def test_edit_with_matches_adds_a_new_player_and_keeps_the_old(db) -> None:
    add_player(db, _bot("bob"))
    _record(db, "tictactoe", ["bob", "random"], 1)
    with pytest.raises(PlayerHasMatchesError):
        save_edited_player(db, "bob", _bot("bob", "minimax"))
    assert get_player(db, "bob").spec["bot"] == "random"
    assert save_edited_player(db, "bob", _bot("bob2", "minimax")) == "added"
    assert get_player(db, "bob").retired_at is None  # kept, not retired
    assert get_player(db, "bob2").spec["bot"] == "minimax"


def test_a_refused_edit_changes_nothing(db) -> None:
    add_player(db, _bot("carol"))
    add_player(db, _bot("dave"))
    names = [p.name for p in list_players(db)]
    with pytest.raises(PlayerError, match="'dave' already exists"):
        save_edited_player(db, "carol", _bot("dave", "minimax"))
    with pytest.raises(PlayerError, match="built-in"):
        save_edited_player(db, "carol", _bot("random"))
    with pytest.raises(PlayerError, match="unknown player 'ghost'"):
        save_edited_player(db, "ghost", _bot("ghost"))
    assert [p.name for p in list_players(db)] == names
    assert get_player(db, "carol").spec["bot"] == "random"
    assert get_player(db, "dave").spec["bot"] == "random"
