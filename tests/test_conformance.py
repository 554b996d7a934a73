"""One conformance check that every registered game passes (OpenSpiel's random-simulation test).

Thousands of seeded random playouts per game: they end, returns are well formed (zero-sum games
sum to zero), clones are independent, the player to move always has legal actions, every legal
action parses back to itself, the same seed gives the same game, and no seat's observation or
information state reveals another seat's private information.
"""

from __future__ import annotations

import math
import random

import pytest

import games
from games import CHANCE, TERMINAL
from games.bots import available_bots, make_bot

# Slow games get fewer playouts; everything else plays thousands.
PLAYOUTS = {"chess": 40}
DEFAULT_PLAYOUTS = 2000
MAX_STEPS = 5000


def _playout(game: games.Game, seed: int, check=None) -> games.State:
    rng = random.Random(seed)
    state = game.new_initial_state()
    for _ in range(MAX_STEPS):
        player = state.current_player()
        if check is not None:
            check(state)
        if player == TERMINAL:
            assert state.is_terminal()
            assert state.legal_actions() == []
            return state
        assert not state.is_terminal()
        if player == CHANCE:
            outcomes = state.chance_outcomes()
            assert outcomes, "a chance node without outcomes"
            assert all(p > 0 for _, p in outcomes)
            assert math.isclose(sum(p for _, p in outcomes), 1.0, abs_tol=1e-9)
            state.apply(games.sample_chance(state, rng))
        else:
            assert 0 <= player < game.num_players
            state.apply(rng.choice(state.legal_actions()))
    raise AssertionError(f"{game.id}: a random playout did not end in {MAX_STEPS} steps")


@pytest.fixture(params=games.game_ids())
def game(request):
    return games.make(request.param)


def test_random_playouts_end_with_well_formed_returns(game):
    n = PLAYOUTS.get(game.id, DEFAULT_PLAYOUTS)
    outcomes = set()
    for seed in range(n):
        state = _playout(game, seed)
        rets = state.returns()
        assert len(rets) == game.num_players
        assert all(isinstance(r, float) and math.isfinite(r) for r in rets)
        if game.zero_sum:
            assert abs(sum(rets)) < 1e-9, (game.id, rets)
        outcomes.add(tuple(rets))
    # Random play explores: a game whose playouts all end the same way is suspicious.
    assert len(outcomes) > 1


def test_same_seed_same_game_and_history_is_complete(game):
    for seed in range(20):
        a = _playout(game, seed)
        b = _playout(game, seed)
        assert a.history() == b.history()
        assert a.returns() == b.returns()
        # The history alone reproduces the game.
        again = games.replay(game, a.history())
        assert again is not None and again.is_terminal()
        assert again.returns() == a.returns()


def test_legal_actions_are_well_formed_and_parse_back(game):
    def check(state):
        player = state.current_player()
        if player in (CHANCE, TERMINAL):
            assert state.legal_actions() == []
            return
        legal = state.legal_actions()
        assert legal, "the player to move has no legal action"
        assert all(isinstance(a, str) and a.strip() == a and a for a in legal)
        assert len(set(legal)) == len(legal), "duplicate legal actions"
        for action in random.Random(len(legal)).sample(legal, min(5, len(legal))):
            parsed = game.parse_action(state, action)
            assert parsed.ok and parsed.action == action, (action, parsed)
        # Junk never raises and never parses. (In a free-text game a stray word is a
        # legitimate message, so only text that is junk in every game is tried there.)
        junk_replies = ["", "   ", None, 12345, b"bytes"]
        if not game.free_text:
            junk_replies += ["\x1b[31m??\x00", "zzzzqqqq", "[[[["]
        for junk in junk_replies:
            parsed = game.parse_action(state, junk)
            assert not parsed.ok and parsed.error

    for seed in range(30 if game.id != "chess" else 3):
        _playout(game, seed, check)


def test_clone_is_independent(game):
    rng = random.Random(7)
    for _ in range(50 if game.id != "chess" else 5):
        state = game.new_initial_state()
        while not state.is_terminal():
            copy = state.clone()
            before = (state.history(), state.current_player(), state.returns())
            before_obs = [state.observation(p) for p in range(game.num_players)]
            # Play the copy to the end: the original must not move.
            games.random_playout(game, rng, copy)
            assert (state.history(), state.current_player(), state.returns()) == before
            assert [state.observation(p) for p in range(game.num_players)] == before_obs
            if state.is_chance_node():
                state.apply(games.sample_chance(state, rng))
            else:
                state.apply(rng.choice(state.legal_actions()))


def test_illegal_apply_raises(game):
    state = game.new_initial_state()
    with pytest.raises(games.IllegalActionError):
        state.apply("definitely not a move %%%")


def test_observations_are_text_and_information_states_are_consistent(game):
    """The same information state always shows the same observation."""
    seen: dict[tuple[int, str], str] = {}

    def check(state):
        for p in range(game.num_players):
            obs = state.observation(p)
            key = state.information_state(p)
            assert isinstance(obs, str) and obs.strip()
            assert isinstance(key, str) and key
            assert seen.setdefault((p, key), obs) == obs, (p, key)

    for seed in range(200 if game.id != "chess" else 3):
        _playout(game, seed, check)


def test_no_observation_leaks_another_seats_private_information(game):
    if not game.hidden_info:
        assert not any(s.indistinguishable_states(0) for s in [games.random_playout(game, 0)])
        return
    compared = 0

    def check(state):
        nonlocal compared
        for p in range(game.num_players):
            obs, key = state.observation(p), state.information_state(p)
            for other in state.indistinguishable_states(p):
                assert other.history() != state.history()
                assert other.observation(p) == obs, (game.id, p, state.history(), other.history())
                assert other.information_state(p) == key
                compared += 1

    for seed in range(300):
        _playout(game, seed, check)
    # The check must have bitten: hidden-information games have secrets to vary.
    assert compared > 100


def test_bots_play_legal_moves_with_proper_policies(game):
    for name in available_bots(game):
        bot = make_bot(game, name)
        rng = random.Random(3)
        try:
            for _ in range(5 if game.id != "chess" else 1):
                state = game.new_initial_state()
                steps = 0
                while not state.is_terminal() and steps < (60 if game.id == "chess" else 400):
                    steps += 1
                    if state.is_chance_node():
                        state.apply(games.sample_chance(state, rng))
                        continue
                    policy = bot.policy(state)
                    assert policy, (name, state.history())
                    legal = set(state.legal_actions())
                    assert all(a in legal or game.parse_action(state, a).ok for a in policy)
                    assert math.isclose(sum(policy.values()), 1.0, abs_tol=1e-6)
                    assert all(p >= 0 for p in policy.values())
                    state.apply(bot.act(state, rng))
        finally:
            bot.close()


def test_rules_and_metadata(game):
    info = game.info()
    assert info.id == game.id
    assert info.min_players <= game.num_players <= info.max_players
    assert len(game.rules()) > 80
    assert "random" in info.bots


def test_unknown_parameters_are_refused_clearly():
    with pytest.raises(games.GameParamError, match="unknown parameter"):
        games.make("tictactoe", size=4)
    with pytest.raises(KeyError, match="known games"):
        games.make("go")
