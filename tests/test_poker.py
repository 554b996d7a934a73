"""Kuhn poker and Leduc hold'em: the exact rules, payoffs, information sets and leaks.

Both games must be the standard ones (as OpenSpiel's kuhn_poker and leduc_poker): the counts of
information states, the payoffs of every betting line and, when pyspiel is installed, random
games played move for move in both implementations pin that.
"""

from __future__ import annotations

import random

import pytest

import games
from games import CHANCE, TERMINAL
from games.kuhn_poker import CARD_NAMES
from games.leduc_poker import CARDS as LEDUC_CARDS
from games.leduc_poker import RANK_NAMES


def _state(game_id: str, *actions: str) -> games.State:
    state = games.make(game_id).new_initial_state()
    for action in actions:
        state.apply(action)
    return state


def _all_states(game: games.Game):
    """Every state of the full game tree, depth first."""
    stack = [game.new_initial_state()]
    while stack:
        state = stack.pop()
        yield state
        player = state.current_player()
        if player == TERMINAL:
            continue
        moves = (
            [a for a, _ in state.chance_outcomes()] if player == CHANCE else state.legal_actions()
        )
        for action in moves:
            child = state.clone()
            child.apply(action)
            stack.append(child)


def _decision_infosets(game: games.Game) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {0: set(), 1: set()}
    for state in _all_states(game):
        player = state.current_player()
        if player >= 0:
            found[player].add(state.information_state(player))
    return found


# --- Kuhn poker ------------------------------------------------------------------------------


def test_kuhn_has_twelve_information_sets_six_per_player():
    infosets = _decision_infosets(games.make("kuhn_poker"))
    assert len(infosets[0]) == 6 and len(infosets[1]) == 6
    assert infosets[0] == {f"{c}|{b}" for c in "JQK" for b in ("", "cb")}
    assert infosets[1] == {f"{c}|{b}" for c in "JQK" for b in ("c", "b")}


@pytest.mark.parametrize(
    ("betting", "high_card_wins", "fold_returns"),
    [
        (("check", "check"), 1.0, None),
        (("check", "bet", "call"), 2.0, None),
        (("check", "bet", "fold"), None, [-1.0, 1.0]),
        (("bet", "call"), 2.0, None),
        (("bet", "fold"), None, [1.0, -1.0]),
    ],
)
def test_kuhn_payoffs_of_every_betting_line(betting, high_card_wins, fold_returns):
    for c0 in "JQK":
        for c1 in "JQK":
            if c0 == c1:
                continue
            state = _state("kuhn_poker", f"deal {c0}", f"deal {c1}", *betting)
            assert state.is_terminal()
            rets = state.returns()
            assert all(isinstance(r, float) for r in rets)
            if fold_returns is not None:
                assert rets == fold_returns  # a fold pays whatever the cards
            else:
                p0_wins = "JQK".index(c0) > "JQK".index(c1)
                won = high_card_wins if p0_wins else -high_card_wins
                assert rets == [won, -won]


def test_kuhn_legal_actions_follow_the_betting():
    state = _state("kuhn_poker", "deal K", "deal J")
    assert state.current_player() == 0 and state.legal_actions() == ["check", "bet"]
    state.apply("check")
    assert state.current_player() == 1 and state.legal_actions() == ["check", "bet"]
    state.apply("bet")
    assert state.current_player() == 0 and state.legal_actions() == ["call", "fold"]
    with pytest.raises(games.IllegalActionError):
        state.apply("bet")  # one bet only
    with pytest.raises(games.IllegalActionError):
        state.apply("check")


def test_kuhn_deals_are_chance_nodes_without_repeats():
    state = games.make("kuhn_poker").new_initial_state()
    assert state.current_player() == CHANCE and state.legal_actions() == []
    assert state.chance_outcomes() == [("deal J", 1 / 3), ("deal Q", 1 / 3), ("deal K", 1 / 3)]
    state.apply("deal Q")
    assert state.chance_outcomes() == [("deal J", 0.5), ("deal K", 0.5)]
    with pytest.raises(games.IllegalActionError):
        state.apply("deal Q")  # already dealt
    with pytest.raises(games.IllegalActionError):
        state.apply("check")  # not a deal


def test_kuhn_aliases_pass_and_raise():
    game = games.make("kuhn_poker")
    state = _state("kuhn_poker", "deal K", "deal J")
    assert game.parse_action(state, "pass").action == "check"
    assert game.parse_action(state, "I raise.").action == "bet"
    assert game.parse_action(state, "Final answer: [Bet]").action == "bet"
    state.apply("bet")
    assert game.parse_action(state, "pass").action == "fold"
    assert game.parse_action(state, r"\boxed{call}").action == "call"
    refused = game.parse_action(state, "raise")
    assert not refused.ok and "call, fold" in refused.error


def test_kuhn_explains_moves_that_do_not_fit_the_betting():
    game = games.make("kuhn_poker")
    state = _state("kuhn_poker", "deal K", "deal J")
    reason = game.parse_action(state, "Final answer: call").error
    assert "no bet to call" in reason and "check, bet" in reason


def test_kuhn_observation_shows_own_card_betting_pot_and_moves():
    state = _state("kuhn_poker", "deal K", "deal Q", "check", "bet")
    obs = state.observation(0)
    assert "King" in obs and "Queen" not in obs
    assert "you checked, opponent bet" in obs
    assert "Pot: 3 chips" in obs and "Legal moves: call, fold" in obs
    assert state.information_state(0) == "K|cb" and state.information_state(1) == "Q|cb"


def test_kuhn_showdown_reveals_cards_but_a_fold_does_not():
    showdown = _state("kuhn_poker", "deal K", "deal Q", "bet", "call")
    assert "Queen" in showdown.observation(0) and "King" in showdown.observation(1)
    assert "You won 2 chips" in showdown.observation(0)
    folded = _state("kuhn_poker", "deal K", "deal Q", "bet", "fold")
    assert "Queen" not in folded.observation(0) and "King" not in folded.observation(1)
    assert "You won 1 chip." in folded.observation(0)


def test_kuhn_observations_never_name_the_opponents_card_before_a_showdown():
    checked = 0
    for state in _all_states(games.make("kuhn_poker")):
        cards = state.cards
        showdown = state.is_terminal() and state.node.folder < 0
        for p in range(2):
            if len(cards) == 2 and not showdown:
                assert CARD_NAMES[cards[1 - p]] not in state.observation(p)
                assert "JQK"[cards[1 - p]] not in state.information_state(p)
                checked += 1
    assert checked > 50


# --- Leduc hold'em ---------------------------------------------------------------------------


def test_leduc_has_936_information_states():
    infosets = _decision_infosets(games.make("leduc_poker"))
    assert len(infosets[0]) + len(infosets[1]) == 936


def _leduc(*betting: str, cards: str = "Ks Qh Js") -> games.State:
    c0, c1, public = cards.split()
    round1, _, round2 = " ".join(betting).partition("/")
    moves = [f"deal {c0}", f"deal {c1}", *round1.split()]
    state = _state("leduc_poker", *moves)
    if "/" in betting:
        state.apply(f"public {public}")
        for action in round2.split():
            state.apply(action)
    return state


def test_leduc_pair_beats_high_card_and_higher_rank_wins_otherwise():
    pair = _leduc("check", "check", "/", "check", "check", cards="Js Kh Jh")
    assert pair.returns() == [1.0, -1.0]  # a pair of Jacks beats a King
    high = _leduc("check", "check", "/", "check", "check", cards="Qs Kh Jh")
    assert high.returns() == [-1.0, 1.0]
    assert "Showdown: your opponent had Kh (King of hearts)" in high.observation(0)


def test_leduc_equal_ranks_split_the_pot():
    tie = _leduc("raise", "call", "/", "raise", "call", cards="Qs Qh Kh")
    assert tie.is_terminal() and tie.returns() == [0.0, 0.0]
    assert "split" in tie.observation(1)


def test_leduc_raise_sizes_are_two_then_four_and_capped_at_two_per_round():
    state = _leduc("raise", "raise")
    assert state.legal_actions() == ["fold", "call"]  # two raises: the cap
    assert state.node.contrib == (3, 5)
    state.apply("call")
    assert state.current_player() == CHANCE and state.node.contrib == (5, 5)
    state.apply("public Js")
    assert state.current_player() == 0 and state.legal_actions() == ["check", "raise"]
    state.apply("check")
    state.apply("raise")
    assert state.node.contrib == (5, 9)
    state.apply("raise")
    assert state.node.contrib == (13, 9) and state.legal_actions() == ["fold", "call"]
    state.apply("call")
    assert state.is_terminal() and state.returns() == [13.0, -13.0]  # Ks beats Qh
    assert "Pot: 26 chips" in state.observation(0)


def test_leduc_fold_is_legal_only_when_facing_a_raise():
    state = _leduc()
    assert state.legal_actions() == ["check", "raise"]
    with pytest.raises(games.IllegalActionError):
        state.apply("fold")
    with pytest.raises(games.IllegalActionError):
        state.apply("call")
    state.apply("check")
    assert state.legal_actions() == ["check", "raise"]
    state.apply("raise")
    assert state.legal_actions() == ["fold", "call", "raise"]
    state.apply("fold")
    assert state.is_terminal() and state.returns() == [-1.0, 1.0]


def test_leduc_rounds_end_on_two_checks_or_a_call():
    assert _leduc("check", "check").current_player() == CHANCE
    assert _leduc("raise", "call").current_player() == CHANCE
    assert _leduc("check", "raise", "call").current_player() == CHANCE
    assert _leduc("check", "raise", "raise", "call").current_player() == CHANCE
    end = _leduc("check", "check", "/", "check", "raise", "raise", "call")
    assert end.is_terminal() and end.returns() == [9.0, -9.0]


def test_leduc_deals_three_distinct_cards():
    state = games.make("leduc_poker").new_initial_state()
    assert len(state.chance_outcomes()) == 6
    state.apply("deal Ks")
    assert [a for a, _ in state.chance_outcomes()] == [
        "deal Js",
        "deal Jh",
        "deal Qs",
        "deal Qh",
        "deal Kh",
    ]
    state.apply("deal Kh")
    state.apply("check")
    state.apply("check")
    outcomes = state.chance_outcomes()
    assert [a for a, _ in outcomes] == ["public Js", "public Jh", "public Qs", "public Qh"]
    assert all(p == 0.25 for _, p in outcomes)
    with pytest.raises(games.IllegalActionError):
        state.apply("public Ks")


def test_leduc_aliases_and_explanations():
    game = games.make("leduc_poker")
    state = _leduc()
    assert game.parse_action(state, "bet").action == "raise"
    assert game.parse_action(state, "pass").action == "check"
    assert "no raise to call" in game.parse_action(state, "Final answer: call").error
    state.apply("raise")
    assert game.parse_action(state, "pass").action == "fold"
    assert "cannot check" in game.parse_action(state, "I check").error
    state.apply("raise")
    assert "no more raises" in game.parse_action(state, "raise").error


def test_leduc_observations_never_name_the_opponents_card_before_a_showdown():
    checked = 0
    for state in _all_states(games.make("leduc_poker")):
        cards = state.cards
        showdown = state.is_terminal() and state.node.folder < 0
        if len(cards) < 2 or showdown:
            continue
        for p in range(2):
            theirs = cards[1 - p]
            obs, key = state.observation(p), state.information_state(p)
            assert LEDUC_CARDS[theirs] not in obs and LEDUC_CARDS[theirs] not in key
            known_ranks = {cards[p] // 2} | ({cards[2] // 2} if len(cards) == 3 else set())
            if theirs // 2 not in known_ranks:
                assert RANK_NAMES[theirs // 2] not in obs
            checked += 1
    assert checked > 10_000


def test_leduc_indistinguishable_states_vary_only_the_opponents_card():
    state = _leduc("raise", "call", "/", "check")
    others = state.indistinguishable_states(0)
    # Seat 0 holds Ks and sees Js on the table: the opponent may hold any of the other 3.
    assert sorted(o.history()[1] for o in others) == ["deal Jh", "deal Kh", "deal Qs"]
    assert all(o.information_state(0) == state.information_state(0) for o in others)
    assert _leduc("raise", "call", "/", "check", "check").indistinguishable_states(0) == []


# --- both games ------------------------------------------------------------------------------


@pytest.mark.parametrize("game_id", ["kuhn_poker", "leduc_poker"])
def test_every_terminal_state_is_zero_sum(game_id):
    terminals = 0
    for state in _all_states(games.make(game_id)):
        if state.is_terminal():
            rets = state.returns()
            assert all(isinstance(r, float) for r in rets) and sum(rets) == 0.0
            terminals += 1
        else:
            assert state.returns() == [0.0, 0.0]
    assert terminals == (
        # Leduc: per deal, 4 folds in round 1 and 5 ways into round 2, which ends 9 ways.
        30 if game_id == "kuhn_poker" else 6 * 5 * 4 + 6 * 5 * 5 * 4 * 9
    )


@pytest.mark.parametrize("game_id", ["kuhn_poker", "leduc_poker"])
def test_every_legal_action_parses_back_to_itself(game_id):
    game = games.make(game_id)
    for state in _all_states(game):
        for action in state.legal_actions():
            assert game.parse_action(state, action).action == action
            assert game.parse_action(state, f"I will {action.upper()}.").action == action


# --- cross-check against OpenSpiel -----------------------------------------------------------

_SPIEL_ACTIONS = {
    "kuhn_poker": {"check": 0, "fold": 0, "bet": 1, "call": 1},
    "leduc_poker": {"fold": 0, "check": 1, "call": 1, "raise": 2},
}


def _spiel_action(game_id: str, action: str) -> int:
    if action.startswith(("deal ", "public ")):
        card = action.split()[1]
        return "JQK".index(card) if game_id == "kuhn_poker" else LEDUC_CARDS.index(card)
    return _SPIEL_ACTIONS[game_id][action]


@pytest.mark.parametrize("game_id", ["kuhn_poker", "leduc_poker"])
def test_random_games_agree_with_openspiel(game_id):
    pyspiel = pytest.importorskip("pyspiel")
    spiel_game = pyspiel.load_game(game_id)
    game = games.make(game_id)
    returns_seen = set()
    for seed in range(1500):
        rng = random.Random(seed)
        ours, theirs = game.new_initial_state(), spiel_game.new_initial_state()
        while not ours.is_terminal():
            assert not theirs.is_terminal()
            player = ours.current_player()
            if player == CHANCE:
                assert theirs.is_chance_node()
                mapped = sorted((_spiel_action(game_id, a), p) for a, p in ours.chance_outcomes())
                expected = sorted(theirs.chance_outcomes())
                assert [a for a, _ in mapped] == [a for a, _ in expected]
                assert [p for _, p in mapped] == pytest.approx([p for _, p in expected])
                action = games.sample_chance(ours, rng)
            else:
                assert theirs.current_player() == player
                legal = ours.legal_actions()
                assert sorted(_spiel_action(game_id, a) for a in legal) == theirs.legal_actions()
                action = rng.choice(legal)
            ours.apply(action)
            theirs.apply_action(_spiel_action(game_id, action))
        assert theirs.is_terminal()
        assert ours.returns() == pytest.approx(theirs.returns())
        returns_seen.add(tuple(ours.returns()))
    assert len(returns_seen) > (3 if game_id == "kuhn_poker" else 10)


@pytest.mark.parametrize("game_id", ["kuhn_poker", "leduc_poker"])
def test_information_states_partition_like_openspiel(game_id):
    """Our keys and OpenSpiel's information-state strings split the decision nodes alike."""
    pyspiel = pytest.importorskip("pyspiel")
    spiel_game = pyspiel.load_game(game_id)
    ours_to_theirs: dict[str, str] = {}
    theirs_to_ours: dict[str, str] = {}
    stack = [(games.make(game_id).new_initial_state(), spiel_game.new_initial_state())]
    while stack:
        ours, theirs = stack.pop()
        player = ours.current_player()
        if player == TERMINAL:
            continue
        if player == CHANCE:
            moves = [a for a, _ in ours.chance_outcomes()]
        else:
            moves = ours.legal_actions()
            key = f"{player}:{ours.information_state(player)}"
            spiel_key = f"{player}:{theirs.information_state_string(player)}"
            assert ours_to_theirs.setdefault(key, spiel_key) == spiel_key
            assert theirs_to_ours.setdefault(spiel_key, key) == key
        for action in moves:
            a, b = ours.clone(), theirs.clone()
            a.apply(action)
            b.apply_action(_spiel_action(game_id, action))
            stack.append((a, b))
    assert len(ours_to_theirs) == (12 if game_id == "kuhn_poker" else 936)
