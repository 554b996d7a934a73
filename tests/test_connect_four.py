"""Connect Four: rules, parsing, parameters and the minimax bot."""

from __future__ import annotations

import random
import time

import pytest

import games
from games import TERMINAL
from games.bots import make_bot
from games.bots.connect_four_minimax import ConnectFourMinimax
from games.connect_four import ConnectFour, ConnectFourState

# A full 6x7 board with no four in a row anywhere (found by a seeded random playout).
DRAWN_GAME = "4 4 1 3 6 5 6 7 5 3 3 4 4 6 6 3 3 5 4 4 2 2 3 2 6 6 1 5 1 5 5 7 7 7 7 1 2 1 7 1 2 2"


@pytest.fixture
def game() -> ConnectFour:
    return games.make("connect_four")


def play(game: ConnectFour, moves: str) -> ConnectFourState:
    """Play space-separated columns; every move but the last must leave the game running."""
    state = game.new_initial_state()
    for move in moves.split():
        assert not state.is_terminal(), (moves, state.history())
        state.apply(move)
    return state


def mirror(moves: str, columns: int = 7) -> str:
    return " ".join(str(columns + 1 - int(m)) for m in moves.split())


# --- rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "moves",
    [
        pytest.param("1 2 1 2 1 2 1", id="vertical"),
        pytest.param("1 1 2 2 3 3 4", id="horizontal"),
        pytest.param("4 4 5 5 6 6 7", id="horizontal-right-edge"),
        pytest.param("1 2 2 3 3 4 3 4 4 7 4", id="diagonal-up-right"),
        pytest.param(mirror("1 2 2 3 3 4 3 4 4 7 4"), id="diagonal-up-left"),
        pytest.param("7 1 7 1 7 1 2 2 3 3 4 4", id="second-player-horizontal-row-2"),
    ],
)
def test_four_in_a_row_wins_for_the_player_who_completed_it(game, moves):
    state = play(game, moves)
    mover = (len(moves.split()) - 1) % 2
    assert state.is_terminal()
    assert state.current_player() == TERMINAL
    assert state.legal_actions() == []
    expected = [1.0, -1.0] if mover == 0 else [-1.0, 1.0]
    assert state.returns() == expected
    assert f"You ({'XO'[mover]}) won" in state.observation(mover)


def test_second_player_can_win(game):
    # O completes the bottom row 2..5 while X stacks harmlessly.
    state = play(game, "1 2 1 3 7 4 7 5")
    assert state.returns() == [-1.0, 1.0]
    assert "Your opponent (O) won" in state.observation(0)


def test_three_in_a_row_and_broken_lines_do_not_win(game):
    state = play(game, "1 1 2 2 3 3")
    assert not state.is_terminal()
    # X holds 1, 2, 3 and 5 on the bottom row: no four in a row yet.
    state = play(game, "1 7 2 7 3 1 5 2")
    assert not state.is_terminal()
    # Wrapping from the top of one column to the bottom of the next is not a line.
    state = play(game, "1 2 1 2 1 3 2 1 3 1 3 1 2")
    assert not state.is_terminal()


def test_a_full_board_without_a_line_is_a_draw(game):
    state = play(game, DRAWN_GAME)
    assert len(state.history()) == 42
    assert state.is_terminal()
    assert state.returns() == [0.0, 0.0]
    assert state.winners() == [0, 1]
    assert "." not in state.board_text().split("+")[0]
    assert "draw" in state.observation(0)


def test_full_column_and_finished_game_refuse_moves(game):
    state = play(game, "4 4 4 4 4 4")
    assert "4" not in state.legal_actions()
    assert state.legal_actions() == ["1", "2", "3", "5", "6", "7"]
    with pytest.raises(games.IllegalActionError):
        state.apply("4")
    for junk in ("0", "8", "d", "", "column 1"):
        with pytest.raises(games.IllegalActionError):
            state.apply(junk)
    won = play(game, "1 2 1 2 1 2 1")
    with pytest.raises(games.IllegalActionError):
        won.apply("3")


def test_observation_shows_board_labels_turn_moves_and_legal_moves(game):
    state = play(game, "4 4 3")
    obs = state.observation(1)
    assert "You are O (player 1)" in obs
    assert "1 | . . X X . . . |" in obs
    assert "2 | . . . O . . . |" in obs
    assert "    1 2 3 4 5 6 7" in obs
    assert "Moves so far (columns): 4 4 3" in obs
    assert "It is your turn. Legal moves: 1, 2, 3, 4, 5, 6, 7" in obs
    assert "It is O's turn." in state.observation(0)
    assert "Legal moves" not in state.observation(0)


def test_information_state_is_the_move_sequence(game):
    assert game.new_initial_state().information_state(0) == "-"
    state = play(game, "4 4 3")
    assert state.information_state(0) == "4 4 3" == state.information_state(1)
    assert state.history() == ["4", "4", "3"]


def test_clone_copies_board_and_legal_moves(game):
    state = play(game, "4 4 4 4 4")
    copy = state.clone()
    copy.apply("4")
    assert "4" in state.legal_actions() and "4" not in copy.legal_actions()
    assert state.cell(3, 5) == "." and copy.cell(3, 5) == "O"


# --- parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "4",
        " 4 ",
        "column 4",
        "Column 4.",
        "col 4",
        "[4]",
        "**4**",
        "Final answer: 4",
        "I will drop my disc in the centre.\nFinal answer: 4",
        "\\boxed{4}",
        "<answer>4</answer>",
        "I play column 4 to take the centre.",
        "d",
        "D",
        "column d",
        "Final answer: d",
    ],
)
def test_parse_accepts_what_models_write(game, reply):
    state = play(game, "1 2")
    assert game.parse_action(state, reply).action == "4"


def test_parse_full_column_gives_a_reason_with_the_legal_moves(game):
    state = play(game, "4 4 4 4 4 4")
    for reply in ("4", "column 4", "Final answer: 4", "d"):
        parsed = game.parse_action(state, reply)
        assert not parsed.ok
        assert parsed.error == "column 4 is full; legal moves: 1, 2, 3, 5, 6, 7"


@pytest.mark.parametrize("reply", ["8", "column 0", "Final answer: 12", "column 99"])
def test_parse_out_of_range_column_gives_a_reason(game, reply):
    parsed = game.parse_action(game.new_initial_state(), reply)
    assert not parsed.ok
    assert "columns are numbered 1 to 7" in parsed.error
    assert "legal moves: 1, 2, 3, 4, 5, 6, 7" in parsed.error


def test_parse_never_raises_on_junk_and_refuses_ambiguity(game):
    state = game.new_initial_state()
    for junk in (None, 42, "", "\x1b[2J", "zzz", "[[[", "h", "a b"):
        parsed = game.parse_action(state, junk)
        assert not parsed.ok and parsed.error
    parsed = game.parse_action(state, "either 3 or 5")
    assert not parsed.ok and "several moves" in parsed.error
    # A letter inside a sentence is a word, not a column.
    assert game.parse_action(state, "I drop a disc in column 6").action == "6"


# --- parameters ----------------------------------------------------------------------------
def test_smaller_board_with_connect_three():
    game = games.make("connect_four", rows=5, columns=6, connect=3)
    state = game.new_initial_state()
    assert state.legal_actions() == ["1", "2", "3", "4", "5", "6"]
    assert "Connect 3 in a row" in state.observation(0)
    assert "1 to 6" in game.rules()
    assert play(game, "1 2 1 2 1").returns() == [1.0, -1.0]  # vertical three
    assert play(game, "1 1 2 2 3").returns() == [1.0, -1.0]  # horizontal three
    assert play(game, "1 2 2 6 3 3 3").returns() == [1.0, -1.0]  # diagonal up-right
    assert play(game, mirror("1 2 2 6 3 3 3", 6)).returns() == [1.0, -1.0]  # up-left
    full = play(game, "6 6 6 6 6")
    assert "6" not in full.legal_actions()
    assert game.parse_action(full, "6").error == "column 6 is full; legal moves: 1, 2, 3, 4, 5"
    assert "no column 7" in game.parse_action(full, "7").error
    for seed in range(50):
        end = games.random_playout(game, seed)
        assert end.is_terminal() and len(end.history()) <= 30


def test_wide_board_parses_two_digit_columns():
    game = games.make("connect_four", rows=4, columns=10, connect=5)
    state = game.new_initial_state()
    assert game.parse_action(state, "10").action == "10"
    assert game.parse_action(state, "column 1").action == "1"
    assert game.parse_action(state, "j").action == "10"
    assert play(game, "1 1 2 2 3 3 4 4 5").returns() == [1.0, -1.0]
    assert not play(game, "1 1 2 2 3 3 4 4").is_terminal()


@pytest.mark.parametrize(
    "params",
    [
        {"rows": 1},
        {"rows": 13},
        {"columns": 0},
        {"columns": 40},
        {"connect": 1},
        {"connect": 8},
        {"rows": 3, "columns": 3, "connect": 4},
        {"rows": "6"},
        {"connect": 4.0},
        {"size": 7},
    ],
)
def test_bad_parameters_are_refused(params):
    with pytest.raises(games.GameParamError):
        games.make("connect_four", **params)


# --- the minimax bot -----------------------------------------------------------------------
def test_bot_is_registered_with_a_depth_parameter(game):
    bot = make_bot(game, "minimax")
    assert isinstance(bot, ConnectFourMinimax) and bot.depth == 4
    assert make_bot(game, "minimax", depth=2).depth == 2
    with pytest.raises(ValueError):
        ConnectFourMinimax(game, depth=0)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_bot_takes_a_win_in_one(game, depth):
    bot = ConnectFourMinimax(game, depth=depth)
    assert bot.policy(play(game, "1 1 2 2 3 3")) == {"4": 1.0}
    # Winning beats blocking: O threatens column 7 too.
    assert bot.policy(play(game, "1 7 2 7 3 7")) == {"4": 1.0}
    # Two winning moves: uniform over both.
    assert bot.policy(play(game, "2 2 3 3 4 4")) == {"1": 0.5, "5": 0.5}


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_bot_blocks_an_immediate_threat(game, depth):
    bot = ConnectFourMinimax(game, depth=depth)
    assert bot.policy(play(game, "1 1 2 2 3")) == {"4": 1.0}  # horizontal
    assert bot.policy(play(game, "4 1 4 2 4")) == {"4": 1.0}  # vertical
    # Diagonal: X needs column 4 row 4, and column 4 is three high.
    assert bot.policy(play(game, "1 2 2 3 3 4 3 4 4 7 5")) == {"4": 1.0}


def test_bot_avoids_a_move_that_lets_the_opponent_win(game):
    # X holds columns 1-3 of row 2 over an empty column 4: O must not play column 4 now,
    # since X would answer on top of it and win.
    state = play(game, "3 1 1 2 2 6 3")
    assert state.current_player() == 1
    bot = ConnectFourMinimax(game, depth=2)
    policy = bot.policy(state)
    assert "4" not in policy
    for move in policy:
        after = state.clone()
        after.apply(move)
        for reply in after.legal_actions():
            nxt = after.clone()
            nxt.apply(reply)
            assert not (nxt.is_terminal() and nxt.returns()[0] > 0), (move, reply)


def test_bot_policy_is_a_distribution_over_legal_moves(game):
    bot = ConnectFourMinimax(game)
    state = game.new_initial_state()
    policy = bot.policy(state)
    assert policy == {"4": 1.0}
    rng = random.Random(5)
    for _ in range(10):
        state.apply(rng.choice(state.legal_actions()))
        policy = bot.policy(state)
        assert set(policy) <= set(state.legal_actions())
        assert abs(sum(policy.values()) - 1.0) < 1e-9
        assert len(set(policy.values())) == 1  # uniform over the ties


def test_bot_beats_random_in_at_least_19_of_20_games(game):
    bot = make_bot(game, "minimax")
    rival = make_bot(game, "random")
    wins = 0
    for seed in range(20):
        rng = random.Random(seed)
        seat = seed % 2
        state = game.new_initial_state()
        while not state.is_terminal():
            player = bot if state.current_player() == seat else rival
            state.apply(player.act(state, rng))
        wins += state.returns()[seat] > 0
    assert wins >= 19


def test_bot_plays_other_board_sizes():
    game = games.make("connect_four", rows=5, columns=6, connect=3)
    bot = ConnectFourMinimax(game)
    assert bot.policy(play(game, "1 1 2 2")) == {"3": 1.0}
    assert bot.policy(play(game, "1 2 1")) == {"1": 1.0}  # blocks a vertical three
    rng = random.Random(0)
    state = game.new_initial_state()
    while not state.is_terminal():
        state.apply(bot.act(state, rng))


def test_bot_move_at_default_depth_is_fast(game):
    bot = ConnectFourMinimax(game)
    state = play(game, "4 4 3 5 2 6 4 3")
    start = time.perf_counter()
    bot.policy(state)
    assert time.perf_counter() - start < 1.0


# --- refusal messages ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply, column",
    [("9", "9"), ("0", "0"), ("44", "44"), ("column 10", "10"), ("move: 8", "8"), ("h", "h")],
)
def test_a_column_off_the_board_is_called_that(game, reply, column) -> None:
    parsed = game.parse_action(game.new_initial_state(), reply)
    assert parsed.error == (
        f"there is no column {column}: columns are numbered 1 to 7; "
        "legal moves: 1, 2, 3, 4, 5, 6, 7"
    )


def test_a_full_column_is_called_full_and_a_garbled_reply_is_quoted(game) -> None:
    state = play(game, "4 4 4 4 4 4")
    assert game.parse_action(state, "4").error == (
        "column 4 is full; legal moves: 1, 2, 3, 5, 6, 7"
    )
    empty = game.new_initial_state()
    for reply in ("banana", "4a"):
        assert game.parse_action(empty, reply).error == (
            f"'{reply}' is not a legal move; legal moves: 1, 2, 3, 4, 5, 6, 7"
        )
