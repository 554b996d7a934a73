"""Tournament scheduling: round-robin, gauntlet, Swiss and the continuous ladder."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from statistics import NormalDist

import pytest

from arena.tournament.schedule import (
    GameEntry,
    LadderPicker,
    Pairing,
    gauntlet,
    ladder_next,
    match_seed,
    pair_weight,
    round_robin,
    swiss_pairings,
    swiss_round,
    swiss_rounds_default,
)

TTT = GameEntry("tictactoe", 2)
KUHN = GameEntry("kuhn_poker", 2)
SPY4 = GameEntry("spy", 4, {"num_players": 4})
DICE3 = GameEntry("liars_dice", 3, {"num_players": 3})
PLAYERS = ["ann", "bob", "cat", "dan", "eve"]


@dataclass
class R:
    mu: float
    sigma: float


def by_pair(pairings: list[Pairing]) -> dict[frozenset[str], list[Pairing]]:
    out: dict[frozenset[str], list[Pairing]] = {}
    for p in pairings:
        out.setdefault(frozenset(p.seats), []).append(p)
    return out


# ------------------------------------------------------------------------------ seeds and entries


def test_match_seed_is_the_documented_sha256_of_the_json_key() -> None:
    key = json.dumps([42, "tictactoe", ["ann", "bob"], 3], separators=(",", ":"))
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    expected = int.from_bytes(digest[:8], "big") % 2**31
    assert match_seed(42, "tictactoe", ["ann", "bob"], 3) == expected
    # The key of a bare seed is "[0]" (by hand), so an encoding change cannot slip through.
    assert match_seed(0) == int.from_bytes(hashlib.sha256(b"[0]").digest()[:8], "big") % 2**31


def test_match_seed_depends_on_every_part_and_stays_in_range() -> None:
    seeds = {match_seed(s, g, i) for s in range(3) for g in ("a", "b") for i in range(20)}
    assert len(seeds) == 3 * 2 * 20
    assert all(0 <= s < 2**31 for s in seeds)
    assert match_seed(1, 1) != match_seed(1, "1") != match_seed(1, True)


def test_game_entry_is_hashable_and_owns_its_params() -> None:
    params = {"num_players": 4}
    entry = GameEntry("spy", 4, params)
    params["num_players"] = 6
    assert entry.params == {"num_players": 4}
    assert hash(entry) == hash(GameEntry("spy", 4, {"num_players": 4}))
    assert entry != GameEntry("spy", 4, {"num_players": 4, "rounds": 2})
    assert len({entry, GameEntry("spy", 4, {"num_players": 4})}) == 1


def test_round_robin_is_deterministic_and_seed_dependent() -> None:
    a = round_robin(PLAYERS, [TTT, KUHN], 2, seed=7)
    assert a == round_robin(PLAYERS, [TTT, KUHN], 2, seed=7)
    assert [p.seed for p in a] != [p.seed for p in round_robin(PLAYERS, [TTT, KUHN], 2, seed=8)]


# ---------------------------------------------------------------------------------- round-robin


@pytest.mark.parametrize("n, k", [(2, 1), (4, 2), (5, 3), (6, 4)])
def test_round_robin_count_is_pairs_times_games_per_pair_per_game(n: int, k: int) -> None:
    players = [f"p{i}" for i in range(n)]
    pairings = round_robin(players, [TTT, KUHN], k, seed=1)
    per_game = math.comb(n, 2) * k
    assert len(pairings) == 2 * per_game
    assert Counter(p.game for p in pairings) == {TTT: per_game, KUHN: per_game}
    for matches in by_pair([p for p in pairings if p.game == TTT]).values():
        assert len(matches) == k
    assert all(p.round == 0 for p in pairings)


def test_round_robin_even_count_gives_each_side_each_seat_equally() -> None:
    for matches in by_pair(round_robin(PLAYERS, [KUHN], 4, seed=3)).values():
        first = Counter(m.seats[0] for m in matches)
        assert sorted(first.values()) == [2, 2]
        # The earlier player in the field order starts, then they alternate.
        a, b = matches[0].seats
        assert PLAYERS.index(a) < PLAYERS.index(b)
        assert [m.seats for m in matches] == [(a, b), (b, a), (a, b), (b, a)]


def test_mirrored_couple_shares_a_seed_and_couples_differ() -> None:
    for matches in by_pair(round_robin(PLAYERS, [KUHN], 6, seed=3)).values():
        seeds = [m.seed for m in matches]
        assert seeds[0] == seeds[1] and seeds[2] == seeds[3] and seeds[4] == seeds[5]
        assert len(set(seeds)) == 3
        assert matches[0].seats == matches[1].seats[::-1]
    all_first = [ms[0].seed for ms in by_pair(round_robin(PLAYERS, [KUHN], 2, seed=3)).values()]
    assert len(set(all_first)) == len(all_first)


def test_round_robin_interleaves_round_by_round_with_disjoint_neighbours() -> None:
    players = ["a", "b", "c", "d"]
    pairings = round_robin(players, [TTT], 2, seed=0)
    first_half, second_half = pairings[:6], pairings[6:]
    # Every pair's first game comes before any pair's second game.
    assert {frozenset(p.seats) for p in first_half} == {
        frozenset(c) for c in itertools.combinations(players, 2)
    }
    assert all(p.seats[0] < p.seats[1] for p in first_half)
    assert all(p.seats[0] > p.seats[1] for p in second_half)
    # With 4 players, consecutive matches come in disjoint couples that can run side by side.
    for i in range(0, 6, 2):
        assert set(first_half[i].seats).isdisjoint(first_half[i + 1].seats)


def test_same_pair_gets_the_same_seed_whatever_the_list_order() -> None:
    forward = {frozenset(p.seats): p.seed for p in round_robin(PLAYERS, [KUHN], 1, seed=5)}
    backward = {frozenset(p.seats): p.seed for p in round_robin(PLAYERS[::-1], [KUHN], 1, seed=5)}
    assert forward == backward


# --------------------------------------------------------------------------- multi-seat games


def test_spy_with_four_players_rotates_every_player_through_every_seat() -> None:
    players = ["a", "b", "c", "d"]
    pairings = round_robin(players, [SPY4], 8, seed=2)
    assert len(pairings) == 8  # one combination of 4, 8 matches
    for cycle in (pairings[:4], pairings[4:]):
        for seat in range(4):
            assert sorted(p.seats[seat] for p in cycle) == players
        assert len({p.seed for p in cycle}) == 1
    assert pairings[0].seed != pairings[4].seed
    assert [p.seats for p in pairings[:2]] == [("a", "b", "c", "d"), ("b", "c", "d", "a")]


def test_multi_seat_games_play_every_combination() -> None:
    pairings = round_robin(PLAYERS, [DICE3], 3, seed=2)
    groups = Counter(frozenset(p.seats) for p in pairings)
    assert len(groups) == math.comb(5, 3)
    assert set(groups.values()) == {3}


def test_game_with_more_seats_than_players_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="liars_dice needs 3 players; the field has 2"):
        round_robin(["a", "b"], [TTT, DICE3], 1, seed=0)


# ------------------------------------------------------------------------------------- gauntlet


def test_gauntlet_only_includes_the_challenger() -> None:
    field = ["b", "c", "d", "e"]
    pairings = gauntlet("champ", field, [KUHN, DICE3], 2, seed=1)
    assert all("champ" in p.seats for p in pairings)
    two = [p for p in pairings if p.game == KUHN]
    assert len(two) == len(field) * 2
    assert {frozenset(p.seats) - {"champ"} for p in two} == {frozenset({x}) for x in field}
    three = [p for p in pairings if p.game == DICE3]
    assert len({frozenset(p.seats) for p in three}) == math.comb(len(field), 2)
    for matches in by_pair(two).values():
        assert [m.seats[0] for m in matches] == ["champ", matches[0].seats[1]]


def test_gauntlet_rejects_a_challenger_in_the_field_and_small_fields() -> None:
    with pytest.raises(ValueError, match="also in the field"):
        gauntlet("a", ["a", "b"], [TTT], 2, seed=0)
    with pytest.raises(ValueError, match="at least 2 players"):
        gauntlet("a", [], [TTT], 2, seed=0)
    with pytest.raises(ValueError, match="liars_dice needs 3 players"):
        gauntlet("a", ["b"], [DICE3], 1, seed=0)


# ---------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "players, games, k, message",
    [
        (["a"], [TTT], 2, "at least 2 players"),
        (["a", "b", "a"], [TTT], 2, "duplicate player names: a"),
        (["a", "b"], [TTT], 0, "games_per_pair"),
        (["a", "b"], [], 2, "at least one game"),
        (["a", "b"], [TTT, GameEntry("tictactoe", 2)], 2, "duplicate game"),
    ],
)
def test_round_robin_rejects_bad_input(players, games, k, message) -> None:
    with pytest.raises(ValueError, match=message):
        round_robin(players, games, k, seed=0)


def test_game_entry_rejects_fewer_than_two_seats() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        GameEntry("solitaire", 1)


# ---------------------------------------------------------------------------------------- Swiss


def test_swiss_rounds_default_is_ceil_log2() -> None:
    assert [swiss_rounds_default(n) for n in (1, 2, 3, 4, 5, 8, 9, 16, 17)] == [
        1, 1, 2, 2, 3, 3, 4, 4, 5,
    ]  # fmt: skip


def test_swiss_pairs_by_score() -> None:
    standings = {"a": 0.0, "b": 3.0, "c": 1.0, "d": 2.0, "e": 5.0, "f": 4.0}
    pairs, bye = swiss_pairings(standings, {}, round_no=2, seed=0)
    assert bye is None
    assert pairs == [("e", "f"), ("b", "d"), ("c", "a")]


def test_swiss_avoids_rematches_when_possible() -> None:
    standings = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    played = {frozenset("ab"): 1, frozenset("cd"): 1}
    pairs, _ = swiss_pairings(standings, played, round_no=2, seed=0)
    assert pairs == [("a", "c"), ("b", "d")]
    # Backtracking: the greedy top-down choice (a-c) would force b-d, a rematch.
    played = {frozenset("ab"): 1, frozenset("bd"): 1}
    pairs, _ = swiss_pairings(standings, played, round_no=3, seed=0)
    assert pairs == [("a", "d"), ("b", "c")]


def test_swiss_accepts_rematches_only_when_unavoidable() -> None:
    standings = {"a": 2.0, "b": 1.0, "c": 0.0, "d": 0.5}
    played = {frozenset(p): 1 for p in itertools.combinations("abcd", 2)}
    del played[frozenset("ac")]
    pairs, _ = swiss_pairings(standings, played, round_no=3, seed=0)
    assert sorted(map(frozenset, pairs), key=sorted) == [frozenset("ac"), frozenset("bd")]
    # Everyone has met everyone: still a full pairing, by score.
    played = {frozenset(p): 1 for p in itertools.combinations("abcd", 2)}
    pairs, _ = swiss_pairings(standings, played, round_no=4, seed=0)
    assert pairs == [("a", "b"), ("d", "c")]


def test_swiss_bye_goes_to_lowest_ranked_without_a_bye() -> None:
    standings = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0, "e": 0.5}
    pairs, bye = swiss_pairings(standings, {}, round_no=1, seed=0)
    assert bye == "d"
    assert {p for pair in pairs for p in pair} == {"a", "b", "c", "e"}
    _, bye = swiss_pairings(standings, {}, round_no=2, seed=0, byes={"d"})
    assert bye == "e"
    _, bye = swiss_pairings(standings, {}, round_no=2, seed=0, byes=set(standings))
    assert bye == "d"


def test_swiss_ties_are_broken_by_the_seed() -> None:
    standings = {f"p{i}": 0.0 for i in range(8)}
    orders = {tuple(swiss_pairings(standings, {}, 1, seed=s)[0]) for s in range(10)}
    assert len(orders) > 1
    assert swiss_pairings(standings, {}, 1, seed=3) == swiss_pairings(standings, {}, 1, seed=3)


def test_swiss_round_expands_like_round_robin_with_the_round_number() -> None:
    pairings = swiss_round([("a", "b"), ("c", "d")], [KUHN], 2, seed=4, round_no=3)
    assert [p.seats for p in pairings] == [("a", "b"), ("c", "d"), ("b", "a"), ("d", "c")]
    assert all(p.round == 3 for p in pairings)
    assert pairings[0].seed == pairings[2].seed and pairings[1].seed == pairings[3].seed
    later = swiss_round([("a", "b")], [KUHN], 2, seed=4, round_no=4)
    assert later[0].seed != pairings[0].seed


def test_swiss_refuses_multi_seat_games_and_bad_pairs() -> None:
    with pytest.raises(ValueError, match="spy has 4 seats"):
        swiss_round([("a", "b")], [SPY4], 1, seed=0, round_no=1)
    with pytest.raises(ValueError, match="duplicate player names: a"):
        swiss_round([("a", "b"), ("a", "c")], [TTT], 1, seed=0, round_no=1)
    with pytest.raises(ValueError, match="at least 2 players"):
        swiss_pairings({"a": 1.0}, {}, 1, seed=0)


# --------------------------------------------------------------------------------------- ladder


def test_pair_weight_matches_the_formula() -> None:
    beta = 25 / 6
    a, b = R(25.0, 3.0), R(25.0, 4.0)
    assert pair_weight(a, b, beta) == pytest.approx(9 + 16)  # p = 1/2 -> 4p(1-p) = 1
    c = R(25.0 + math.sqrt(2 * beta**2 + 25), 4.0)  # z = 1 exactly against a
    p = NormalDist().cdf(1.0)
    assert pair_weight(c, a, beta) == pytest.approx(25 * 4 * p * (1 - p))
    assert pair_weight(a, c, beta) == pytest.approx(pair_weight(c, a, beta))


def test_ladder_floor_picks_the_least_played_player() -> None:
    ratings = {"new": R(25, 8.3), "mid": R(25, 3), "old": R(30, 1), "vet": R(20, 1)}
    played = {"new": 0, "mid": 2, "old": 50, "vet": 50}
    rng = random.Random(0)
    for _ in range(20):
        pair = ladder_next(ratings, played, TTT, beta=4.0, min_games=5, rng=rng)
        assert pair is not None and "new" in pair
        # Partner of highest weight: the uncertain "mid", not the settled veterans.
        assert set(pair) == {"new", "mid"}
    pair = ladder_next(ratings, played, TTT, beta=4.0, min_games=5, rng=rng, busy={"new"})
    assert pair is not None and "mid" in pair and "new" not in pair


def test_ladder_draws_prefer_uncertain_and_close_pairs() -> None:
    beta = 25 / 6
    ratings = {
        "u1": R(25, 6),  # uncertain and close to u2: most to learn
        "u2": R(26, 6),
        "s1": R(25, 1),  # settled
        "far": R(60, 1),  # settled and far from everyone
    }
    played = dict.fromkeys(ratings, 10)
    rng = random.Random(123)
    draws = Counter(
        frozenset(ladder_next(ratings, played, TTT, beta=beta, min_games=5, rng=rng))
        for _ in range(4000)
    )
    weights = {
        frozenset(pair): pair_weight(ratings[pair[0]], ratings[pair[1]], beta)
        for pair in itertools.combinations(ratings, 2)
    }
    total = sum(weights.values())
    for pair, w in weights.items():
        assert draws[pair] / 4000 == pytest.approx(w / total, abs=0.03)
    assert draws.most_common(1)[0][0] == frozenset({"u1", "u2"})
    assert draws[frozenset({"s1", "far"})] < draws[frozenset({"s1", "u1"})]


def test_ladder_alternates_seats_and_skips_busy_players() -> None:
    ratings = {"a": R(25, 2), "b": R(25, 2), "c": R(25, 2)}
    played = dict.fromkeys(ratings, 9)
    rng = random.Random(5)
    seats = Counter(
        ladder_next(ratings, played, TTT, beta=4.0, min_games=1, rng=rng, busy={"c"})
        for _ in range(400)
    )
    assert set(seats) == {("a", "b"), ("b", "a")}
    assert 150 < seats[("a", "b")] < 250
    assert (
        ladder_next(ratings, played, TTT, beta=4.0, min_games=1, rng=rng, busy={"a", "b"}) is None
    )


def test_ladder_refuses_multi_seat_games() -> None:
    ratings = {"a": R(25, 2), "b": R(25, 2), "c": R(25, 2)}
    with pytest.raises(ValueError, match="two by two"):
        ladder_next(ratings, {}, DICE3, beta=4.0, min_games=0, rng=random.Random(0))


def _ladder_script(seed: int, picker: LadderPicker | None) -> list[tuple[str, ...] | None]:
    """A ladder of 7 players over two games with up to 3 matches in flight, finished in a
    seeded order with TrueSkill-like updates (and ties in weight at the start), picked by
    `ladder_next` with counts kept by hand, or by `picker`."""
    src = random.Random(seed)
    players = ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]
    games = [TTT, KUHN]
    ratings = {g: {p: R(25.0, 25 / 3) for p in players} for g in games}
    counts = {"cat": 3}  # a resume: games already scheduled
    rng = random.Random(seed)
    out: list[tuple[str, ...] | None] = []
    in_flight: list[tuple[str, ...]] = []
    for step in range(250):
        game = games[step % 2]
        busy = {p for pair in in_flight for p in pair} | {"someone-else"}
        if picker is None:
            pair = ladder_next(
                ratings[game], counts, game, beta=25 / 6, min_games=3, rng=rng, busy=busy
            )
        else:
            pair = picker.next(ratings[game], game, rng=rng, busy=busy)
        out.append(pair)
        if pair is not None:
            counts.update({p: counts.get(p, 0) + 1 for p in pair})
            if picker is not None:
                picker.record(pair)
            in_flight.append(pair)
        if in_flight and (pair is None or src.random() < 0.4):
            winner, loser = in_flight.pop(src.randrange(len(in_flight)))
            table = ratings[src.choice(games)]
            table[winner] = R(table[winner].mu + 1.5, table[winner].sigma * 0.95)
            table[loser] = R(table[loser].mu - 1.5, table[loser].sigma * 0.95)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_ladder_picker_picks_exactly_as_ladder_next(seed: int) -> None:
    players = ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]
    picker = LadderPicker(players, beta=25 / 6, min_games=3, games_played={"cat": 3})
    expected = _ladder_script(seed, None)
    assert _ladder_script(seed, picker) == expected
    assert sum(p is None for p in expected) > 0 and len(set(expected)) > 20  # busy, and varied
    assert picker.games == Counter(p for pair in expected if pair for p in pair) + Counter(cat=3)


def test_ladder_picker_all_zero_weights_draw_uniformly_like_ladder_next() -> None:
    ratings = {p: R(25.0, 0.0) for p in PLAYERS}  # sigma 0: every weight is 0
    picker = LadderPicker(PLAYERS, beta=0.0, min_games=0)
    old, new = random.Random(3), random.Random(3)
    for _ in range(50):
        expected = ladder_next(ratings, {}, TTT, beta=0.0, min_games=0, rng=old, busy={"bob"})
        assert picker.next(ratings, TTT, rng=new, busy={"bob"}) == expected
    with pytest.raises(ValueError, match="two by two"):
        picker.next(ratings, DICE3, rng=new)


# Pairs of a 40-match ladder (kuhn_poker, seed 7, one match at a time) as the planner chose
# them before its state was made incremental: the new planner must choose the same.
_LADDER_PIN = (
    "cfr-rnd2 rnd4-random rnd3-random rnd4-rnd3 rnd4-cfr rnd2-random cfr-random random-cfr "
    "random-rnd2 rnd3-cfr cfr-random rnd4-cfr rnd3-rnd4 rnd3-rnd4 random-rnd2 random-rnd2 "
    "random-cfr rnd3-cfr rnd4-rnd3 rnd3-rnd4 cfr-rnd4 rnd4-rnd2 rnd4-cfr rnd2-cfr random-cfr "
    "random-cfr rnd2-cfr cfr-random cfr-rnd4 rnd3-rnd4 rnd2-rnd4 rnd4-cfr cfr-random rnd4-rnd2 "
    "cfr-rnd2 rnd2-cfr rnd4-random random-cfr rnd4-rnd3 rnd2-random"
)


def _ladder_db(tmp_path, **extra):
    from arena.specs import parse_spec
    from arena.store import open_db
    from arena.store.players import add_player
    from arena.tournament.config import parse_config
    from arena.tournament.setup import create_tournament

    db = open_db(tmp_path / "ladder.db")
    for name in ("rnd2", "rnd3", "rnd4"):
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    data = {
        "format": "ladder",
        "games": ["kuhn_poker"],
        "players": ["random", "cfr", "rnd2", "rnd3", "rnd4"],
        "matches": 40,
        "min_games": 2,
        "concurrency": 1,
        "seed": 7,
    }
    config = parse_config(data | extra)
    return db, create_tournament(db, config), config


def _seats(db, tid) -> list[str]:
    rows = db.conn.execute(
        "SELECT seats FROM schedule WHERE tournament_id = ? ORDER BY idx", (tid,)
    )
    return ["-".join(json.loads(seats)) for (seats,) in rows]


def test_ladder_tournament_keeps_the_pairs_it_chose_before(tmp_path) -> None:
    import asyncio

    from arena.tournament.runner import run_tournament

    db, tid, _ = _ladder_db(tmp_path)
    assert asyncio.run(run_tournament(db, tid))["matches_played"] == 40
    assert _seats(db, tid) == _LADDER_PIN.split()


def _old_ladder_pick(db, tid, config, entry, rng, busy):
    """The planner's pick as it was: counts rescanned from the schedule, ratings from SQL."""
    from arena.ratings import Rating
    from arena.store.ratings import DEFAULT_PARAMS

    ratings = {p: Rating(DEFAULT_PARAMS.mu, DEFAULT_PARAMS.sigma) for p in config.players}
    for name, mu, sigma in db.conn.execute(
        "SELECT p.name, r.mu, r.sigma FROM ratings r JOIN players p ON p.id = r.player_id "
        "WHERE r.scope = ?",
        (entry.id,),
    ):
        if name in ratings:
            ratings[name] = Rating(mu, sigma)
    games = dict.fromkeys(config.players, 0)
    for (seats,) in db.conn.execute("SELECT seats FROM schedule WHERE tournament_id = ?", (tid,)):
        for name in json.loads(seats):
            games[name] += 1
    return ladder_next(
        ratings,
        games,
        entry,
        beta=DEFAULT_PARAMS.beta,
        min_games=config.min_games,
        rng=rng,
        busy=busy,
    )


def test_ladder_planner_with_matches_in_flight_and_a_restart_picks_as_before(tmp_path) -> None:
    """The planner driven as the runner drives it (3 in flight, instant results updating the
    stored ratings), dropped halfway as a kill would and rebuilt from the store, picks what the
    old rescanning planner picks from the same state, and keeps its counts exact."""
    from arena.ratings import rate_match
    from arena.store import write
    from arena.store.players import get_player
    from arena.store.ratings import DEFAULT_PARAMS
    from arena.tournament.runner import _LadderPlanner
    from arena.tournament.setup import game_entries

    db, tid, config = _ladder_db(tmp_path, matches=60, games=["kuhn_poker", "leduc_poker"])
    entries = game_entries(config)
    ids = {p: get_player(db, p).id for p in config.players}
    src = random.Random(1)
    in_flight = []
    planner = _LadderPlanner(db, tid, config, entries)
    old_rng = random.Random(f"ladder:{config.seed}:0")
    picks, replays, nones, killed = 0, 0, 0, False
    while planner.has_more() or in_flight:
        if picks == 25 and not killed:  # a kill: the matches in flight stay pending
            killed, in_flight = True, []
            planner = _LadderPlanner(db, tid, config, entries)  # rebuilt from the store
            old_rng = random.Random(f"ladder:{config.seed}:25")
            stored = Counter(p for s in _seats(db, tid) for p in s.split("-"))
            assert planner.scheduled == 25 and planner.picker.games == stored
            assert len(planner.queue) > 0  # the pending slots are played first
        slot = None
        if len(in_flight) < 3 and planner.has_more():
            busy = {p for slot in in_flight for p in slot.seats}
            if planner.queue:
                slot = planner.next(busy, len(in_flight))
                replays += 1
            else:
                entry = entries[picks % len(entries)]
                expected = _old_ladder_pick(db, tid, config, entry, old_rng, busy)
                slot = planner.next(busy, len(in_flight))
                if expected is None:
                    assert slot is None
                    nones += 1
                else:
                    assert slot is not None and slot.game == entry.id
                    assert tuple(slot.seats) == expected
                    picks += 1
            if slot is not None:
                in_flight.append(slot)
        if in_flight and (slot is None or src.random() < 0.4):
            done = in_flight.pop(src.randrange(len(in_flight)))
            before = [_stored_rating(db, ids[n], done.game) for n in done.seats]
            after = rate_match(
                DEFAULT_PARAMS, before, [1.0, -1.0] if src.random() < 0.5 else [-1.0, 1.0]
            )
            with write(db):
                for name, rating in zip(done.seats, after):
                    db.conn.execute(
                        "INSERT INTO ratings (player_id, scope, mu, sigma) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (player_id, scope) DO UPDATE SET mu = excluded.mu, "
                        "sigma = excluded.sigma",
                        (ids[name], done.game, rating.mu, rating.sigma),
                    )
                db.conn.execute("UPDATE schedule SET state = 'done' WHERE id = ?", (done.id,))
    assert picks == 60 and planner.scheduled == 60 and not planner.unplanned()
    assert replays > 0 and nones > 0  # replayed after the kill; all but one player busy
    assert planner.picker.games == Counter(p for s in _seats(db, tid) for p in s.split("-"))
    pending = "SELECT COUNT(*) FROM schedule WHERE tournament_id = ? AND state = 'pending'"
    assert db.conn.execute(pending, (tid,)).fetchone()[0] == 0


def _stored_rating(db, player_id: int, scope: str):
    from arena.ratings import Rating
    from arena.store.ratings import DEFAULT_PARAMS

    row = db.conn.execute(
        "SELECT mu, sigma FROM ratings WHERE player_id = ? AND scope = ?", (player_id, scope)
    ).fetchone()
    return Rating(*row) if row else Rating(DEFAULT_PARAMS.mu, DEFAULT_PARAMS.sigma)


def _min_rematches(players: list[str], played: dict[frozenset[str], int]) -> int:
    """Brute force over every perfect matching: the oracle for the Swiss search."""
    if not players:
        return 0
    top, rest = players[0], players[1:]
    return min(
        (played.get(frozenset((top, o)), 0) > 0)
        + _min_rematches([p for p in rest if p != o], played)
        for o in rest
    )


def test_swiss_uses_the_fewest_rematches_possible() -> None:
    rng = random.Random(11)
    names = list("abcdef")
    for _ in range(200):
        played = {frozenset(p): 1 for p in itertools.combinations(names, 2) if rng.random() < 0.6}
        standings = {p: float(rng.randrange(4)) for p in names}
        pairs, bye = swiss_pairings(standings, played, round_no=1, seed=rng.randrange(99))
        assert bye is None
        assert sorted(p for pair in pairs for p in pair) == names
        rematches = sum(played.get(frozenset(pair), 0) > 0 for pair in pairs)
        assert rematches == _min_rematches(names, played)
