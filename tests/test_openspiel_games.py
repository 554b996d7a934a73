"""OpenSpiel's games as arena games (`openspiel/<name>`, extra `arena-games[openspiel]`).

Every exposed game plays seeded random matches through `play_match`; each move is checked
against the legal moves, and the recorded actions replayed in bare pyspiel must give the same
returns. The longest random matches (laser_tag: 1,000 rounds of two turns; chinese_checkers
about 1,100 moves) end under `MAX_DECISIONS`; a match cut there would be checked up to the cap:
its moves, not its returns. The whole file takes about 15 s on one core.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

pyspiel = pytest.importorskip(
    "pyspiel", reason="open_spiel is not installed: pip install 'arena-games[openspiel]'"
)

import games  # noqa: E402
from arena.backends.scripted import ScriptedBackend  # noqa: E402
from arena.match import MatchRules, play_match  # noqa: E402
from arena.players.bot import BotPlayer  # noqa: E402
from arena.players.llm import LLMPlayer  # noqa: E402
from games import CHANCE, replay  # noqa: E402
from games import openspiel_games as og  # noqa: E402
from games.analysis import exploitability  # noqa: E402
from games.bots import make_bot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPOSED = games.registry.openspiel_game_ids()
MAX_DECISIONS = 2500
SEEDS = (1, 2)


def _match(game: games.Game, seed: int, players=None):
    players = players or [BotPlayer(f"random{i}", "random") for i in range(game.num_players)]
    rules = MatchRules(max_decisions=MAX_DECISIONS)
    return asyncio.run(play_match(game, players, seed, rules=rules))


def test_every_game_pyspiel_registers_is_exposed_or_left_out_with_a_reason():
    verdicts = og.catalogue()
    assert len(verdicts) == len(pyspiel.registered_games())
    assert [og.PREFIX + v.name for v in verdicts if v.exposed] == EXPOSED
    assert len(EXPOSED) >= 80
    for v in verdicts:
        assert v.exposed or v.reason
    reasons = {v.name: v.reason for v in verdicts}
    assert "mean-field" in reasons["mfg_garnet"]
    assert "sampled chance" in reasons["tarok"]
    assert "players" in reasons["social_deduction"]
    assert og.PREFIX + "goofspiel" in EXPOSED  # simultaneous, played turn-based


@pytest.mark.parametrize("game_id", EXPOSED)
def test_random_matches_are_legal_and_returns_match_pyspiel(game_id):
    game = games.make(game_id)
    for seed in SEEDS:
        result = _match(game, seed)
        truncated = result.status == "error" and "decisions" in (result.error or "")
        assert result.status == "finished" or truncated, result.error
        # Every recorded move was legal where it was played.
        state = game.new_initial_state()
        for move in result.moves:
            if move.seat == CHANCE:
                assert move.action in dict(state.chance_outcomes())
            else:
                assert move.seat == state.current_player()
                assert move.action in state.legal_actions()
                assert not move.forced and move.invalid_attempts == 0
                # What a model in that seat would be shown, and what CFR would key on.
                assert "It is your turn. Legal moves: " in state.observation(move.seat)
                assert isinstance(state.information_state(move.seat), str)
                # A model that writes the move as listed gets that move.
                reply = f"My move. Final answer: {move.action}"
                assert game.parse_action(state, reply).action == move.action
            state.apply(move.action)
        if truncated:
            continue
        assert state.is_terminal()
        for seat in range(game.num_players):
            assert "The game is over" in state.observation(seat)
        assert len(result.returns) == game.num_players
        assert all(math.isfinite(r) for r in result.returns)
        if game.zero_sum:
            assert abs(sum(result.returns)) < 1e-6
        # The same action ids, replayed in bare pyspiel, end the same way.
        spiel = og.load_spiel_game(og.game_class(game_id[len(og.PREFIX) :]).spiel_name)
        raw = spiel.new_initial_state()
        for action_id in state.action_ids():
            raw.apply_action(action_id)
        assert raw.is_terminal()
        assert raw.returns() == pytest.approx(result.returns)


def test_chance_is_reproducible_from_the_seed():
    for game_id in ("openspiel/kuhn_poker", "openspiel/pig", "openspiel/backgammon"):
        game = games.make(game_id)
        first, again = _match(game, 11), _match(game, 11)
        assert first.history == again.history
        histories = {tuple(_match(game, seed).history) for seed in range(12, 18)}
        assert len(histories) > 1, game_id


def test_kuhn_seat_zero_never_sees_seat_ones_card():
    game = games.make("openspiel/kuhn_poker")
    seen_states = 0
    for seed in range(40):
        history = _match(game, seed).history
        assert history[0].startswith("Deal") and history[1].startswith("Deal")
        for cut in range(2, len(history)):
            # Seat 1's card swapped for the one card nobody holds: seat 0 cannot tell.
            spare = ({"Deal:0", "Deal:1", "Deal:2"} - {history[0], history[1]}).pop()
            real = replay(game, history[:cut])
            other = replay(game, history[:cut], {1: spare})
            assert real is not None and other is not None
            if real.is_terminal():
                continue
            seen_states += 1
            assert real.observation(0) == other.observation(0)
            assert real.information_state(0) == other.information_state(0)
            assert real.observation(1) != other.observation(1)
    assert seen_states > 40


SIMULTANEOUS = [g for g in EXPOSED if games.game_class(g).simultaneous]


@pytest.mark.parametrize("game_id", [g for g in SIMULTANEOUS if games.make(g).num_players > 1])
def test_a_simultaneous_move_stays_hidden_from_the_seat_that_moves_second(game_id):
    game = games.make(game_id)
    rng = random.Random(0)
    start = game.new_initial_state()
    while start.is_chance_node():
        start.apply(games.sample_chance(start, rng))
    assert start.current_player() == 0
    views = set()
    for first in start.legal_actions()[:6]:
        state = start.clone()
        state.apply(first)
        if state.current_player() == 1:
            views.add((state.observation(1), state.information_state(1)))
    assert len(views) == 1, f"seat 1 of {game_id} sees what seat 0 chose"


def test_simultaneous_games_are_played_turn_based():
    assert len(SIMULTANEOUS) >= 15
    assert {"openspiel/goofspiel", "openspiel/matrix_rps"} <= set(SIMULTANEOUS)


def test_parameters_reach_pyspiel_and_bad_ones_are_refused():
    game = games.make("openspiel/kuhn_poker", players=3)
    assert game.num_players == 3
    assert len(_match(game, 3).returns) == 3
    with pytest.raises(games.GameParamError):
        games.make("openspiel/kuhn_poker", colour="red")
    with pytest.raises(games.GameParamError):
        games.make("openspiel/kuhn_poker", players=9)
    with pytest.raises(KeyError, match="sampled chance"):
        games.game_class("openspiel/tarok")


def test_native_games_stay_native_and_importing_games_does_not_load_pyspiel():
    assert not any(g.startswith(og.PREFIX) for g in games.game_ids())
    assert type(games.make("kuhn_poker")).__module__ == "games.kuhn_poker"
    code = (
        "import sys, games; games.list_games(); games.make('kuhn_poker');"
        "assert 'pyspiel' not in sys.modules, 'pyspiel imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_cfr_bot_solves_kuhn_and_minimax_never_loses_tic_tac_toe():
    kuhn = games.make("openspiel/kuhn_poker")
    assert "cfr" in kuhn.info().bots
    cfr = make_bot(kuhn, "cfr")
    assert exploitability(kuhn, cfr.policy) < 0.01
    assert exploitability(kuhn, make_bot(kuhn, "random").policy) > 0.4
    ttt = games.make("openspiel/tic_tac_toe")
    for seed in range(6):
        for seat in (0, 1):
            players = [BotPlayer("random", "random"), BotPlayer("random2", "random")]
            players[seat] = BotPlayer("minimax", "minimax")
            assert _match(ttt, seed, players).returns[seat] >= 0


def test_arena_games_lists_openspiel_games():
    env = {**os.environ}
    cmd = [sys.executable, "-m", "arena.cli", "games", "--openspiel"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    lines = out.stdout.splitlines()
    for game_id in ("tictactoe", "openspiel/tic_tac_toe", "openspiel/goofspiel"):
        assert any(line.startswith(game_id + " ") for line in lines), game_id
    go = next(line for line in lines if line.startswith("openspiel/go "))
    assert "bots only" in go
    show = [sys.executable, "-m", "arena.cli", "games", "show", "openspiel/nim"]
    out = subprocess.run(show, capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    assert "pile:4, take:3;" in out.stdout


def test_a_language_model_plays_an_openspiel_game():
    game = games.make("openspiel/tic_tac_toe")

    def reply(messages):
        # The last listed legal move, as a model that read its prompt would write it.
        text = messages[-1]["content"]
        legal = text.split("Legal moves: ")[-1].splitlines()[0].split(", ")
        return f"I take a square. Final answer: {legal[-1]}"

    backend = ScriptedBackend(reply)
    model = LLMPlayer("scripted", backend)
    result = _match(game, 5, [model, BotPlayer("random", "random")])
    assert result.status == "finished"
    assert result.invalid_moves == [0, 0]
    assert sum(1 for m in result.moves if m.seat == 0) >= 3
    system = backend.calls[0][0]["content"]
    assert "x(1,1) the centre" in system
    assert "What you see" in backend.calls[0][-1]["content"]
