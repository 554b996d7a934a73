"""Duplicate deals (issue 17 point 2): every seed played in every seating, linked through the
schedule (same game, params, seed and players), shown per group of players as deal results.
Real SQLite files, real bots, the real CLI and app."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import Checkbox, Select

from arena.cli import cli
from arena.store import open_db
from arena.store.queries import list_matches
from arena.tournament.config import duplicate_deals, parse_config
from arena.tournament.runner import run_tournament
from arena.tournament.schedule import (
    GameEntry,
    deal_key,
    gauntlet,
    rotations,
    round_robin,
    swiss_round,
)
from arena.tournament.setup import create_tournament

KUHN = GameEntry("kuhn_poker", 2)
LIARS3 = GameEntry("liars_dice", 3, {"num_players": 3})


def _deals(pairings) -> dict[tuple, list[tuple[str, ...]]]:
    """Seatings per deal (game, params, seed, players as a set)."""
    out: dict[tuple, list[tuple[str, ...]]] = defaultdict(list)
    for p in pairings:
        out[deal_key(p.game.id, p.game.params, p.seed, p.seats)].append(p.seats)
    return out


@pytest.mark.parametrize(
    "schedule",
    [
        lambda d: round_robin(["a", "b", "c", "d"], [KUHN, LIARS3], 3, 11, duplicate=d),
        lambda d: gauntlet("a", ["b", "c", "d"], [KUHN, LIARS3], 3, 11, duplicate=d),
        lambda d: swiss_round([("a", "b"), ("c", "d")], [KUHN], 3, 11, 2, duplicate=d),
    ],
    ids=["round_robin", "gauntlet", "swiss"],
)
def test_duplicate_schedule_plays_every_seed_once_in_every_seating(schedule) -> None:
    pairings = schedule(True)
    deals = _deals(pairings)
    # games_per_pair 3 rounds up to whole deals: 4 matches a pair, 3 for a table of three
    for seatings in deals.values():
        assert sorted(seatings) == sorted(rotations(seatings[0]))
    per_group = Counter(frozenset(p.seats) for p in pairings)
    assert all(n == (4 if len(group) == 2 else 3) for group, n in per_group.items())
    assert len(deals) == sum(n // len(group) for group, n in per_group.items())
    # in 2-seat deals each player sits in each seat once: the swap
    for seatings in deals.values():
        if len(seatings[0]) == 2:
            assert seatings[1] == seatings[0][::-1]


def test_duplicate_off_gives_every_match_a_seed_of_its_own_and_still_swaps_seats() -> None:
    pairings = round_robin(["a", "b"], [KUHN], 6, 3, duplicate=False)
    assert len({p.seed for p in pairings}) == 6
    assert [p.seats for p in pairings] == [("a", "b"), ("b", "a")] * 3


def test_unset_keeps_the_mirrored_schedule_and_matches_duplicate_on_whole_deals() -> None:
    players, games = ["a", "b", "c"], [KUHN, LIARS3]
    assert round_robin(players, games, 6, 5) == round_robin(players, games, 6, 5, duplicate=True)
    unset = round_robin(["a", "b"], [KUHN], 3, 5)
    on = round_robin(["a", "b"], [KUHN], 3, 5, duplicate=True)
    assert len(unset) == 3 and len(on) == 4 and on[:3] == unset
    assert Counter(len(s) for s in _deals(unset).values()) == Counter({2: 1, 1: 1})


def test_each_format_says_whether_it_plays_duplicate_deals() -> None:
    base = {"games": ["kuhn_poker"], "players": ["cfr", "random"]}
    for fmt, expected in [("round_robin", True), ("gauntlet", True), ("swiss", True)]:
        assert duplicate_deals(parse_config(base | {"format": fmt})) is expected
    assert duplicate_deals(parse_config(base | {"format": "ladder"})) is False
    assert duplicate_deals(parse_config(base | {"format": "ladder", "duplicate": True})) is True
    assert duplicate_deals(parse_config(base | {"duplicate": False})) is False


def _chance_moves(db, match_id: int) -> list[str]:
    rows = db.conn.execute(
        "SELECT action FROM moves WHERE match_id = ? AND seat = -1 ORDER BY idx", (match_id,)
    )
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("game", "players"),
    [
        ({"id": "kuhn_poker"}, ["cfr", "random"]),
        ({"id": "liars_dice", "params": {"num_players": 3}}, ["random", "heuristic", "r2"]),
    ],
)
def test_a_stored_deal_deals_the_same_cards_to_each_seat(tmp_path: Path, game, players) -> None:
    from arena.specs import parse_spec
    from arena.store.players import add_player

    db = open_db(tmp_path / "a.db")
    add_player(db, parse_spec({"name": "r2", "kind": "bot", "bot": "random"}))
    config = parse_config({"games": [game], "players": players, "games_per_pair": 6, "seed": 4})
    tid = create_tournament(db, config)
    assert asyncio.run(run_tournament(db, tid))["status"] == "finished"
    deals = defaultdict(list)
    for m in list_matches(db, tournament=tid, status="finished"):
        deals[deal_key(m["game"], m["params"], m["seed"], m["players"])].append(m)
    n = len(players)
    assert len(deals) == 6 // n and all(len(d) == n for d in deals.values())
    dealt = set()
    for matches in deals.values():
        assert sorted(tuple(m["players"]) for m in matches) == sorted(
            rotations(matches[0]["players"])
        )
        # seat by seat the same cards (dice): each player holds, in turn, every seat's hand
        chance = [_chance_moves(db, m["id"]) for m in matches]
        assert len(chance[0]) == n and all(c == chance[0] for c in chance)
        dealt.add(tuple(chance[0]))
    assert len(dealt) > 1  # different deals get different cards


def _cli(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)


def test_show_reports_each_pairs_deal_results_as_summed_returns(tmp_path: Path) -> None:
    db_path = tmp_path / "arena.db"
    run = _cli(
        db_path, "tournament", "run", "--game", "kuhn_poker", "--player", "cfr",
        "--player", "random", "--games-per-pair", "7", "--seed", "3", "--quiet",
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    out = _cli(db_path, "tournament", "show", "1", "--json")
    deals = json.loads(out.stdout)["deals"]
    assert [(d["game"], d["players"], d["deals"], d["unpaired"]) for d in deals] == [
        ("kuhn_poker", ["cfr", "random"], 3, 1)  # 7 matches: 3 whole deals, 1 left unpaired
    ]
    cfr, rnd = deals[0]["results"]
    assert cfr["name"] == "cfr" and rnd["name"] == "random"
    # recomputed from the stored matches: a deal is won by the larger summed return
    db = open_db(db_path)
    by_seed = defaultdict(list)
    for m in list_matches(db, tournament=1, status="finished"):
        by_seed[m["seed"]].append(dict(zip(m["players"], m["returns"])))
    whole = [{name: a[name] + b[name] for name in a} for a, *rest in by_seed.values() for b in rest]
    assert len(whole) == 3
    wins = sum(s["cfr"] > s["random"] for s in whole)
    draws = sum(s["cfr"] == s["random"] for s in whole)
    assert (cfr["wins"], cfr["draws"], cfr["losses"]) == (wins, draws, 3 - wins - draws)
    assert (rnd["wins"], rnd["losses"]) == (cfr["losses"], cfr["wins"])
    assert cfr["mean_return"] == pytest.approx(sum(s["cfr"] for s in whole) / 3)
    assert cfr["mean_return"] == pytest.approx(-rnd["mean_return"])
    text = _cli(db_path, "tournament", "show", "1").stdout
    assert "duplicate deals" in text and "3 deals (1 unpaired)" in text
    assert f"cfr {cfr['wins']}-{cfr['draws']}-{cfr['losses']}" in text


def test_the_option_reaches_the_stored_config_and_is_in_the_help(tmp_path: Path) -> None:
    db_path = tmp_path / "arena.db"
    help_text = " ".join(_cli(db_path, "tournament", "run", "--help").stdout.split())
    assert "--duplicate / --no-duplicate" in help_text and "so luck cancels" in help_text
    for flag in ("--no-duplicate", "--duplicate"):
        run = _cli(
            db_path, "tournament", "run", "--game", "kuhn_poker", "--player", "cfr",
            "--player", "random", "--games-per-pair", "2", flag, "--quiet",
        )  # fmt: skip
        assert run.exit_code == 0, run.output
    db = open_db(db_path)
    configs = [json.loads(r[0]) for r in db.conn.execute("SELECT config FROM tournaments")]
    assert [c["duplicate"] for c in configs] == [False, True]


async def test_the_form_has_a_duplicate_box_showing_each_formats_default(tmp_path: Path) -> None:
    from arena.tui.app import make_app
    from arena.tui.widgets.tournament_form import TournamentForm

    app = make_app(tmp_path / "empty.db", seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        form = app.screen.query_one(TournamentForm)
        box = form.query_one("#duplicate", Checkbox)
        assert box.value is True and "luck cancels" in str(box.tooltip)
        assert "duplicate" not in form.data()  # as the format has it: left unset
        box.value = False
        assert form.data()["duplicate"] is False
        form.query_one("#format", Select).value = "ladder"
        await pilot.pause()
        assert box.value is False and "duplicate" not in form.data()
        box.value = True
        assert form.data()["duplicate"] is True


def _stored(tmp_path: Path, name: str, **config) -> list[dict]:
    db = open_db(tmp_path / f"{name}.db")
    tid = create_tournament(db, parse_config({"seed": 8, **config}))
    assert asyncio.run(run_tournament(db, tid))["status"] == "finished"
    return list_matches(db, tournament=tid, status="finished")


@pytest.mark.parametrize("fmt", ["round_robin", "gauntlet", "swiss", "ladder"])
def test_the_setting_decides_every_formats_stored_schedule(tmp_path: Path, fmt: str) -> None:
    base = {"games": ["kuhn_poker"], "players": ["cfr", "random"], "format": fmt}
    if fmt == "gauntlet":
        base = {**base, "challenger": "cfr", "players": ["random"]}
    if fmt == "swiss":
        base = {**base, "rounds": 2}
    if fmt == "ladder":
        base = {**base, "matches": 5}
    else:
        base = {**base, "games_per_pair": 3}
    on = _stored(tmp_path, "on", **base, duplicate=True)
    off = _stored(tmp_path, "off", **base, duplicate=False)
    # on: whole deals (3 games per pair, or a ladder of 5, round up to pairs of matches)
    seeds = Counter(m["seed"] for m in on)
    assert set(seeds.values()) == {2}, seeds
    for seed in seeds:
        seatings = sorted(tuple(m["players"]) for m in on if m["seed"] == seed)
        assert seatings == sorted(rotations(seatings[0]))
    assert len(on) == {"swiss": 8, "ladder": 6}.get(fmt, 4)
    # off: a seed of its own for every match
    assert len({m["seed"] for m in off}) == len(off) == {"swiss": 6, "ladder": 5}.get(fmt, 3)
