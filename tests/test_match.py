"""The match loop: bots, retries, forfeits, infrastructure errors, limits, events, humans.

Language-model behaviour here uses the scripted backend (prompt plumbing only); the real
backends have their own tests with real tiny models and a real server.
"""

from __future__ import annotations

import asyncio

import pytest

import games
from arena.backends.base import Sampling
from arena.backends.scripted import ScriptedBackend
from arena.match import (
    AttemptMade,
    MatchEnded,
    MatchRules,
    MatchStarted,
    MovePlayed,
    TurnStarted,
    play_match,
)
from arena.players import BotPlayer, HumanPlayer
from arena.players.base import Player, Reply, Turn
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions
from games import CHANCE


def run(coro):
    return asyncio.run(coro)


def llm(name, script, **kw) -> LLMPlayer:
    return LLMPlayer(name, ScriptedBackend(script), **kw)


@pytest.mark.parametrize("game_id", games.game_ids())
def test_bots_play_every_game_to_the_end_and_the_record_replays(game_id):
    game = games.make(game_id)
    players = [BotPlayer(f"r{i}", "random") for i in range(game.num_players)]
    result = run(play_match(game, players, seed=5))
    assert result.status == "finished" and result.error is None
    replayed = games.replay(game, result.history)
    assert replayed is not None and replayed.is_terminal()
    assert replayed.returns() == result.returns
    assert result.invalid_moves == [0] * game.num_players
    assert all(m.attempts[0].policy for m in result.moves if m.seat != CHANCE)


def test_same_seed_same_match_and_seeds_differ():
    game = games.make("liars_dice")
    players = [BotPlayer("a", "random"), BotPlayer("b", "random")]
    a = run(play_match(game, players, seed=1))
    b = run(play_match(game, players, seed=1))
    assert a.history == b.history
    histories = {tuple(run(play_match(game, players, seed=s)).history) for s in range(10)}
    assert len(histories) > 5


def test_an_illegal_reply_is_retried_with_the_reason_and_recorded():
    game = games.make("tictactoe")
    model = llm("m", ["I like the middle of nowhere", "Final answer: b2", "Final answer: a1"])
    result = run(play_match(game, [model, BotPlayer("r", "random")], seed=0))
    first = result.moves[0]
    assert [a.legal for a in first.attempts] == [False, True]
    assert first.action == "b2"
    assert "legal moves" in first.attempts[0].error
    # The retry prompt carries the reason.
    retry_prompt = first.attempts[1].messages[-1]["content"]
    assert "not accepted" in retry_prompt and first.attempts[0].error in retry_prompt
    assert first.invalid_attempts == 1 and result.invalid_moves[0] >= 1


def test_illegal_replies_past_the_retries_forfeit():
    game = games.make("tictactoe")
    model = llm("m", ["pass", "no idea"])
    result = run(
        play_match(game, [BotPlayer("r", "random"), model], seed=0, rules=MatchRules(retries=2))
    )
    assert result.status == "finished"
    assert result.forfeit_seat == 1
    assert result.returns == [1.0, -1.0]
    last = result.moves[-1]
    assert last.action == "(forfeit)" and len(last.attempts) == 3
    assert result.invalid_moves == [0, 3]


def test_random_fallback_plays_a_counted_legal_move():
    game = games.make("tictactoe")
    model = llm("m", ["???"])
    rules = MatchRules(retries=0, on_exhausted="random")
    result = run(play_match(game, [model, BotPlayer("r", "random")], seed=3, rules=rules))
    assert result.status == "finished" and result.forfeit_seat is None
    forced = [m for m in result.moves if m.seat == 0]
    assert forced and all(m.forced for m in forced)
    assert result.invalid_moves[0] == len(forced)


def test_an_infrastructure_failure_ends_the_match_with_error_and_is_no_move():
    game = games.make("tictactoe")
    crashing = LLMPlayer(
        "m", ScriptedBackend(["Final answer: b2", "Final answer: a1"], fail_after=1)
    )
    result = run(play_match(game, [crashing, BotPlayer("r", "random")], seed=0))
    assert result.status == "error"
    assert "simulated crash" in result.error
    assert result.returns is None
    # Two moves were played (the model's b2, the bot's reply); the failed turn left no record.
    assert [m.seat for m in result.moves] == [0, 1]
    assert result.invalid_moves == [0, 0]


class Exploding(Player):
    kind = "bot"

    async def act(self, turn: Turn) -> Reply:
        raise ZeroDivisionError("bug")


def test_a_broken_player_is_an_error_not_a_crash():
    result = run(play_match(games.make("tictactoe"), [Exploding("x"), BotPlayer("r", "random")]))
    assert result.status == "error" and "ZeroDivisionError" in result.error


def test_a_slow_model_past_the_time_limit_is_an_illegal_attempt():
    game = games.make("tictactoe")
    slow = LLMPlayer("slow", ScriptedBackend(["Final answer: b2"], delay_s=2.0))
    rules = MatchRules(retries=1, move_time_limit_s=0.05)
    result = run(play_match(game, [slow, BotPlayer("r", "random")], seed=0, rules=rules))
    assert result.forfeit_seat == 0
    attempts = result.moves[-1].attempts
    assert all(a.timed_out and "time limit" in a.error for a in attempts)
    assert all(a.latency_s < 1.0 for a in attempts)


def test_people_are_not_timed_by_the_match_limit():
    game = games.make("tictactoe")
    human = HumanPlayer("me")
    rules = MatchRules(move_time_limit_s=0.01)

    async def scenario():
        task = asyncio.create_task(play_match(game, [human, BotPlayer("r", "random")], rules=rules))
        await asyncio.sleep(0.1)  # ten time limits pass
        assert human.pending is not None and human.pending.legal_actions
        human.submit("b2", exact=True)
        while not task.done():
            await asyncio.sleep(0.01)
            if human.pending is not None:
                human.submit(f"I take {human.pending.legal_actions[0]}")
        return task.result()

    result = run(scenario())
    assert result.status == "finished"
    assert result.moves[0].action == "b2"


def test_human_submit_without_a_pending_turn_is_refused():
    with pytest.raises(RuntimeError, match="no pending turn"):
        HumanPlayer("me").submit("b2")


def test_stop_aborts_at_the_next_move():
    game = games.make("tictactoe")
    stop = asyncio.Event()
    human = HumanPlayer("me")

    async def scenario():
        task = asyncio.create_task(play_match(game, [human, BotPlayer("r", "random")], stop=stop))
        await asyncio.sleep(0.05)
        stop.set()
        return await task

    result = run(scenario())
    assert result.status == "aborted" and result.moves == []


def test_events_tell_the_whole_story_in_order():
    game = games.make("kuhn_poker")
    events = []
    result = run(
        play_match(
            game, [BotPlayer("a", "cfr"), BotPlayer("b", "random")], seed=2, on_event=events.append
        )
    )
    assert isinstance(events[0], MatchStarted) and isinstance(events[-1], MatchEnded)
    assert events[-1].result is result
    played = [e for e in events if isinstance(e, MovePlayed)]
    assert [e.record for e in played] == result.moves
    assert sum(isinstance(e, TurnStarted) for e in events) == sum(
        len(m.attempts) for m in result.moves
    )
    assert sum(isinstance(e, AttemptMade) for e in events) == sum(
        len(m.attempts) for m in result.moves
    )


def test_async_event_sinks_are_awaited():
    seen = []

    async def sink(event):
        await asyncio.sleep(0)
        seen.append(type(event).__name__)

    run(
        play_match(
            games.make("tictactoe"),
            [BotPlayer("a", "random"), BotPlayer("b", "random")],
            on_event=sink,
        )
    )
    assert seen[0] == "MatchStarted" and seen[-1] == "MatchEnded"


def test_stateless_prompt_has_rules_observation_legal_moves_and_the_marker():
    game = games.make("tictactoe")
    model = llm("m", ["Final answer: b2"])
    result = run(play_match(game, [model, BotPlayer("r", "random")], seed=0))
    system, user = result.moves[0].attempts[0].messages
    assert system["role"] == "system" and game.rules() in system["content"]
    assert "You are player 0" in system["content"]
    assert "Board:" in user["content"]
    assert "Legal moves: a3, b3" in user["content"]
    assert "Final answer: <move>" in user["content"]


def test_direct_mode_asks_for_the_move_alone():
    model = llm("m", ["b2"], prompt=PromptOptions(reasoning="direct", include_rules=False))
    result = run(play_match(games.make("tictactoe"), [model, BotPlayer("r", "random")]))
    system, user = result.moves[0].attempts[0].messages
    assert "Rules" not in system["content"]
    assert "move only" in user["content"]
    assert result.moves[0].action == "b2"


def test_chat_style_keeps_one_conversation_per_match():
    game = games.make("tictactoe")
    replies = iter(
        [
            "Final answer: a3",
            "oops",
            "Final answer: c3",
            "Final answer: a1",
            "Final answer: b1",
            "Final answer: c1",
        ]
    )

    def script(messages):
        return next(replies)

    model = LLMPlayer("m", ScriptedBackend(script), prompt=PromptOptions(style="chat"))
    # minimax never lets a3/c3 win, so the model gets several turns
    result = run(play_match(game, [model, BotPlayer("r", "minimax")], seed=0))
    model_moves = [m for m in result.moves if m.seat == 0]
    second = model_moves[1].attempts
    assert not second[0].legal and second[1].legal
    convo = second[1].messages
    roles = [m["role"] for m in convo]
    assert roles[:4] == ["system", "user", "assistant", "user"]
    assert convo[2]["content"] == "Final answer: a3"
    assert convo[-2]["content"] == "oops" and "not accepted" in convo[-1]["content"]


def test_a_reply_cut_off_by_max_tokens_says_so():
    model = LLMPlayer("m", ScriptedBackend(["let me think " * 50]), sampling=Sampling(max_tokens=5))
    result = run(
        play_match(
            games.make("tictactoe"), [model, BotPlayer("r", "random")], rules=MatchRules(retries=0)
        )
    )
    attempt = result.moves[-1].attempts[0]
    assert attempt.finish_reason == "length"
    assert "cut off at the token limit" in attempt.error


def test_hostile_replies_are_stored_verbatim_and_never_executed():
    hostile = "[bold red]b2[/] \x1b[2J\x1b]0;pwned\x07 __import__('os').system('x')"
    model = llm("m", [hostile, "Final answer: a1"])
    result = run(play_match(games.make("tictactoe"), [model, BotPlayer("r", "random")], seed=1))
    first = result.moves[0].attempts[0]
    assert first.raw == hostile
    # The move inside the markup is read as text; nothing in the reply is interpreted.
    assert first.legal and first.action == "b2"


def test_a_bot_gives_its_policy_and_a_slow_bot_moves_off_the_loop():
    game = games.make("connect_four")
    slow = BotPlayer("deep", "minimax", {"depth": 5})
    result = run(play_match(game, [slow, BotPlayer("r", "random")], seed=0))
    assert result.status == "finished"
    first = result.moves[0].attempts[0]
    assert first.policy and abs(sum(first.policy.values()) - 1) < 1e-9


def test_wrong_number_of_players_is_refused():
    with pytest.raises(ValueError, match="needs 2 players"):
        run(play_match(games.make("tictactoe"), [BotPlayer("a", "random")]))


def test_rules_are_validated():
    with pytest.raises(ValueError):
        MatchRules(retries=-1)
    with pytest.raises(ValueError):
        MatchRules(on_exhausted="shrug")


def test_replies_stream_only_when_asked():
    from arena.match import ReplyText

    game = games.make("tictactoe")

    def play(stream):
        events = []
        model = llm("m", ["Final answer: b2", "Final answer: a1", "Final answer: c3"])
        run(
            play_match(
                game, [model, BotPlayer("r", "random")], on_event=events.append, stream=stream
            )
        )
        return [e for e in events if isinstance(e, ReplyText)]

    streamed = play(True)
    assert streamed and streamed[0].seat == 0 and streamed[0].text == "Final answer: b2"
    assert play(False) == []
