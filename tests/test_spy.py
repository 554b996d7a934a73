"""Who is the spy: the word list, the deal, clue and vote rules, hidden votes and payoffs."""

from __future__ import annotations

import random
import re

import pytest

import games
from games.bots import make_bot
from games.spy import clue_error, word_list

PAIR = word_list().pairs.index(("coffee", "tea"))


def dealt(spy: int = 3, num_players: int = 4, clue_rounds: int = 2) -> games.State:
    """A game where the civilians have 'coffee' and seat `spy` has 'tea'."""
    game = games.make("spy", num_players=num_players, clue_rounds=clue_rounds)
    state = game.new_initial_state()
    for action in game.deal_actions(PAIR, 0, spy):
        assert action in dict(state.chance_outcomes())
        state.apply(action)
    assert state.current_player() == 0
    return state


def parse(state: games.State, text: object) -> games.Parsed:
    return state.game.parse_action(state, text)


def give_clues(state: games.State) -> None:
    while state.legal_actions()[0].startswith("clue: "):
        state.apply(state.legal_actions()[0])


def test_word_list_has_enough_pairs_with_clean_associations():
    words = word_list()
    assert len(words.pairs) >= 110
    flat = [w for pair in words.pairs for w in pair]
    assert len(set(flat)) == len(flat), "a word appears in two pairs"
    assert set(words.associations) == set(flat)
    for word in flat:
        assert re.fullmatch(r"[a-z]+", word)
        assoc = words.associations[word]
        assert 4 <= len(assoc) <= 6, word
        assert len(set(assoc)) == len(assoc), word
        for clue in assoc:
            assert re.fullmatch(r"[a-z]+", clue), (word, clue)
            assert clue_error(clue, word) is None, (word, clue)
    for a, b in words.pairs:  # a clue never names the other word of its pair either
        assert all(clue_error(c, b) is None for c in words.associations[a]), (a, b)
        assert all(clue_error(c, a) is None for c in words.associations[b]), (a, b)


def test_deal_gives_exactly_one_spy_at_a_uniform_seat():
    for n in range(3, 7):
        game = games.make("spy", num_players=n)
        spy_seat = [0.0] * n
        start = game.new_initial_state()
        start.apply(f"pair {PAIR} b")  # civilians get 'tea'
        frontier = [(start, 1.0)]
        while frontier:
            state, prob = frontier.pop()
            if not state.is_chance_node():
                assert state.words.count("coffee") == 1 and state.words.count("tea") == n - 1
                spy_seat[state.spy] += prob
                continue
            for action, p in state.chance_outcomes():
                child = state.clone()
                child.apply(action)
                frontier.append((child, prob * p))
        assert spy_seat == pytest.approx([1.0 / n] * n)
    pair_outcomes = games.make("spy").new_initial_state().chance_outcomes()
    assert len(pair_outcomes) == 2 * len(word_list().pairs)


@pytest.mark.parametrize(
    "clue",
    [
        "clue: coffee",
        "clue: COFFEE beans",
        "clue: coffees",
        "clue: decaf-coffee",
        "clue: Coffeehouse",
    ],
)
def test_clue_containing_own_word_is_rejected(clue):
    state = dealt()
    parsed = parse(state, clue)
    assert not parsed.ok and "your own word" in parsed.error
    with pytest.raises(games.IllegalActionError):
        state.apply(clue.lower())


def test_plural_forms_of_own_word_are_rejected():
    assert clue_error("two cherries", "cherry")
    assert clue_error("a pack of wolves", "wolf")
    assert clue_error("one shoe", "shoes")
    assert clue_error("little mice", "mouse")
    assert clue_error("glasses of water", "glass")
    assert clue_error("a hot drink", "coffee") is None
    assert clue_error("bus stop", "business") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clue: Hot Drink", "clue: hot drink"),
        ("[clue: warm]", "clue: warm"),
        ("Let me think.\nMy clue is: bitter!", "clue: bitter"),
        ("Final answer: morning ritual", "clue: morning ritual"),
        ('clue: "dark   roast"', "clue: dark roast"),
        ("clue: a\nclue: beans", "clue: beans"),
    ],
)
def test_clue_spellings_parse_to_canonical_clues(text, expected):
    state = dealt()
    parsed = parse(state, text)
    assert parsed.action == expected, parsed.error
    state.apply(parsed.action)
    assert state.clues == [(0, expected[6:])]


def test_malformed_clues_are_rejected_with_reasons():
    state = dealt()
    assert "at most 60" in parse(state, "clue: " + "x" * 61).error
    assert parse(state, "clue: " + "x" * 60).ok
    assert "empty" in parse(state, "clue: ...").error
    assert "clue: <words>" in parse(state, "hot drink").error  # no marker
    assert not parse(state, "vote: 2").ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vote: 3", "vote: 3"),
        ("I vote for player 3.", "vote: 3"),
        ("[vote 2]", "vote: 2"),
        ("Voting for Player 1 because of the clue.", "vote: 1"),
        ("Final answer: 3", "vote: 3"),
        ("Final answer: player 2", "vote: 2"),
    ],
)
def test_vote_spellings_parse_to_canonical_votes(text, expected):
    state = dealt()
    give_clues(state)
    assert parse(state, text).action == expected


def test_bad_votes_are_rejected_with_reasons():
    state = dealt()
    give_clues(state)
    assert "yourself" in parse(state, "vote: 0").error
    assert "no player 7" in parse(state, "vote: 7").error
    assert not parse(state, "zzzzqqqq").ok
    assert not parse(state, "vote: " + "1" * 5000).ok  # int() refuses 5000 digits
    assert not parse(state, "clue: beans").ok
    with pytest.raises(games.IllegalActionError):
        state.apply("vote: 0")
    with pytest.raises(games.IllegalActionError):
        state.apply("vote: 01")


def test_votes_stay_hidden_until_everyone_has_voted():
    state = dealt(spy=3)
    give_clues(state)
    state.apply("vote: 3")
    state.apply("vote: 2")
    for seat in (1, 2, 3):
        obs = state.observation(seat)
        assert "2 of 4 players have voted" in obs
        assert "player 0 -> " not in obs and "Your vote: player 3" not in obs
    assert "Your vote: player 3." in state.observation(0)
    assert "vote: ?" in state.public_history()
    others = state.indistinguishable_states(2)
    changed = [o for o in others if o.votes[0] != 3]
    assert changed, "seat 0's hidden vote must be varied"
    for other in changed:
        assert other.observation(2) == state.observation(2)
        assert other.information_state(2) == state.information_state(2)
    state.apply("vote: 3")
    state.apply("vote: 0")
    final = state.observation(1)
    assert "player 0 -> player 3" in final and "player 3 -> player 0" in final
    assert "The spy was player 3 (word: tea)" in final


def test_most_votes_is_out_and_a_tie_puts_nobody_out():
    state = dealt(spy=3)
    give_clues(state)
    for vote in ("vote: 3", "vote: 3", "vote: 1", "vote: 0"):
        state.apply(vote)
    assert state.is_terminal() and state.eliminated() == 3
    assert state.returns() == pytest.approx([1 / 3, 1 / 3, 1 / 3, -1.0])
    state = dealt(spy=3)
    give_clues(state)
    for vote in ("vote: 3", "vote: 3", "vote: 0", "vote: 0"):  # 2-2 tie
        state.apply(vote)
    assert state.eliminated() == -1
    assert "nobody is out" in state.observation(0)
    assert state.returns() == pytest.approx([-1 / 3, -1 / 3, -1 / 3, 1.0])
    state = dealt(spy=3)
    give_clues(state)
    for vote in ("vote: 1", "vote: 2", "vote: 1", "vote: 1"):  # a civilian is out
        state.apply(vote)
    assert state.eliminated() == 1
    assert state.returns()[3] == 1.0


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_team_returns_for_three_to_six_players(n):
    for spy_out in (True, False):
        state = dealt(spy=1, num_players=n, clue_rounds=1)
        give_clues(state)
        for seat in range(n):
            target = 1 if spy_out and seat != 1 else (0 if seat != 0 else 2)
            state.apply(f"vote: {target}")
        rets = state.returns()
        assert all(isinstance(r, float) for r in rets) and sum(rets) == pytest.approx(0.0)
        civ = 1.0 / (n - 1) if spy_out else -1.0 / (n - 1)
        assert rets[1] == (-1.0 if spy_out else 1.0)
        assert [r for s, r in enumerate(rets) if s != 1] == pytest.approx([civ] * (n - 1))


def test_observation_never_shows_another_seats_word_or_the_spy_before_the_end():
    state = dealt(spy=2)
    give_clues(state)
    for seat in range(4):
        obs = state.observation(seat)
        other = "tea" if seat != 2 else "coffee"
        assert f"Your secret word: {'tea' if seat == 2 else 'coffee'}" in obs
        assert re.search(rf"\b{other}\b", obs) is None
        assert "spy was" not in obs
    menu = state.game.menu_clues("coffee")
    assert set(menu) == {f"clue: {a}" for a in word_list().associations["coffee"]}


def test_apply_takes_free_canonical_clues_and_refuses_non_canonical_ones():
    state = dealt()
    state.apply("clue: wakes me up")
    with pytest.raises(games.IllegalActionError):
        state.apply("Clue: Wakes me up")  # parse first: canonical clues are lower case
    with pytest.raises(games.IllegalActionError):
        state.apply("clue: beans.")  # parses as "clue: beans"
    state.apply("clue: leaves")
    assert state.clues == [(0, "wakes me up"), (1, "leaves")]


def test_heuristic_votes_for_the_seat_whose_clues_fit_its_word_least():
    state = dealt(spy=2)
    assoc = word_list().associations
    for seat in range(4):
        word = "tea" if seat == 2 else "coffee"
        state.apply(f"clue: {assoc[word][0]}")
    for seat in range(4):
        word = "tea" if seat == 2 else "coffee"
        state.apply(f"clue: {assoc[word][1]}")
    bot = make_bot(state.game, "heuristic")
    assert bot.policy(state) == {"vote: 2": 1.0}
    clue_state = dealt()
    policy = make_bot(clue_state.game, "heuristic").policy(clue_state)
    assert set(policy) == set(clue_state.game.menu_clues("coffee"))


def test_heuristic_civilians_beat_a_random_spy_most_of_the_time():
    game = games.make("spy", num_players=4)
    smart, rand = make_bot(game, "heuristic"), make_bot(game, "random")
    wins = 0
    games_played = 200
    for seed in range(games_played):
        rng = random.Random(seed)
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply(games.sample_chance(state, rng))
                continue
            bot = rand if state.current_player() == state.spy else smart
            state.apply(bot.act(state, rng))
        wins += state.returns()[state.spy] < 0
    assert wins > games_played / 2


def test_parameters_are_checked():
    with pytest.raises(games.GameParamError):
        games.make("spy", num_players=7)
    with pytest.raises(games.GameParamError):
        games.make("spy", clue_rounds=0)
    rules = games.make("spy", num_players=5, clue_rounds=3).rules()
    assert "5 players" in rules and "3 round(s)" in rules and "1/4 each" in rules
