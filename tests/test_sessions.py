"""Single stored matches (a person in the app against any player) and the one-move probe."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import games
from arena.backends.base import BackendError
from arena.leaderboard import leaderboard
from arena.players.factory import BackendPool
from arena.players.human import HumanPlayer
from arena.sessions import ensure_human, play_recorded, players_by_name, probe_player
from arena.specs import parse_spec
from arena.store import open_db
from arena.store.queries import match_transcript


def test_a_person_plays_a_bot_and_the_match_is_stored_and_rated(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    ensure_human(db, "ada")
    pool = BackendPool()
    bot = players_by_name(db, ["random"], pool)[0]
    ada = HumanPlayer("ada")

    async def main():
        task = asyncio.ensure_future(play_recorded(db, games.make("tictactoe"), [ada, bot], 1))
        while not task.done():
            await asyncio.sleep(0)
            if ada.pending is not None:
                # the person always takes the first free square, by free text once
                ada.submit(f"I play {ada.pending.legal_actions[0]}")
        return await task

    match_id, result = asyncio.run(main())
    assert result.status == "finished"
    m = match_transcript(db, match_id)
    assert m["rated"] == 1 and m["seats"][0]["player"] == "ada"
    board = {p["name"]: p for p in leaderboard(db, "tictactoe")["players"]}
    assert board["ada"]["games"] == 1 and board["ada"]["kind"] == "human"


def test_ensure_human_refuses_a_name_taken_by_a_model(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    with pytest.raises(ValueError, match="not a person"):
        ensure_human(db, "minimax")


def test_probe_asks_a_real_model_for_one_move(tiny_gguf: Path) -> None:
    spec = parse_spec(
        {
            "name": "t",
            "kind": "llamacpp",
            "path": str(tiny_gguf),
            "decode": "constrained",
            "prompt": {"reasoning": "direct"},
            "sampling": {"max_tokens": 8},
        }
    )
    probe = asyncio.run(probe_player(spec, "tictactoe"))
    assert (
        probe.legal and probe.action in games.make("tictactoe").new_initial_state().legal_actions()
    )
    assert probe.latency_s > 0 and probe.reply and probe.observation


def test_probe_of_a_dead_endpoint_is_a_backend_error() -> None:
    spec = parse_spec(
        {
            "name": "d",
            "kind": "openai",
            "model": "m",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": None,
            "max_retries": 0,
            "timeout_s": 2,
        }
    )
    with pytest.raises(BackendError):
        asyncio.run(probe_player(spec, "tictactoe"))
