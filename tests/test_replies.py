"""What a reply may be on the wire and what the match loop does with it: content parts joined
(a real OpenAI-compatible server behind a proxy that answers in that form), non-text parts
refused, an oversized reply cut and marked, echoes of the prompt never read as a move, and a
value SQLite cannot store never stalls a tournament."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import games
from arena.backends.base import Sampling
from arena.backends.scripted import ScriptedBackend
from arena.match import MatchRules, cap_text, play_match, strip_echo
from arena.players import BotPlayer
from arena.players.base import Player, Reply
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions
from arena.store import open_db
from arena.store.records import record_match

DIRECT = PromptOptions(reasoning="direct", include_rules=False)
ONE_TRY = MatchRules(retries=0, on_exhausted="random")


def _vs_random(model: Player, rules: MatchRules = ONE_TRY, seed: int = 0):
    async def scenario():
        try:
            return await play_match(
                games.make("tictactoe"), [model, BotPlayer("bot", "random")], seed, rules=rules
            )
        finally:
            backend = getattr(model, "backend", None)
            if backend is not None:
                await backend.aclose()

    return asyncio.run(scenario())


def _api_player(proxy, llama_server) -> LLMPlayer:
    from arena.backends.openai_backend import OpenAIBackend

    backend = OpenAIBackend(
        proxy.base_url, llama_server.model, api_key_env=None, max_retries=0, llama_sampling=True
    )
    return LLMPlayer("api", backend, prompt=DIRECT, sampling=Sampling(max_tokens=8))


def test_content_parts_from_a_real_server_are_joined_as_text(fault_proxy, llama_server) -> None:
    from servers import Fault

    parts = [{"type": "text", "text": "Final answer: "}, {"type": "text", "text": "b2"}]
    fault_proxy.push(Fault.completion(parts))  # type: ignore[arg-type]
    result = _vs_random(_api_player(fault_proxy, llama_server))
    first = result.moves[0].attempts[0]
    assert result.status == "finished"
    assert first.raw == "Final answer: b2" and first.legal and result.moves[0].action == "b2"


def test_a_non_text_part_is_an_error_of_the_match_not_a_move(fault_proxy, llama_server) -> None:
    from servers import Fault

    parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    fault_proxy.push(Fault.completion(parts))  # type: ignore[arg-type]
    result = _vs_random(_api_player(fault_proxy, llama_server))
    assert result.status == "error" and "image_url part" in result.error


def test_a_tournament_against_a_content_parts_server_stores_and_rates_every_match(
    tmp_path: Path, fault_proxy, llama_server
) -> None:
    from servers import Fault

    from arena.tournament.config import parse_config
    from arena.tournament.runner import run_tournament
    from arena.tournament.setup import create_tournament

    fault_proxy.default = Fault.completion(
        [{"type": "text", "text": "I play"}, {"type": "text", "text": " a1"}]  # type: ignore[arg-type]
    )
    db = open_db(tmp_path / "a.db")
    spec = {
        "name": "parts",
        "kind": "openai",
        "model": llama_server.model,
        "base_url": fault_proxy.base_url,
        "api_key_env": None,
        "max_retries": 0,
        "prompt": {"reasoning": "direct"},
    }
    config = parse_config(
        {
            "games": ["tictactoe"],
            "players": ["random", "parts"],
            "games_per_pair": 2,
            "on_illegal": "random",
            "player": [spec],
        }
    )
    tid = create_tournament(db, config)
    out = asyncio.run(run_tournament(db, tid))
    assert out["status"] == "finished" and out["matches_played"] == 2
    replies = {r[0] for r in db.conn.execute("SELECT reply FROM moves WHERE reply IS NOT NULL")}
    assert "I play a1" in replies


def test_an_oversized_reply_is_cut_marked_and_never_parsed_past_the_cap() -> None:
    huge = "a1 " + "x" * 300_000 + "\nFinal answer: b2"
    model = LLMPlayer("m", ScriptedBackend([huge]), prompt=DIRECT)
    result = _vs_random(model, MatchRules(retries=0, on_exhausted="random", max_reply_bytes=4096))
    first = result.moves[0].attempts[0]
    assert len(first.raw.encode()) < 4096 + 64 and first.raw.endswith(
        f"[reply cut at 4096 bytes of {len(huge)}]"
    )
    assert first.finish_reason == "cut"
    assert first.action != "b2"  # the answer past the cap was never read


def test_the_default_cap_is_64_kb_and_short_replies_pass_untouched() -> None:
    text, cut = cap_text("é" * 40_000, 64 * 1024)  # 80 KB of UTF-8
    assert cut and len(text.split("\n[reply cut")[0].encode()) <= 64 * 1024
    assert cap_text("b2", 64 * 1024) == ("b2", False)
    assert cap_text(None, 100) == ("", False) and cap_text(42, 100) == ("42", False)


def test_an_echo_of_the_prompt_is_never_taken_for_a_move() -> None:
    def echo(messages):
        return messages[-1]["content"]  # the whole user message, verbatim

    model = LLMPlayer("m", ScriptedBackend(echo), prompt=DIRECT)
    result = _vs_random(model)
    first = result.moves[0].attempts[0]
    assert not first.legal and "only repeats the prompt" in first.error
    assert result.moves[0].forced  # the rules' random fallback, counted as illegal


def test_a_move_after_an_echoed_move_list_is_read() -> None:
    def echo_then_move(messages):
        return "Legal moves: a1, a2, a3, b1, b2, b3, c1, c2, c3\nc3"

    model = LLMPlayer("m", ScriptedBackend(echo_then_move), prompt=DIRECT)
    result = _vs_random(model)
    first = result.moves[0].attempts[0]
    assert first.legal and first.action == "c3"


@pytest.mark.parametrize(
    "reply, kept",
    [
        ("Legal moves: a1, b2\nb2", "b2"),
        ("a1\nb2", "a1\nb2"),  # lines that are exactly a legal move stay
        ("It is your turn.\nFinal answer: b2", "Final answer: b2"),
    ],
)
def test_strip_echo_drops_only_lines_copied_from_the_prompt(reply: str, kept: str) -> None:
    prompt = [{"role": "user", "content": "It is your turn.\nLegal moves: a1, b2\na1"}]
    assert strip_echo(reply, prompt, ["a1", "b2"]) == kept


class _OddPlayer(Player):
    """Returns a reply whose text is not a string (a buggy plug-in player)."""

    kind = "llm"

    async def act(self, turn):
        return Reply(text={"move": turn.legal_actions[0]})  # type: ignore[arg-type]


def test_a_reply_that_is_not_text_is_stored_as_text(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    from arena.store.players import player_ids

    result = _vs_random(_OddPlayer("odd"))
    assert result.status == "finished"
    assert isinstance(result.moves[0].attempts[0].raw, str)
    match_id = record_match(db, result, player_ids(db, ["random", "minimax"]))
    stored = db.conn.execute(
        "SELECT reply FROM moves WHERE match_id = ? AND seat = 0 LIMIT 1", (match_id,)
    ).fetchone()[0]
    assert stored.startswith("{'move'")
