"""Negotiation: move parsing, trades, denial, the turn limit and the winner."""

from __future__ import annotations

import random

import pytest

import games
from games.bots import make_bot
from games.negotiation import (
    ACCEPT,
    DENY,
    NUM_DEALS,
    PASS,
    RESOURCES,
    VALUE_RANGES,
    deal_text,
    parse_move,
)

# Seat 0: 10 of everything at the base values; seat 1: its own stock and values.
STOCK = ([10, 10, 10, 10, 10], [20, 5, 8, 12, 6])
VALUES = ([5, 10, 15, 25, 40], [6, 9, 14, 22, 45])


def dealt(turns: int = 10) -> games.State:
    game = games.make("negotiation", turns=turns)
    state = game.new_initial_state()
    for seat in (0, 1):
        for res in range(5):
            state.apply(deal_text(seat, res, STOCK[seat][res], VALUES[seat][res]))
    assert state.current_player() == 0
    return state


def parse(state: games.State, text: object) -> games.Parsed:
    return state.game.parse_action(state, text)


def test_chance_deals_uniform_private_stock_and_values():
    state = games.make("negotiation").new_initial_state()
    outcomes = state.chance_outcomes()
    assert len(outcomes) == 21 * len(VALUE_RANGES[0])
    assert len({p for _, p in outcomes}) == 1
    assert outcomes[0][0] == "seat 0 Wheat: 5 units, value 4 each"
    with pytest.raises(games.IllegalActionError):
        state.apply("seat 0 Wheat: 30 units, value 4 each")  # outside 5..25
    with pytest.raises(games.IllegalActionError):
        state.apply("seat 1 Wheat: 10 units, value 5 each")  # seat 0 is dealt first
    state = dealt()
    assert state.qty == [STOCK[0], STOCK[1]]
    assert state.values == [VALUES[0], VALUES[1]]
    assert len(state.history()) == NUM_DEALS
    assert all("hidden" in a for a in state.public_history())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[Offer: 2 Wood, 1 Ore -> 3 Brick]", "[Offer: 2 Wood, 1 Ore -> 3 Brick]"),
        (
            "Let's trade.   [offer: 1 ore, 2 WOOD -> 3 bricks]",
            "Let's trade. [Offer: 2 Wood, 1 Ore -> 3 Brick]",
        ),
        ("[offer: give 2 wood and 1 ore for 3 brick]", "[Offer: 2 Wood, 1 Ore -> 3 Brick]"),
        ("[Offer: I give 2 Wood; I receive 3 Brick]", "[Offer: 2 Wood -> 3 Brick]"),
        (
            "[Offer: wood x2 + an ore in exchange for two sheep]",
            "[Offer: 2 Wood, 1 Ore -> 2 Sheep]",
        ),
        ("[Offer: 1 Wood, 1 Wood → 1 Wheat]", "[Offer: 2 Wood -> 1 Wheat]"),
        ("Offer: 3 wheat -> 1 ore", "[Offer: 3 Wheat -> 1 Ore]"),
        ("Final answer: Deal? [Offer: 1 Sheep -> 1 Ore]", "Deal? [Offer: 1 Sheep -> 1 Ore]"),
        ("I think so.\n\nFinal answer: I pass this turn.", "I pass this turn."),
        ("[Offer: 1 Wheat -> 1 Ore] Your move!", "Your move! [Offer: 1 Wheat -> 1 Ore]"),
        ('**"Hello there, friend."**', "Hello there, friend."),
    ],
)
def test_parse_accepts_loose_offers_and_canonicalises(text, expected):
    state = dealt()
    parsed = parse(state, text)
    assert parsed.ok, parsed.error
    assert parsed.action == expected
    assert parse(state, parsed.action).action == expected  # canonical is a fixed point


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[Offer: 2 Wood]", "exactly one arrow"),
        ("[Offer: 2 Wood -> 1 Gold]", "not a quantity of a resource"),
        ("[Offer: 2 Wood -> 1 Wood]", "cannot both give and ask for Wood"),
        ("[Offer: 0 Wood -> 1 Ore]", "at least 1"),
        ("[Offer: 1 Wood -> 500 Ore]", "at most 99"),
        ("[Offer: 1 Wood -> 1 Ore] [Accept]", "one action per move"),
        ("[Offer: 1 Wood -> 1 Ore", "without its partner"),
        ("Nice weather [smile]", "unknown action"),
        ("", "empty"),
    ],
)
def test_parse_rejects_malformed_moves_with_a_reason(text, reason):
    parsed = parse(dealt(), text)
    assert not parsed.ok
    assert reason in parsed.error


def test_offer_of_goods_not_held_is_rejected_for_the_offerer():
    state = dealt()
    parsed = parse(state, "[Offer: 11 Wood -> 1 Ore]")
    assert not parsed.ok and "hold only 10 Wood" in parsed.error
    assert parse(state, "[Offer: 10 Wood -> 40 Ore]").ok  # asking for anything is allowed
    with pytest.raises(games.IllegalActionError):
        state.apply("[Offer: 11 Wood -> 1 Ore]")


def test_move_longer_than_300_characters_is_rejected():
    state = dealt()
    action = " [Offer: 1 Wood -> 1 Ore]"
    fits = "a" * (300 - len(action) - 2) + " b" + action
    assert len(fits) == 300 and parse(state, fits).action == fits
    parsed = parse(state, "a" + fits)
    assert not parsed.ok and "at most 300" in parsed.error
    assert not parse(state, "word " * 80).ok


def test_accept_executes_the_trade_exactly():
    state = dealt()
    state.apply("Fair deal. [Offer: 2 Wood, 1 Ore -> 3 Brick]")
    assert state.legal_actions()[:2] == [ACCEPT, DENY]
    state.apply(ACCEPT)
    assert state.qty[0] == [10, 8, 10, 13, 9]
    assert state.qty[1] == [20, 7, 8, 9, 7]
    assert state.pending is None
    assert state.log[-1][2] == "trade done"
    assert state.growth(0) == 3 * 25 - 2 * 10 - 40
    assert state.growth(1) == 2 * 9 + 45 - 3 * 22


def test_accept_needs_the_goods_the_offer_asks_for():
    state = dealt()
    state.apply("[Offer: 1 Wheat -> 7 Ore]")  # seat 1 holds only 6 Ore
    assert ACCEPT not in state.legal_actions()
    parsed = parse(state, "[Accept]")
    assert not parsed.ok and "asks for 7 Ore and you hold 6 Ore" in parsed.error
    with pytest.raises(games.IllegalActionError):
        state.apply(ACCEPT)
    state.apply(DENY)
    assert state.qty == [STOCK[0], STOCK[1]]


def test_accept_and_deny_need_a_pending_offer():
    state = dealt()
    for action in (ACCEPT, DENY):
        assert action not in state.legal_actions()
        parsed = parse(state, action)
        assert not parsed.ok and "no pending offer" in parsed.error
        with pytest.raises(games.IllegalActionError):
            state.apply(action)


def test_deny_and_any_other_move_deny_the_pending_offer():
    state = dealt()
    state.apply("[Offer: 1 Wood -> 1 Ore]")
    state.apply(DENY)
    assert state.pending is None and state.log[-1][2] == "offer denied"
    state.apply("[Offer: 2 Wheat -> 1 Sheep]")
    assert state.pending == (0, (2, 0, 0, 0, 0), (0, 0, 1, 0, 0))
    state.apply("No thanks, I keep my sheep.")  # a message: implicitly denies
    assert state.pending is None and state.log[-1][2] == "pending offer denied"
    state.apply("[Offer: 1 Ore -> 1 Brick]")
    state.apply("[Offer: 1 Brick -> 1 Ore]")  # a counter-offer replaces it
    assert state.pending == (1, (0, 0, 0, 1, 0), (0, 0, 0, 0, 1))
    assert state.current_player() == 0 and ACCEPT in state.legal_actions()
    assert state.qty == [STOCK[0], STOCK[1]]


def test_game_ends_after_the_turn_limit_and_a_last_offer_expires():
    state = dealt(turns=3)
    state.apply(PASS)
    state.apply(PASS)
    assert state.current_player() == 0 and not state.is_terminal()
    state.apply("[Offer: 1 Wood -> 1 Ore]")
    assert state.is_terminal() and state.legal_actions() == []
    assert "offer expired" in state.log[-1][2]
    assert state.qty == [STOCK[0], STOCK[1]]
    with pytest.raises(games.IllegalActionError):
        state.apply(PASS)
    assert games.make("negotiation").rules().count("10 moves in all (5 each)") == 1


def test_winner_is_the_larger_value_growth_and_equal_growth_ties():
    state = dealt(turns=2)
    state.apply(PASS)
    state.apply(PASS)
    assert state.returns() == [0.0, 0.0]  # nobody traded: a tie
    # Seat 0 gives 1 Wheat (5) for 1 Ore (40): +35; seat 1 gives Ore (45) for Wheat (6): -39.
    state = dealt(turns=2)
    state.apply("[Offer: 1 Wheat -> 1 Ore]")
    state.apply(ACCEPT)
    assert state.returns() == [1.0, -1.0]
    assert "Result: you won." in state.observation(0)
    assert "Result: you lost." in state.observation(1)
    # Both gain exactly the same: seat 0 swaps 2 Wheat (10) for 1 Wood (10): 0; seat 1: 12 - 9.
    state = dealt(turns=2)
    state.apply("[Offer: 2 Wheat -> 1 Wood]")
    state.apply(ACCEPT)
    assert (state.growth(0), state.growth(1)) == (0, 3)
    assert state.returns() == [-1.0, 1.0]
    game = games.make("negotiation", turns=2)
    tied = game.new_initial_state()
    same = ([10] * 5, [5, 10, 15, 25, 40])
    for seat in (0, 1):
        for res in range(5):
            tied.apply(deal_text(seat, res, same[0][res], same[1][res]))
    tied.apply("[Offer: 2 Wheat -> 1 Wood]")
    tied.apply(ACCEPT)
    assert (tied.growth(0), tied.growth(1)) == (0, 0)
    assert tied.returns() == [0.0, 0.0]


def test_apply_takes_any_canonical_move_but_not_raw_text():
    state = dealt()
    state.apply("Hi! I have lots of wood. [Offer: 3 Wood -> 1 Ore]")
    assert state.pending == (0, (0, 3, 0, 0, 0), (0, 0, 0, 0, 1))
    with pytest.raises(games.IllegalActionError):
        state.apply("[accept]")  # well-formed but not canonical: parse it first
    state.apply("Thanks. [Accept]")
    assert state.qty[0][1] == 7 and state.qty[1][4] == 5


def test_canonical_moves_are_fixed_points_of_the_parser():
    state = dealt()
    rng = random.Random(5)
    words = ["deal", "wood", "Ore", "please", "[Accept]", "[Deny]", "->", "offer:", "2", "x"]
    pieces = ["[Offer: 2 wood -> 1 ore]", "[offer: give a sheep for two wheat]", "ok then"]
    for _ in range(300):
        text = " ".join(rng.choice(words + pieces) for _ in range(rng.randint(1, 6)))
        parsed = parse(state, text)
        if parsed.ok:
            assert parse(state, parsed.action).action == parsed.action, text
            clone = state.clone()
            clone.apply(parsed.action)
            assert clone.history()[-1] == parsed.action


def test_parse_move_is_state_free_and_never_raises_on_junk():
    huge = "[Offer: " + "1" * 5000 + " Wood -> 1 Ore]"  # int() refuses 5000 digits
    for junk in (None, 12345, "\x1b[31m??\x00", "[[[[", "]]", "[]", "[Offer: -> ]", "🙂 🙂", huge):
        assert not dealt().game.parse_action(dealt(), junk).ok
    move, err = parse_move("[Offer: 3 ore -> 1 wheat, 1 sheep]")
    assert err is None and move.give == (0, 0, 0, 0, 3) and move.receive == (1, 0, 1, 0, 0)


def test_observation_shows_own_deal_and_hides_the_opponents_until_the_end():
    state = dealt()
    state.apply("Want Ore? [Offer: 1 Wood -> 1 Ore]")
    obs1 = state.observation(1)
    assert "Wheat: 20 units, value 6 each" in obs1
    assert "value 5 each" not in obs1  # seat 0's Wheat value
    assert "Pending offer from your opponent" in obs1 and "[Accept]" in obs1
    assert "Want Ore? [Offer: 1 Wood -> 1 Ore]" in obs1
    for other in state.indistinguishable_states(1):
        assert other.values[0] != state.values[0] or other.qty[0] != state.qty[0]
        assert other.observation(1) == obs1
    while not state.is_terminal():
        state.apply(PASS)
    assert "value 5" in state.observation(1)  # revealed at the end
    assert state.indistinguishable_states(1) == []


def test_heuristic_accepts_only_offers_that_raise_its_value():
    bot = make_bot(games.make("negotiation"), "heuristic")
    state = dealt()
    state.apply("[Offer: 1 Ore -> 1 Brick]")  # seat 1: +45 - 22
    assert bot.policy(state) == {ACCEPT: 1.0}
    state = dealt()
    state.apply("[Offer: 1 Brick -> 1 Ore]")  # seat 1: +22 - 45
    policy = bot.policy(state)
    assert ACCEPT not in policy
    for action in policy:
        if action != DENY:
            move, _ = parse_move(action)
            gain = sum(
                (r - g) * v for g, r, v in zip(move.give, move.receive, VALUES[1], strict=True)
            )
            assert gain > 0


def test_heuristic_beats_random_and_never_loses_value():
    game = games.make("negotiation")
    bot, rand = make_bot(game, "heuristic"), make_bot(game, "random")
    results = []
    for seed in range(120):
        rng = random.Random(seed)
        state, seat = game.new_initial_state(), seed % 2
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply(games.sample_chance(state, rng))
            else:
                player = bot if state.current_player() == seat else rand
                state.apply(player.act(state, rng))
        assert state.growth(seat) >= 0
        results.append(state.returns()[seat])
    assert results.count(1.0) > 3 * results.count(-1.0)


def test_turns_parameter_is_checked():
    with pytest.raises(games.GameParamError):
        games.make("negotiation", turns=1)
    assert games.make("negotiation", turns=7).rules().count("4 and 3 each") == 1
    assert RESOURCES[0] in games.make("negotiation").rules()


def test_a_one_word_message_is_a_legal_move():
    parsed = parse(dealt(), "hello")
    assert parsed.ok and parsed.action == "hello"
