"""Tic-tac-toe: why a reply is refused (off the board, taken, garbled), and that a legal square
is still read."""

from __future__ import annotations

import pytest

import games
from games.tictactoe import TicTacToe, TicTacToeState

ALL = "a3, b3, c3, a2, b2, c2, a1, b1, c1"


@pytest.fixture
def game() -> TicTacToe:
    return games.make("tictactoe")


def error(game: TicTacToe, state: TicTacToeState, reply: str) -> str:
    parsed = game.parse_action(state, reply)
    assert not parsed.ok, (reply, parsed)
    return parsed.error


@pytest.mark.parametrize(
    "reply, square",
    [
        ("j9", "j9"),
        ("a4", "a4"),
        ("A4", "a4"),
        ("d1", "d1"),
        ("a0", "a0"),
        ("c10", "c10"),
        ("I play a4", "a4"),
        ("move: j9", "j9"),
        ("Thinking about b2... Answer: z1", "z1"),
    ],
)
def test_a_square_off_the_board_is_called_that_on_an_empty_board(game, reply, square) -> None:
    message = error(game, game.new_initial_state(), reply)
    assert message == f"{square} is not a square of the board (a1-c3); legal moves: {ALL}"
    assert "taken" not in message


def test_a_square_off_the_board_after_some_moves_lists_what_is_left(game) -> None:
    state = game.new_initial_state()
    state.apply("a1")
    state.apply("b2")
    assert error(game, state, "a4") == (
        "a4 is not a square of the board (a1-c3); legal moves: a3, b3, c3, a2, c2, b1, c1"
    )


@pytest.mark.parametrize("reply", ["a1", "A1!", "move: a1", "a 1", "a1b"])
def test_a_taken_square_is_called_taken(game, reply) -> None:
    state = game.new_initial_state()
    state.apply("a1")
    assert error(game, state, reply) == "a1 is taken; legal moves: a3, b3, c3, a2, b2, c2, b1, c1"


@pytest.mark.parametrize("reply", ["c3c", "a1b", "a1a4", "a 1", "b 4", "10", "5", "banana"])
def test_a_garbled_reply_is_quoted_never_called_taken(game, reply) -> None:
    # On an empty board nothing is taken: a reply that names no square, or names a free square
    # in a form that is not a move, gets the generic message that quotes it.
    message = error(game, game.new_initial_state(), reply)
    assert message == f"'{reply}' is not a legal move; legal moves: {ALL}"


def test_a_legal_square_is_still_read(game) -> None:
    state = game.new_initial_state()
    for reply, move in [("b2", "b2"), ("I'll take c1.", "c1"), ("Move: A3", "a3")]:
        assert game.parse_action(state, reply).action == move
