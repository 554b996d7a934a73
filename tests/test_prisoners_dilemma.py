"""Iterated prisoner's dilemma: payoffs, the hidden simultaneous choice, messages, and bots."""

from __future__ import annotations

import random

import pytest

import games
from games import TERMINAL, GameParamError, IllegalActionError
from games.bots import make_bot


def _play(state: games.State, *moves: str) -> games.State:
    for move in moves:
        state.apply(move)
    return state


def _match(game: games.Game, first: str, second: str, seed: int = 0) -> games.State:
    bots = [make_bot(game, first), make_bot(game, second)]
    rng = random.Random(seed)
    state = game.new_initial_state()
    while state.current_player() != TERMINAL:
        state.apply(bots[state.current_player()].act(state, rng))
    return state


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ("cooperate", "cooperate", [3.0, 3.0]),
        ("cooperate", "defect", [0.0, 5.0]),
        ("defect", "cooperate", [5.0, 0.0]),
        ("defect", "defect", [1.0, 1.0]),
    ],
)
def test_one_round_payoffs(first, second, expected):
    state = _play(games.make("prisoners_dilemma", rounds=1).new_initial_state(), first, second)
    assert state.is_terminal()
    rets = state.returns()
    assert rets == expected and all(isinstance(r, float) for r in rets)


def test_returns_add_up_over_rounds_and_are_general_sum():
    game = games.make("prisoners_dilemma", rounds=3)
    assert not game.zero_sum and game.simultaneous and game.hidden_info
    state = game.new_initial_state()
    _play(state, "cooperate", "cooperate", "defect", "cooperate")
    assert not state.is_terminal() and state.returns() == [8.0, 3.0]
    _play(state, "defect", "defect")
    assert state.is_terminal() and state.returns() == [9.0, 4.0]
    assert state.legal_actions() == []
    with pytest.raises(IllegalActionError):
        state.apply("cooperate")


def test_turn_order_and_illegal_moves():
    state = games.make("prisoners_dilemma").new_initial_state()
    assert state.current_player() == 0 and state.legal_actions() == ["cooperate", "defect"]
    with pytest.raises(IllegalActionError):
        state.apply("message: hello")  # no message phase without messages=True
    state.apply("defect")
    assert state.current_player() == 1
    with pytest.raises(IllegalActionError):
        state.apply("betray")  # aliases are for parse_action; apply takes canonical actions


def test_second_player_cannot_see_the_first_choice_of_the_round():
    game = games.make("prisoners_dilemma")
    coop = _play(game.new_initial_state(), "cooperate")
    defect = _play(game.new_initial_state(), "defect")
    assert coop.observation(1) == defect.observation(1)
    assert coop.information_state(1) == defect.information_state(1)
    assert "chose cooperate" not in coop.observation(1)
    assert "Player 0 has chosen; the choice is hidden" in coop.observation(1)
    # Seat 0 sees its own choice.
    assert coop.observation(0) != defect.observation(0)
    assert "You chose cooperate" in coop.observation(0)
    (flipped,) = coop.indistinguishable_states(1)
    assert flipped.history() == ["defect"]
    assert coop.indistinguishable_states(0) == []
    # Once the round resolves, both choices are public.
    _play(coop, "defect")
    assert "you chose defect, player 0 chose cooperate" in coop.observation(1)
    assert "you chose cooperate, player 1 chose defect" in coop.observation(0)
    assert coop.indistinguishable_states(1) == []


def test_message_phase_comes_first_each_round():
    game = games.make("prisoners_dilemma", rounds=2, messages=True)
    state = game.new_initial_state()
    assert state.current_player() == 0
    assert state.legal_actions() == [
        "message: I will cooperate",
        "message: I will defect",
        "message: (nothing)",
    ]
    state.apply("message: Let's both cooperate, deal?")  # any well-formed message is legal
    assert state.current_player() == 1
    assert 'player 0 said "Let\'s both cooperate, deal?"' in state.observation(1)
    state.apply("message: (nothing)")
    assert state.legal_actions() == ["cooperate", "defect"]
    _play(state, "cooperate", "cooperate")
    assert state.current_player() == 0 and state.legal_actions()[0].startswith("message: ")
    obs = state.observation(1)
    assert 'Round 1: player 0 said "Let\'s both cooperate, deal?"; you said "(nothing)"' in obs


@pytest.mark.parametrize(
    "bad", ["message: ", "message:  padded", "message: two\nlines", "message: " + "x" * 201, "hi"]
)
def test_malformed_messages_are_illegal(bad):
    state = games.make("prisoners_dilemma", messages=True).new_initial_state()
    with pytest.raises(IllegalActionError):
        state.apply(bad)


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("message: I will cooperate", "message: I will cooperate"),
        ("Let's cooperate all game.", "message: Let's cooperate all game."),
        ("I should build trust.\nmessage: Trust me", "message: Trust me"),
        ("Thinking...\nFinal answer: message: deal?", "message: deal?"),
        ('"quoted words"', "message: quoted words"),
        ("zzzzqqqq", "message: zzzzqqqq"),  # free text: any words are a message
    ],
)
def test_messages_parse_from_free_text(reply, expected):
    game = games.make("prisoners_dilemma", messages=True)
    state = game.new_initial_state()
    parsed = game.parse_action(state, reply)
    assert parsed.ok and parsed.action == expected
    state.apply(parsed.action)  # what parses is accepted by apply


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("", "empty"),
        (None, "empty"),
        (12345, "empty"),
        ("[[[[", "empty"),
        ("\x1b[31m??\x00", "control characters"),
        ("first line\nsecond line", "single line"),
        ("message: " + "y" * 201, "limit is 200"),
    ],
)
def test_bad_messages_get_reasons(reply, reason):
    game = games.make("prisoners_dilemma", messages=True)
    parsed = game.parse_action(game.new_initial_state(), reply)
    assert not parsed.ok and reason in parsed.error


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("cooperate", "cooperate"),
        ("C", "cooperate"),
        ("d.", "defect"),
        ("I will stay silent", "cooperate"),
        ("I betray them", "defect"),
        ("confess", "defect"),
        ("I'd rather cooperate", "cooperate"),
        ("Reasoning about it...\nFinal answer: DEFECT", "defect"),
    ],
)
def test_choices_parse_with_aliases(reply, expected):
    game = games.make("prisoners_dilemma")
    assert game.parse_action(game.new_initial_state(), reply).action == expected


def test_unclear_choices_get_reasons():
    game = games.make("prisoners_dilemma")
    state = game.new_initial_state()
    assert "several moves" in game.parse_action(state, "cooperate or defect?").error
    assert "cooperate, defect" in game.parse_action(state, "maybe").error


@pytest.mark.parametrize(
    "params, message",
    [
        ({"rounds": 0}, "rounds"),
        ({"rounds": 101}, "rounds"),
        ({"messages": 1}, "messages"),
        ({"T": 6}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(GameParamError, match=message):
        games.make("prisoners_dilemma", **params)


@pytest.mark.parametrize("messages", [False, True])
def test_tit_for_tat_against_always_defect_over_five_rounds(messages):
    game = games.make("prisoners_dilemma", messages=messages)
    assert _match(game, "tit_for_tat", "always_defect").returns() == [4.0, 9.0]
    assert _match(game, "always_defect", "tit_for_tat").returns() == [9.0, 4.0]


def test_grim_and_tit_for_tat_cooperate_throughout():
    game = games.make("prisoners_dilemma")
    state = _match(game, "grim", "tit_for_tat")
    assert state.returns() == [15.0, 15.0]
    assert state.choices == [("cooperate", "cooperate")] * 5


def test_grim_never_forgives():
    game = games.make("prisoners_dilemma")
    bot = make_bot(game, "grim")
    state = _play(game.new_initial_state(), "cooperate", "defect", "cooperate", "cooperate")
    assert bot.policy(state) == {"defect": 1.0}


def test_bots_announce_their_plan_in_the_message_phase():
    game = games.make("prisoners_dilemma", messages=True)
    state = _match(game, "tit_for_tat", "always_defect")
    said = [m for m in state.history() if m.startswith("message: ")]
    assert said[:2] == ["message: I will cooperate", "message: I will defect"]
    assert said[2] == "message: I will defect"  # tit-for-tat copies the defection next round
