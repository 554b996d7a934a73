"""Exact best response and exploitability, checked against known values, and the CFR+ bots."""

from __future__ import annotations

import itertools
import math

import pytest

import games
from games.analysis import (
    GameTree,
    analyse,
    expected_returns,
    exploitability,
    seat_policy,
    tabular_policy,
    uniform_policy,
)
from games.cfr import CFRPlusSolver, load_policy, shipped_policy


@pytest.fixture(scope="module")
def kuhn_tree():
    return GameTree.build(games.make("kuhn_poker"))


@pytest.fixture(scope="module")
def leduc_tree():
    return GameTree.build(games.make("leduc_poker"))


def kuhn_equilibrium(a: float) -> dict[str, dict[str, float]]:
    """A member of Kuhn poker's one-parameter equilibrium family (a in [0, 1/3])."""
    return {
        # first player: bet J with a, K with 3a, never Q; call with Q at 1/3 + a, K always
        "J|": {"bet": a, "check": 1 - a},
        "Q|": {"bet": 0.0, "check": 1.0},
        "K|": {"bet": 3 * a, "check": 1 - 3 * a},
        "J|cb": {"call": 0.0, "fold": 1.0},
        "Q|cb": {"call": 1 / 3 + a, "fold": 2 / 3 - a},
        "K|cb": {"call": 1.0, "fold": 0.0},
        # second player: after a check bet J 1/3, Q never, K always; facing a bet call Q 1/3
        "J|c": {"bet": 1 / 3, "check": 2 / 3},
        "Q|c": {"bet": 0.0, "check": 1.0},
        "K|c": {"bet": 1.0, "check": 0.0},
        "J|b": {"call": 0.0, "fold": 1.0},
        "Q|b": {"call": 1 / 3, "fold": 2 / 3},
        "K|b": {"call": 1.0, "fold": 0.0},
    }


def test_kuhn_tree_has_twelve_information_sets(kuhn_tree):
    assert kuhn_tree.num_infosets(0) == 6 and kuhn_tree.num_infosets(1) == 6
    assert {k for _, k in kuhn_tree.infoset_keys} == set(kuhn_equilibrium(0.0))


def test_uniform_random_kuhn_exploitability_is_11_over_24(kuhn_tree):
    assert exploitability(kuhn_tree, uniform_policy) == pytest.approx(11 / 24, abs=1e-12)


@pytest.mark.parametrize("a", [0.0, 0.1, 1 / 6, 0.25, 1 / 3])
def test_every_member_of_the_kuhn_equilibrium_family_is_unexploitable(kuhn_tree, a):
    result = analyse(kuhn_tree, tabular_policy(kuhn_equilibrium(a)))
    assert result.exploitability == pytest.approx(0.0, abs=1e-12)
    assert result.policy_values[0] == pytest.approx(-1 / 18, abs=1e-12)


def test_leaving_the_equilibrium_family_is_exploitable(kuhn_tree):
    table = kuhn_equilibrium(0.5)  # a > 1/3: "bet the king with 3a" is no longer a probability
    table["K|"] = {"bet": 1.0, "check": 0.0}
    assert exploitability(kuhn_tree, tabular_policy(table)) > 0.01


def _pure(action_of):
    def policy(state):
        return {action_of(state): 1.0}

    return policy


def test_always_bet_and_always_pass_kuhn(kuhn_tree):
    aggressive = {"check": "bet", "bet": "bet", "call": "call", "fold": "call"}
    passive = {"check": "check", "bet": "check", "call": "fold", "fold": "fold"}

    def pick(mapping):
        return _pure(lambda s: next(mapping[a] for a in s.legal_actions()))

    assert exploitability(kuhn_tree, pick(aggressive)) == pytest.approx(1 / 3, abs=1e-12)
    assert exploitability(kuhn_tree, pick(passive)) == pytest.approx(1.0, abs=1e-12)


def test_no_deterministic_kuhn_strategy_is_better_than_one_sixth(kuhn_tree):
    """Greedy decoding of any model can never go below 1/6 in Kuhn poker."""
    slots = range(len(kuhn_tree.infoset_keys))
    best = math.inf
    for choice in itertools.product(*[range(len(kuhn_tree.infoset_actions[s])) for s in slots]):
        table = {
            kuhn_tree.infoset_keys[s][1]: {
                a: float(i == choice[s]) for i, a in enumerate(kuhn_tree.infoset_actions[s])
            }
            for s in slots
        }
        best = min(best, exploitability(kuhn_tree, tabular_policy(table)))
    assert best == pytest.approx(1 / 6, abs=1e-12)


def test_cfr_plus_converges_on_kuhn(kuhn_tree):
    solver = CFRPlusSolver(kuhn_tree)
    solver.iterate(10)
    early = exploitability(kuhn_tree, tabular_policy(solver.average_policy()))
    solver.iterate(190)
    late = exploitability(kuhn_tree, tabular_policy(solver.average_policy()))
    assert late < 0.001 < early
    assert expected_returns(kuhn_tree, tabular_policy(solver.average_policy()))[0] == pytest.approx(
        -1 / 18, abs=1e-3
    )


def test_shipped_kuhn_equilibrium_is_within_0_001(kuhn_tree):
    assert exploitability(kuhn_tree, shipped_policy("kuhn_poker")) <= 0.001


def test_uniform_random_leduc_exploitability(leduc_tree):
    assert leduc_tree.num_infosets() == 936
    assert exploitability(leduc_tree, uniform_policy) == pytest.approx(2.3736, abs=1e-3)


def test_shipped_leduc_equilibrium_is_within_0_02(leduc_tree):
    table = load_policy("leduc_poker")
    assert set(table) == {k for _, k in leduc_tree.infoset_keys}
    assert exploitability(leduc_tree, tabular_policy(table)) <= 0.02


def test_leduc_value_under_the_equilibrium(leduc_tree):
    value = expected_returns(leduc_tree, shipped_policy("leduc_poker"))[0]
    assert value == pytest.approx(-0.0856, abs=0.01)


def test_cfr_bot_plays_the_shipped_policy():
    from games.bots import make_bot

    game = games.make("kuhn_poker")
    bot = make_bot(game, "cfr")
    assert exploitability(game, bot.policy) <= 0.001


def test_a_policy_that_is_not_a_distribution_is_refused(kuhn_tree):
    with pytest.raises(ValueError, match="sums to"):
        exploitability(kuhn_tree, lambda s: {a: 0.9 for a in s.legal_actions()})
    with pytest.raises(ValueError, match="illegal"):
        exploitability(kuhn_tree, lambda s: {"raise": 1.0})


def test_seat_policy_mixes_players(kuhn_tree):
    mixed = seat_policy(shipped_policy("kuhn_poker"), uniform_policy)
    # The equilibrium seat wins against the uniform seat.
    assert expected_returns(kuhn_tree, mixed)[0] > -1 / 18


def test_exact_analysis_refuses_games_that_are_not_two_player():
    with pytest.raises(ValueError, match="two-player"):
        GameTree.build(games.make("liars_dice", num_players=3))


def _kuhn_pure(choice: str):
    """Kuhn poker: `choice` ("aggressive" bets and calls, else checks and folds) everywhere."""

    def policy(state):
        legal = state.legal_actions()
        want = ("bet", "call") if choice == "aggressive" else ("check", "fold")
        return {a: 1.0 if a in want else 0.0 for a in legal}

    return policy


def test_the_average_of_one_policy_is_that_policy():
    from games.analysis import GameTree, average_policy, exploitability, uniform_policy

    tree = GameTree.build(games.make("kuhn_poker"))
    avg = average_policy(tree, [uniform_policy, uniform_policy])
    assert exploitability(tree, avg) == pytest.approx(exploitability(tree, uniform_policy))


def test_the_average_weights_each_policy_by_its_own_reach():
    from games.analysis import GameTree, average_policy

    game = games.make("kuhn_poker")
    tree = GameTree.build(game)
    avg = average_policy(tree, [_kuhn_pure("aggressive"), _kuhn_pure("passive")])
    for slot, (_, key) in enumerate(tree.infoset_keys):
        probs = avg(tree.infoset_state[slot])
        if key.endswith("|"):  # the first move: both policies get here
            assert probs == pytest.approx({"check": 0.5, "bet": 0.5})
        elif key.endswith("|cb"):  # only a policy that checked first gets here: the passive one
            assert probs == pytest.approx({"call": 0.0, "fold": 1.0})


def test_the_average_is_never_more_exploitable_than_its_parts_on_average():
    import random as _random

    from games.analysis import GameTree, average_policy, exploitability

    tree = GameTree.build(games.make("kuhn_poker"))
    rng = _random.Random(5)

    def random_policy():
        table = {}

        def policy(state):
            key = (state.current_player(), state.information_state(state.current_player()))
            if key not in table:
                w = [rng.random() for _ in state.legal_actions()]
                table[key] = {a: x / sum(w) for a, x in zip(state.legal_actions(), w)}
            return table[key]

        return policy

    for _ in range(5):
        parts = [random_policy() for _ in range(3)]
        mean = sum(exploitability(tree, p) for p in parts) / len(parts)
        assert exploitability(tree, average_policy(tree, parts)) <= mean + 1e-12
