"""The boards draw from the game state's read-only accessors, never from the observation text:
what they draw equals what the state says, does not change when the observation's wording
does, and shows a seat nothing the other seats keep secret."""

from __future__ import annotations

import random
from collections.abc import Iterator

import chess
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Static

import games
from arena.tui.widgets.boards import Board, BoardView, make_board
from arena.tui.widgets.boards.chess_board import PIECES, board_text
from arena.tui.widgets.boards.dice import bid_line, die
from arena.tui.widgets.boards.grid import Cell, connect_four_layout, tictactoe_layout
from arena.tui.widgets.boards.poker import card_face
from games import State
from games.negotiation import RESOURCES

GARBAGE = (
    "FEN: 8/8/8/8/8/8/8/k6K w - - 0 1\nYour dice: 6, 6, 6.\nYour card: Ace (A).\n"
    "Current bid: bid 9 9\nYour secret word: banana\nMoves so far: 1. e4"
)
HIDDEN = ["kuhn_poker", "leduc_poker", "liars_dice", "negotiation", "spy"]


def random_states(game_id: str, seed: int, **params: object) -> Iterator[State]:
    """Every state of one seeded random game, chance nodes sampled by their probabilities."""
    game = games.make(game_id, **params)
    state = game.new_initial_state()
    rng = random.Random(seed)
    yield state.clone()
    while not state.is_terminal():
        if state.is_chance_node():
            outcomes = state.chance_outcomes()
            actions, weights = zip(*outcomes, strict=True)
            state.apply(rng.choices(actions, weights)[0])
        else:
            state.apply(rng.choice(state.legal_actions()))
        yield state.clone()


def played(game_id: str, seeds: range, **params: object) -> list[State]:
    """The decision and terminal states of a few random games (no chance nodes)."""
    return [
        s
        for seed in seeds
        for s in random_states(game_id, seed, **params)
        if not s.is_chance_node()
    ]


def view_of(state: State, seat: int) -> BoardView:
    legal = tuple(state.legal_actions()) if state.current_player() == seat else ()
    return BoardView(state.game, state, seat, legal)


def sample(states: list[State], k: int, seed: int = 0) -> list[State]:
    """`k` states spread over the list, the last (terminal) one included."""
    if len(states) <= k:
        return states
    picked = random.Random(seed).sample(states[:-1], k - 1)
    return [*picked, states[-1]]


class BoardApp(App):
    """A bare app holding one board."""

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board

    def compose(self) -> ComposeResult:
        yield self.board


def drawn_text(board: Widget) -> str:
    """Everything the board draws as plain text: statics, border titles, button labels."""
    parts = []
    for widget in board.query("*"):
        if widget.border_title:
            parts.append(str(widget.border_title))
        if isinstance(widget, Button):
            parts.append(str(widget.label))
        elif isinstance(widget, Static):
            parts.append(str(widget.render()))
    return "\n".join(parts)


async def draw(pilot: Pilot, board: Board, view: BoardView) -> str:
    board.show(view)
    await pilot.pause()
    await pilot.pause()
    return drawn_text(board)


# --- grids ---------------------------------------------------------------------------------
def test_tictactoe_marks_are_the_state_grid_and_the_move_history() -> None:
    for state in played("tictactoe", range(6)):
        layout = tictactoe_layout(view_of(state, 0))
        assert layout.marks == [m for row in state.grid() for m in row]  # type: ignore[attr-defined]
        # The grid agrees with the history: X plays the even moves, O the odd ones.
        expected = {a: "XO"[i % 2] for i, a in enumerate(state.history())}
        assert layout.marks == [expected.get(a, "") for a in layout.actions]


def test_connect_four_marks_are_the_state_grid_with_discs_stacked_from_the_bottom() -> None:
    for state in played("connect_four", range(4)):
        layout = connect_four_layout(view_of(state, 1))
        grid = state.grid()  # type: ignore[attr-defined]
        assert (layout.rows, layout.columns) == (6, 7)
        assert layout.marks == [m for row in grid for m in row]
        for column in range(7):
            label = str(column + 1)
            drops = ["XO"[i % 2] for i, a in enumerate(state.history()) if a == label]
            bottom_up = [grid[r][column] for r in range(5, -1, -1)]
            assert bottom_up == drops + [""] * (6 - len(drops))


async def test_grid_board_cells_show_the_state_grid() -> None:
    for game_id in ("tictactoe", "connect_four"):
        states = sample(played(game_id, range(2)), 4)
        board = make_board(game_id)
        async with BoardApp(board).run_test() as pilot:
            for state in states:
                await draw(pilot, board, view_of(state, 0))
                cells = list(board.query(Cell))
                marks = [m for row in state.grid() for m in row]  # type: ignore[attr-defined]
                assert len(cells) == len(marks)
                for cell, mark in zip(cells, marks, strict=True):
                    shown = str(cell.render())
                    assert shown == mark if mark else shown not in ("X", "O")


# --- chess ---------------------------------------------------------------------------------
def test_chess_board_text_has_every_piece_of_the_position_on_its_square() -> None:
    for state in sample(played("chess", range(1), max_moves=60), 12):
        position: chess.Board = state.board  # type: ignore[attr-defined]
        for black in (False, True):
            lines = board_text(state.fen(), black).plain.splitlines()  # type: ignore[attr-defined]
            ranks = range(8) if black else range(7, -1, -1)
            files = range(7, -1, -1) if black else range(8)
            for line, rank in zip(lines, ranks, strict=False):
                assert line.startswith(f"{rank + 1} ")
                for i, file in enumerate(files):
                    piece = position.piece_at(chess.square(file, rank))
                    glyph = PIECES[piece.symbol()] if piece else " "
                    assert line[3 + 3 * i] == glyph


async def test_chess_board_draws_the_fen_and_the_score_sheet() -> None:
    states = sample(played("chess", range(1), max_moves=40), 4)
    board = make_board("chess")
    async with BoardApp(board).run_test(size=(100, 30)) as pilot:
        for state in states:
            for seat in (0, 1):
                await draw(pilot, board, view_of(state, seat))
                squares = str(board.query_one("#squares", Static).render())
                assert squares == board_text(state.fen(), seat == 1).plain  # type: ignore[attr-defined]
                if state.history():
                    history = str(board.query_one("#history", Static).render())
                    assert history == state.numbered_history()  # type: ignore[attr-defined]


# --- liar's dice -----------------------------------------------------------------------------
async def test_dice_board_shows_the_viewers_dice_and_the_bid() -> None:
    states = sample(played("liars_dice", range(3), dice=3), 6)
    board = make_board("liars_dice")
    async with BoardApp(board).run_test(size=(100, 30)) as pilot:
        for state in states:
            for seat in (0, 1):
                await draw(pilot, board, view_of(state, seat))
                dice = str(board.query_one("#dice", Static).render())
                own = state.own_dice(seat)  # type: ignore[attr-defined]
                # The roll outcomes in the history are the same dice, seat by seat.
                rolls = [int(a.split()[-1]) for a in state.history()[seat * 3 : seat * 3 + 3]]
                assert own == rolls
                assert dice == "   ".join(die(str(d)) for d in own)
                bid = str(board.query_one("#bid", Static).render())
                assert bid == bid_line(state)  # type: ignore[arg-type]
                current = state.current_bid()  # type: ignore[attr-defined]
                if current is not None:
                    assert f"bid {current[0]} {current[1]}" in bid
                if state.is_terminal():
                    end = str(board.query_one("#end", Static).render())
                    for s in (0, 1):
                        shown = " ".join(str(d) for d in state.own_dice(s))  # type: ignore[attr-defined]
                        assert f"player {s}: {shown}" in end


# --- poker -----------------------------------------------------------------------------------
async def test_poker_board_cards_and_pot_come_from_the_state() -> None:
    for game_id in ("kuhn_poker", "leduc_poker"):
        states = sample(played(game_id, range(4)), 6)
        board = make_board(game_id)
        async with BoardApp(board).run_test(size=(100, 30)) as pilot:
            for state in states:
                for seat in (0, 1):
                    await draw(pilot, board, view_of(state, seat))
                    boxes = {str(c.border_title): str(c.render()) for c in board.query(".card")}
                    dealt = state.history()[seat].removeprefix("deal ")
                    assert state.private_card(seat) == dealt  # type: ignore[attr-defined]
                    assert boxes["Your card"] == card_face(dealt)
                    public = state.public_card()  # type: ignore[attr-defined]
                    assert boxes.get("Public card") == (card_face(public) if public else None)
                    info = str(board.query_one("#info", Static).render())
                    mine, theirs = state.contributions()  # type: ignore[attr-defined]
                    assert f"you have put in {(mine, theirs)[seat]}" in info
                    assert f"your opponent {(mine, theirs)[1 - seat]}" in info


# --- negotiation and spy ------------------------------------------------------------------
async def test_negotiation_board_shows_own_goods_and_the_conversation() -> None:
    states = sample(played("negotiation", range(2)), 4)
    board = make_board("negotiation")
    async with BoardApp(board).run_test(size=(110, 40)) as pilot:
        for state in states:
            text = await draw(pilot, board, view_of(state, 0))
            held, values = state.inventory(0), state.unit_values(0)  # type: ignore[attr-defined]
            for r, name in enumerate(RESOURCES):
                assert f"{name}: {held[r]} units, value {values[r]} each" in text
            for _, move, _ in state.conversation():  # type: ignore[attr-defined]
                assert move in text


async def test_spy_board_shows_own_word_and_the_clues() -> None:
    states = sample(played("spy", range(2)), 4)
    board = make_board("spy")
    async with BoardApp(board).run_test(size=(110, 40)) as pilot:
        for state in states:
            text = await draw(pilot, board, view_of(state, 1))
            assert f"Your word: {state.word(1)}" in text  # type: ignore[attr-defined]
            for seat, clue in state.clues_given():  # type: ignore[attr-defined]
                assert f"player {seat}" in text and clue in text


# --- the observation's wording does not matter ------------------------------------------------
@pytest.mark.parametrize("game_id", ["tictactoe", "connect_four", "chess", *HIDDEN])
async def test_board_is_unaffected_by_the_observation_text(
    game_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"max_moves": 30} if game_id == "chess" else {}
    states = sample(played(game_id, range(1), **params), 3)
    board = make_board(game_id)
    async with BoardApp(board).run_test(size=(110, 40)) as pilot:
        before = [await draw(pilot, board, view_of(s, 0)) for s in states]
        monkeypatch.setattr(type(states[0]), "observation", lambda self, player: GARBAGE)
        assert states[0].observation(0) == GARBAGE
        after = [await draw(pilot, board, view_of(s, 0)) for s in states]
    assert after == before
    assert not any(word in "\n".join(after) for word in ("banana", "Ace", "bid 9 9"))


# --- hidden information ------------------------------------------------------------------------
@pytest.mark.parametrize("game_id", HIDDEN)
async def test_board_for_seat_0_is_the_same_whatever_the_others_secrets(game_id: str) -> None:
    """The leak test of the conformance suite, on the drawn board: states seat 0 cannot tell
    apart (the other seats' cards, dice, goods or words changed) draw the same board."""
    params = {"dice": 2} if game_id == "liars_dice" else {}
    states = [s for s in played(game_id, range(3), **params) if not s.is_terminal()]
    pairs = [(s, o) for s in sample(states, 5) for o in s.indistinguishable_states(0)[:2]]
    assert pairs
    board = make_board(game_id)
    async with BoardApp(board).run_test(size=(110, 40)) as pilot:
        for state, other in pairs:
            assert await draw(pilot, board, view_of(other, 0)) == await draw(
                pilot, board, view_of(state, 0)
            )


def dealt(game_id: str, deals: list[str]) -> State:
    state = games.make(game_id).new_initial_state()
    for action in deals:
        state.apply(action)
    return state


async def test_poker_boards_never_show_the_opponents_card_before_a_showdown() -> None:
    for game_id, deals, secret in (
        ("kuhn_poker", ["deal J", "deal K"], "K"),
        ("leduc_poker", ["deal Js", "deal Kh"], "K"),
    ):
        state = dealt(game_id, deals)
        board = make_board(game_id)
        async with BoardApp(board).run_test(size=(100, 30)) as pilot:
            while not state.is_terminal():
                if state.is_chance_node():  # the public card: never the opponent's king
                    state.apply("public Qs")
                    continue
                text = await draw(pilot, board, view_of(state, 0))
                assert secret not in text
                state.apply("fold" if "fold" in state.legal_actions() else "check")
            text = await draw(pilot, board, view_of(state, 0))
            assert state.showdown() == (secret in text)  # type: ignore[attr-defined]


async def test_dice_board_never_shows_the_other_seats_dice_before_the_end() -> None:
    state = dealt("liars_dice", ["roll 2", "roll 5"])
    board = make_board("liars_dice")
    async with BoardApp(board).run_test(size=(100, 30)) as pilot:
        await draw(pilot, board, view_of(state, 0))
        shown = str(board.query_one("#dice", Static).render())
        assert "5" not in shown and "⚄" not in shown and "2" in shown
        state.apply("bid 1 3")
        state.apply("liar")
        await draw(pilot, board, view_of(state, 0))
        assert "player 1: 5" in str(board.query_one("#end", Static).render())


async def test_spy_and_negotiation_boards_hide_the_other_seats_secrets() -> None:
    spy = next(s for s in random_states("spy", 3) if s.current_player() == 0)
    words = spy.words  # type: ignore[attr-defined]
    others = {w for w in words if w != words[0]}
    negotiation = next(s for s in random_states("negotiation", 3) if s.current_player() == 0)
    async with BoardApp(make_board("spy")).run_test(size=(110, 40)) as pilot:
        text = await draw(pilot, pilot.app.board, view_of(spy, 0))  # type: ignore[attr-defined]
        assert others and not any(w in text for w in others)
    async with BoardApp(make_board("negotiation")).run_test(size=(110, 40)) as pilot:
        text = await draw(pilot, pilot.app.board, view_of(negotiation, 0))  # type: ignore[attr-defined]
        theirs = negotiation.unit_values(1)  # type: ignore[attr-defined]
        assert "Opponent's final goods" not in text
        assert not any(
            f"value {v} each" in text for v in theirs if v not in negotiation.unit_values(0)
        )  # type: ignore[attr-defined]
