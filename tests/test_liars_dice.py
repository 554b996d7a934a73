"""Liar's dice: structure, bid order, wild dice, who loses, parsing, and the heuristic bot."""

from __future__ import annotations

import random

import pytest

import games
from games import CHANCE, TERMINAL, GameParamError, IllegalActionError
from games.bots import make_bot
from games.bots.liars_dice_heuristic import bid_probability, binomial_tail


def _rolled(*faces: int, **params) -> games.State:
    """A state right after the dice were rolled with `faces` (seat by seat)."""
    game = games.make("liars_dice", **params)
    state = game.new_initial_state()
    for face in faces:
        state.apply(f"roll {face}")
    return state


def _play(state: games.State, *moves: str) -> games.State:
    for move in moves:
        state.apply(move)
    return state


def test_default_game_has_openspiel_structure():
    game = games.make("liars_dice")
    state = game.new_initial_state()
    for _ in range(2):  # one chance node per die, six equally likely faces
        assert state.current_player() == CHANCE
        outcomes = state.chance_outcomes()
        assert [a for a, _ in outcomes] == [f"roll {f}" for f in range(1, 7)]
        assert all(abs(p - 1 / 6) < 1e-12 for _, p in outcomes)
        assert state.legal_actions() == []
        state.apply("roll 2")
    assert state.current_player() == 0
    legal = state.legal_actions()
    assert legal == [f"bid {q} {f}" for q in (1, 2) for f in range(1, 7)]
    assert "liar" not in legal  # no challenge before the first bid
    state.apply("bid 1 4")
    assert state.current_player() == 1
    assert state.legal_actions() == ["bid 1 5", "bid 1 6"] + [f"bid 2 {f}" for f in range(1, 7)] + [
        "liar"
    ]


def test_bids_must_rise_in_quantity_or_face():
    state = _play(_rolled(1, 2), "bid 1 6")
    assert state.legal_actions() == [f"bid 2 {f}" for f in range(1, 7)] + ["liar"]
    for lower in ("bid 1 6", "bid 1 5", "bid 1 1"):
        with pytest.raises(IllegalActionError):
            state.apply(lower)
    state.apply("bid 2 1")  # a higher quantity beats any face
    state.apply("bid 2 6")
    assert state.legal_actions() == ["liar"]  # the highest bid leaves only the challenge


def test_liar_before_any_bid_and_rolls_outside_chance_are_illegal():
    state = _rolled(3, 4)
    with pytest.raises(IllegalActionError):
        state.apply("liar")
    with pytest.raises(IllegalActionError):
        state.apply("roll 3")
    chance = games.make("liars_dice").new_initial_state()
    with pytest.raises(IllegalActionError):
        chance.apply("bid 1 1")
    with pytest.raises(IllegalActionError):
        chance.apply("roll 7")


def test_wild_dice_count_toward_other_faces():
    # Dice 3 and 6: the 6 is wild, so two dice count as 3s; the bid holds, the challenger loses.
    state = _play(_rolled(3, 6), "bid 2 3", "liar")
    assert state.is_terminal()
    assert state.loser == 1 and state.challenger == 1
    assert state.returns() == [1.0, -1.0]


def test_bid_on_the_wild_face_counts_only_wild_dice():
    # Dice 3 and 6: only one die shows 6, so "bid 2 6" fails and the bidder (seat 1) loses.
    state = _play(_rolled(3, 6), "bid 1 5", "bid 2 6", "liar")
    assert state.loser == 1 and state.challenger == 0
    assert state.returns() == [1.0, -1.0]
    # Two real 6s make it hold: then the challenger loses.
    state = _play(_rolled(6, 6), "bid 1 5", "bid 2 6", "liar")
    assert state.loser == 0
    assert state.returns() == [-1.0, 1.0]


def test_failed_non_wild_bid_makes_the_bidder_lose():
    state = _play(_rolled(2, 4), "bid 2 4", "liar")  # only one 4, no wild die
    assert state.loser == 0 and state.challenger == 1
    assert state.returns() == [-1.0, 1.0]
    assert "the bid failed" in state.observation(0)


def test_three_players_turns_and_zero_sum_returns():
    state = _rolled(1, 2, 3, num_players=3)
    state = _play(state, "bid 1 4", "bid 1 5", "bid 2 4", "liar")  # seat 0 challenges seat 2
    assert state.challenger == 0
    # Dice 1, 2, 3: no 4s and no wild die, so the bidder, seat 2, loses.
    assert state.returns() == [0.5, 0.5, -1.0]
    # Seat 1 challenges a bid that holds (one 2 on the table): the challenger loses.
    state = _play(_rolled(1, 2, 3, num_players=3), "bid 1 2", "liar")
    assert state.returns() == [0.5, -1.0, 0.5]
    many = _play(_rolled(1, 1, 1, 1, 1, 1, num_players=6), "bid 1 5", "liar")
    rets = many.returns()
    assert rets[0] == -1.0 and all(r == pytest.approx(0.2) for r in rets[1:])
    assert sum(rets) == pytest.approx(0.0)


def test_several_dice_per_player_are_rolled_seat_by_seat():
    game = games.make("liars_dice", dice=2)
    state = game.new_initial_state()
    for face in (1, 2, 5, 6):
        state.apply(f"roll {face}")
    assert state.own_dice(0) == [1, 2] and state.own_dice(1) == [5, 6]
    assert len(state.legal_actions()) == 4 * 6
    assert "Your dice: 1, 2." in state.observation(0)
    assert "5" not in state.observation(0).split("Your dice:")[1].split("\n")[0]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"num_players": 1}, "num_players"),
        ({"num_players": 7}, "num_players"),
        ({"dice": 0}, "dice"),
        ({"dice": 6}, "dice"),
        ({"faces": 1}, "faces"),
        ({"faces": "six"}, "faces"),
        ({"sides": 6}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(GameParamError, match=message):
        games.make("liars_dice", **params)


def test_bigger_games_have_consistent_bid_lists():
    game = games.make("liars_dice", num_players=4, dice=3, faces=8)
    assert game.total_dice == 12 and len(game.bid_actions) == 96
    for index, action in enumerate(game.bid_actions):
        assert action == "bid {} {}".format(*game.bid_of(index))
        assert game.bid_index(*game.bid_of(index)) == index
    state = games.random_playout(game, 5)
    assert state.is_terminal()


@pytest.mark.parametrize(
    "reply",
    [
        "bid 2 5",
        "2 fives",
        "two 5s",
        "2x5",
        "2 x 5",
        "2 5",
        "2 5s",
        "[Bid: 2, 5]",
        "BID 2 5",
        "I think there are at least two dice showing 5.\nFinal answer: 2 5s",
        "\\boxed{2 \\times 5}",
        "<answer>bid 2 5</answer>",
        "quantity: 2, face: 5",
        "The current bid is 1 4s, so I raise: bid 2 5",
    ],
)
def test_bid_variants_parse(reply):
    state = _play(_rolled(5, 1), "bid 1 4")
    parsed = state.game.parse_action(state, reply)
    assert parsed.ok, parsed.error
    assert parsed.action == "bid 2 5"


@pytest.mark.parametrize("reply", ["liar", "Liar!", "call", "I challenge that.", "LIAR"])
def test_liar_variants_parse(reply):
    state = _play(_rolled(5, 1), "bid 1 4")
    assert state.game.parse_action(state, reply).action == "liar"


def test_illegal_bids_get_helpful_reasons():
    state = _play(_rolled(5, 1), "bid 2 3")
    game = state.game
    reason = game.parse_action(state, "bid 1 3").error
    assert reason.startswith("bid 1 3 is not higher than the current bid 2 3;")
    assert "bid 2 4" in reason and "liar" in reason
    assert "only 2 dice" in game.parse_action(state, "bid 3 5").error
    assert "faces 1 to 6" in game.parse_action(state, "bid 2 9").error
    assert "at least 1" in game.parse_action(state, "bid 0 5").error
    opening = _rolled(5, 1)
    assert "before anyone has bid" in game.parse_action(opening, "liar").error
    ambiguous = game.parse_action(state, "maybe 2 4s, or 2 5s").error
    assert "several moves" in ambiguous
    junk = game.parse_action(state, "zzzz").error
    assert "not a move" in junk and "bid 2 4" in junk


def test_observation_shows_own_dice_bids_and_legal_moves_only():
    state = _play(_rolled(4, 2), "bid 1 3")
    obs1 = state.observation(1)
    assert "Your dice: 2." in obs1
    assert "player 0: bid 1 3" in obs1
    assert "Current bid: bid 1 3" in obs1
    assert "It is your turn. Legal moves: bid 1 4" in obs1 and "liar" in obs1
    assert "4" not in obs1.split("Legal moves:")[0].replace("bid 1 4", "")
    obs0 = state.observation(0)
    assert "Your dice: 4." in obs0 and "It is player 1's turn." in obs0


def test_large_games_summarise_legal_moves_in_the_observation():
    state = _rolled(*([2] * 12), num_players=4, dice=3)
    obs = state.observation(0)
    assert "any bid from bid 1 1 to bid 12 6" in obs
    assert len(state.legal_actions()) == 72
    state.apply("bid 3 2")
    assert "any bid higher than bid 3 2 (from bid 3 3 to bid 12 6), or liar" in state.observation(1)


def test_indistinguishable_states_change_only_other_seats_dice():
    state = _play(_rolled(1, 2, 3, 4, 5, 6, num_players=3, dice=2), "bid 1 4")
    others = state.indistinguishable_states(1)
    assert len(others) == 4 * 5 + 1
    for other in others:
        assert other.own_dice(1) == [3, 4]
        assert other.observation(1) == state.observation(1)
        assert other.information_state(1) == state.information_state(1)
        changed = [
            i
            for i, (a, b) in enumerate(zip(other.history(), state.history(), strict=True))
            if a != b
        ]
        assert changed and set(changed) <= {0, 1, 4, 5}
    assert _play(state.clone(), "liar").indistinguishable_states(0) == []


def test_binomial_odds_of_a_bid():
    assert binomial_tail(3, 0.5, 0) == 1.0
    assert binomial_tail(2, 0.5, 3) == 0.0
    assert binomial_tail(2, 0.5, 1) == pytest.approx(0.75)
    game = games.make("liars_dice")
    assert bid_probability(game, [6], 1, 3) == 1.0  # own wild die counts as a 3
    assert bid_probability(game, [6], 2, 3) == pytest.approx(1 / 3)
    assert bid_probability(game, [3], 2, 6) == 0.0  # a 3 never counts toward 6s
    assert bid_probability(game, [6], 2, 6) == pytest.approx(1 / 6)


def test_heuristic_calls_unlikely_bids_and_raises_plausibly():
    bot = make_bot(games.make("liars_dice"), "heuristic")
    state = _play(_rolled(5, 2), "bid 2 4")  # seat 1 holds a 2: two 4s has no chance
    assert bot.policy(state) == {"liar": 1.0}
    state = _play(_rolled(5, 2), "bid 1 2")  # seat 1 holds the 2: the bid surely holds
    # "bid 1 3" and "bid 2 2" both hold with probability 1/3 (the other die is a 3 or a 6,
    # or a 2 or a 6): the smaller raise wins the tie; "bid 1 6" has only 1/6.
    assert bot.policy(state) == {"bid 1 3": 1.0}
    opening = _rolled(5, 2)
    assert bot.policy(opening) == {"bid 1 5": 1.0}  # the smallest sure bid


def test_heuristic_beats_random_most_of_the_time():
    game = games.make("liars_dice")
    heuristic, rand = make_bot(game, "heuristic"), make_bot(game, "random")
    wins = 0
    for seed in range(400):
        rng = random.Random(seed)
        seat = seed % 2
        state = game.new_initial_state()
        while state.current_player() != TERMINAL:
            if state.is_chance_node():
                state.apply(games.sample_chance(state, rng))
                continue
            bot = heuristic if state.current_player() == seat else rand
            state.apply(bot.act(state, rng))
        wins += state.returns()[seat] > 0
    assert wins / 400 >= 0.70


def test_information_state_and_public_history_hide_other_dice():
    state = _play(_rolled(4, 2), "bid 1 3")
    assert state.public_history() == ["roll ?", "roll ?", "bid 1 3"]
    assert state.information_state(0) != state.information_state(1)
    assert "2" not in state.information_state(0).split("|")[1]
