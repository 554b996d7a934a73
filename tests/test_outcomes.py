"""Outcomes in words: every game's seat names and the sentences a player and a spectator read
(win, loss, draw, resignation, chips, points), from hand-made returns and from real matches
played by the arena's match loop. The Play screen saying it is pinned in tests/tui/test_play.py."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

import games
from arena.match import forfeit_returns, play_match
from arena.outcomes import outcome, seat_names
from arena.players.bot import BotPlayer

GAMES = [
    g
    for g in games.game_ids()
    if all(importlib.util.find_spec(m) for m in games.game_class(g).REQUIRES)
]

SEAT_NAMES = {
    "tictactoe": ("X", "O"),
    "connect_four": ("X", "O"),
    "chess": ("White", "Black"),
    "kuhn_poker": ("the first player", "the second player"),
    "leduc_poker": ("the first player", "the second player"),
    "liars_dice": ("Player 0", "Player 1"),
    "negotiation": ("Player 0", "Player 1"),
    "prisoners_dilemma": ("Player 0", "Player 1"),
    "spy": ("Player 0", "Player 1", "Player 2", "Player 3"),
}


def test_every_game_names_its_seats() -> None:
    assert set(SEAT_NAMES) >= set(games.game_ids())
    for game_id in games.game_ids():
        assert seat_names(game_id) == SEAT_NAMES[game_id]
    assert seat_names("spy", {"num_players": 5})[-1] == "Player 4"
    assert seat_names("no_such_game") == ("Player 0", "Player 1")  # a stored, retired game


# --- hand-made returns -----------------------------------------------------------------
def test_tictactoe_says_who_won_as_which_mark() -> None:
    won = outcome("tictactoe", [1.0, -1.0])
    assert won.sentence() == "X won"
    assert won.sentence(viewer=0) == "You won as X"
    assert won.sentence(viewer=1) == "You lost as O"
    assert won.sentence(players=["alice", "bob"]) == "alice (X) won"
    drawn = outcome("tictactoe", [0.0, 0.0])
    assert drawn.draw and drawn.winners == ()
    assert drawn.sentence() == drawn.sentence(viewer=1) == "Draw"


def test_a_forfeit_is_a_resignation_by_illegal_move() -> None:
    said = outcome("tictactoe", forfeit_returns(2, 0), forfeit_seat=0)
    assert said.winners == (1,)
    assert said.sentence() == "O won by resignation (illegal move)"
    assert said.sentence(viewer=0) == "You lost as X: O won by resignation (illegal move)"
    assert said.sentence(viewer=1) == "You won as O: X resigned (illegal move)"
    chess = outcome("chess", forfeit_returns(2, 1), forfeit_seat=1)
    assert chess.sentence(players=["a", "b"]) == "a (White) won by resignation (illegal move)"


def test_poker_counts_chips() -> None:
    for game_id in ("kuhn_poker", "leduc_poker"):
        said = outcome(game_id, [2.0, -2.0])
        assert said.sentence() == "The first player won 2 chips"
        assert said.sentence(viewer=0) == "You won 2 chips as the first player"
        assert said.sentence(viewer=1) == "You lost 2 chips as the second player"
    one = outcome("kuhn_poker", [-1.0, 1.0])
    assert one.sentence() == "The second player won 1 chip"
    assert outcome("leduc_poker", [0.0, 0.0]).sentence(viewer=0) == "Draw: the pot was split"


def test_prisoners_dilemma_gives_the_score() -> None:
    said = outcome("prisoners_dilemma", [12.0, 7.0])
    assert said.sentence() == "Player 0 won, 12 points to 7"
    assert said.sentence(viewer=1) == "You lost as Player 1, 7 points to 12"
    assert outcome("prisoners_dilemma", [9.0, 9.0]).sentence() == "Draw, 9 points each"


def test_spy_names_the_winning_side() -> None:
    civilians = outcome("spy", [1 / 3, 1 / 3, -1.0, 1 / 3], teams=[0, 0, 1, 0])
    assert civilians.winners == (0, 1, 3)
    assert civilians.sentence() == "Player 0, Player 1 and Player 3 won together"
    assert civilians.sentence(viewer=1) == "You won as Player 1 with Player 0 and Player 3"
    assert (
        civilians.sentence(viewer=2) == "You lost as Player 2: Player 0, Player 1 and Player 3 won"
    )
    spy = outcome("spy", [-1 / 3, -1 / 3, 1.0, -1 / 3], teams=[0, 0, 1, 0])
    assert spy.sentence() == "Player 2 won"
    assert spy.sentence(viewer=0) == "You lost as Player 0: Player 2 won"
    resigned = outcome("spy", forfeit_returns(4, 3), forfeit_seat=3)
    assert resigned.sentence() == "Player 0, Player 1 and Player 2 won: Player 3 resigned"


@pytest.mark.parametrize("game_id", GAMES)
def test_every_game_has_a_sentence_for_win_loss_draw_and_forfeit(game_id: str) -> None:
    game = games.make(game_id)
    n = game.num_players
    names = game.seat_names()
    win = [1.0] + [-1.0 / (n - 1)] * (n - 1)
    cases = {"win": (win, None), "draw": ([0.0] * n, None), "forfeit": (forfeit_returns(n, 1), 1)}
    for kind, (returns, forfeit) in cases.items():
        said = outcome(game, returns, forfeit_seat=forfeit)
        spectator = said.sentence()
        assert "returns" not in spectator and "seat" not in spectator.lower()
        for seat in range(n):
            mine = said.sentence(viewer=seat)
            if kind == "draw":
                assert mine.startswith("Draw") and spectator.startswith("Draw")
                continue
            verb = "won" if said.results[seat] == "win" else "lost"
            assert mine.startswith(f"You {verb}") and names[seat] in mine
        if kind == "win":
            assert names[0].lower() in spectator.lower() and "won" in spectator
        if kind == "forfeit":
            assert names[0].lower() in spectator.lower() and "resign" in spectator  # seat 0 won


# --- real matches ------------------------------------------------------------------------
@pytest.mark.parametrize("game_id", GAMES)
def test_random_matches_end_in_a_sentence(game_id: str) -> None:
    game = games.make(game_id)
    for seed in range(3):
        players = [BotPlayer("random") for _ in range(game.num_players)]
        result = asyncio.run(play_match(game, players, seed))
        assert result.status == "finished"
        said = outcome(game, result.returns, result.forfeit_seat, result.teams)
        spectator = said.sentence()
        assert spectator == "Draw" or spectator.startswith("Draw") or " won" in spectator
        if not said.draw:
            assert any(game.seat_names()[s].lower() in spectator.lower() for s in said.winners)
        for seat in range(game.num_players):
            assert said.sentence(viewer=seat).startswith(("You won", "You lost", "Draw"))
