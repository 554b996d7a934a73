"""The Play section: a person against bots and a scripted model, through Pilot, on a real
database file. Every match here is played by the real match loop and stored by the real store."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList, Select

from arena.backends.scripted import ScriptedBackend
from arena.players.bot import BotPlayer
from arena.players.llm import LLMPlayer
from arena.specs import OpenAISpec
from arena.store import open_db
from arena.store.players import add_player
from arena.store.queries import match_transcript
from arena.tui.app import make_app
from arena.tui.screens.play import PlayScreen, eligible_opponents
from arena.tui.widgets.boards.dice import LiarsDiceBoard
from arena.tui.widgets.boards.grid import Cell, GridBoard
from arena.tui.widgets.boards.reasoning import ReasoningPane

WIDE = (110, 34)


async def wait_until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def my_turn(screen: PlayScreen) -> bool:
    m = screen.match
    view = screen.board.view if screen.board is not None else None
    return m is not None and m.human.pending is not None and view is not None and view.my_turn


def over(screen: PlayScreen) -> bool:
    return screen.last_match_id is not None


async def next_turn(pilot: Pilot, screen: PlayScreen) -> bool:
    """Wait for the person's turn; False when the match ended instead."""
    await wait_until(pilot, lambda: my_turn(screen) or over(screen))
    if over(screen):
        return False
    await pilot.pause()  # let the board draw its controls
    return True


async def open_play(pilot: Pilot) -> PlayScreen:
    await pilot.press("g")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, PlayScreen)
    return screen


def stored(db_path: Path, match_id: int) -> tuple[dict, set[str]]:
    """The stored match and the names rated in its game."""
    db = open_db(db_path)
    try:
        match = match_transcript(db, match_id)
        rated = {
            r[0]
            for r in db.conn.execute(
                "SELECT p.name FROM ratings r JOIN players p ON p.id = r.player_id "
                "WHERE r.scope = ? AND r.games > 0",
                (match["game"],),
            )
        }
    finally:
        db.close()
    return match, rated


# --- tictactoe ------------------------------------------------------------------------
async def test_full_tictactoe_by_keyboard_is_stored_and_rated(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        assert screen.query_one("#game", Select).value == "tictactoe"
        assert screen.query_one("#opponent", Select).value == "random"
        for _ in range(4):  # game, opponent, seat, name -> Start
            await pilot.press("tab")
        assert app.focused is screen.query_one("#start", Button)
        await pilot.press("enter")
        played = 0
        while await next_turn(pilot, screen):
            board = screen.board
            assert isinstance(board, GridBoard) and app.focused is board
            target = board.layout_info.actions.index(board.view.legal[-1])
            row, col = divmod(board.cursor, 3)
            t_row, t_col = divmod(target, 3)
            await pilot.press(*(["down"] * ((t_row - row) % 3)), *(["right"] * ((t_col - col) % 3)))
            assert board.cursor == target
            history = len(screen.match.state.history())
            await pilot.press("enter")
            await wait_until(
                pilot, lambda h=history: over(screen) or len(screen.match.state.history()) > h
            )
            played += 1
        status = str(screen.query_one("#status").render())
        assert f"match #{screen.last_match_id}" in status and "rated" in status
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished" and match["rated"] == 1
    assert [s["player"] for s in match["seats"]] == ["you", "random"]
    mine = [m for m in match["moves"] if m["seat"] == 0]
    assert len(mine) == played and all(m["legal"] for m in mine)
    assert {"you", "random"} <= rated


async def test_play_screen_says_you_won_or_lost_as_x_never_returns(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("tictactoe", BotPlayer("random"), 0, "you", seed=3)
        status = screen.query_one("#status")
        assert "you as X against random" in str(status.render())
        while await next_turn(pilot, screen):
            history = len(screen.match.state.history())
            assert await pilot.click(screen.board.cell_at(screen.board.view.legal[0]))
            await wait_until(
                pilot, lambda h=history: over(screen) or len(screen.match.state.history()) > h
            )
        await wait_until(pilot, lambda: "Stored as match" in str(status.render()))
        shown = str(status.render())
    result = screen.last_result
    expected = {1.0: "You won as X.", -1.0: "You lost as X.", 0.0: "Draw."}[result.returns[0]]
    assert shown.startswith(expected), shown
    assert "returns" not in shown and "seat" not in shown


async def test_full_tictactoe_by_mouse_is_stored_and_rated(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.query_one("#seat", Select).value = 1  # the bot opens
        await pilot.click("#start")
        clicks = []
        while await next_turn(pilot, screen):
            action = screen.board.view.legal[0]
            history = len(screen.match.state.history())
            assert await pilot.click(screen.board.cell_at(action))
            await wait_until(
                pilot, lambda h=history: over(screen) or len(screen.match.state.history()) > h
            )
            clicks.append(action)
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished"
    assert [m["action"] for m in match["moves"] if m["seat"] == 1] == clicks
    assert {"you", "random"} <= rated


async def test_a_taken_cell_cannot_be_played(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("tictactoe", BotPlayer("random"), 0, "you", seed=4)
        assert await next_turn(pilot, screen)
        await pilot.click(screen.board.cell_at("b2"))
        assert await next_turn(pilot, screen)
        board = screen.board
        taken = [c for c in board.query(Cell) if c.action in screen.match.state.history()]
        assert {c.action for c in taken} >= {"b2"} and all(c.disabled for c in taken)
        turn = screen.match.human.pending
        history = list(screen.match.state.history())
        for cell in taken:
            await pilot.click(cell)
            await pilot.press("enter")  # the cursor sits on the taken cell now
            await pilot.pause(0.05)
        assert board.choose("b2") is not None  # refused by the board itself
        assert screen.match.human.pending is turn  # still waiting for the same turn
        assert screen.match.state.history() == history
        await pilot.click(board.cell_at(board.view.legal[0]))
        await wait_until(pilot, lambda: len(screen.match.state.history()) > len(history))
        await pilot.press("x")  # stop: stored as aborted, not rated
        await wait_until(pilot, lambda: over(screen))
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "aborted" and match["rated"] == 0
    assert [m["action"] for m in match["moves"] if m["seat"] == 0][0] == "b2"


async def test_tictactoe_at_80x24_composes_and_takes_a_move(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_play(pilot)
        for _ in range(4):
            await pilot.press("tab")
        await pilot.press("enter")
        assert await next_turn(pilot, screen)
        for widget in [*screen.board.query(Cell), screen.query_one("#status")]:
            region = widget.region
            assert region.width > 0 and region.height > 0
            assert region.right <= 80 and region.bottom <= 24
        first = screen.board.layout_info.actions[screen.board.cursor]
        await pilot.press("enter")
        await wait_until(pilot, lambda: first in screen.match.state.history())


# --- the opponent's reasoning -------------------------------------------------------------
async def test_a_models_markup_and_escapes_show_literally_and_h_toggles_them(
    empty_db: Path,
) -> None:
    db = open_db(empty_db)
    add_player(
        db, OpenAISpec(name="scripted", model="m", base_url="http://127.0.0.1:9", api_key_env=None)
    )
    db.close()
    replies = [
        f"Hmm [bold red]x[/] \x1b[2J the corner.\nFinal answer: {cell}"
        for cell in ("b2", "a1", "c3")
    ]
    model = LLMPlayer("scripted", ScriptedBackend(replies))
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        assert "scripted" in eligible_opponents(app.db, "tictactoe")
        screen.start_match("tictactoe", model, 1, "you", seed=0)
        assert await next_turn(pilot, screen)
        pane = screen.query_one(ReasoningPane)
        await wait_until(pilot, lambda: "Final answer: b2" in pane.rendered_text())
        shown = pane.rendered_text()
        assert "[bold red]x[/]" in shown and "\\x1b[2J" in shown and "\x1b" not in shown
        text = pane.query_one("#reasoning-text")
        assert not any("red" in str(span.style) for span in text.render().spans)
        assert pane.display
        await pilot.press("h")
        assert not pane.display
        await pilot.press("h")
        assert pane.display
        for move in ("a3", "c2"):  # stay off the model's diagonal: it wins
            if not await next_turn(pilot, screen):
                break
            await pilot.click(screen.board.cell_at(move))
        await wait_until(pilot, lambda: over(screen))
        assert "You lost" in str(screen.query_one("#status").render())
    match, rated = stored(empty_db, screen.last_match_id)
    replies_stored = [m["reply"] for m in match["moves"] if m["seat"] == 0]
    assert replies_stored == replies
    assert {"you", "scripted"} <= rated


async def test_reply_tokens_are_coalesced_into_few_redraws(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        pane = screen.query_one(ReasoningPane)
        pane.begin("model")
        await pilot.pause(0.2)
        before = pane.updates
        pieces = [f"tok{i} " for i in range(200)]
        for piece in pieces:
            pane.feed(piece)
            await asyncio.sleep(0.001)
        await pilot.pause(0.2)
        assert pane.reply == "".join(pieces)
        assert pane.rendered_text() == "".join(pieces)
        assert 1 <= pane.updates - before <= 20  # a timer's worth, not one per token


# --- other boards ----------------------------------------------------------------------
async def test_kuhn_poker_played_to_the_end_with_buttons(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("kuhn_poker", BotPlayer("cfr"), 0, "you", seed=5)
        pressed = []
        while await next_turn(pilot, screen):
            view = screen.board.view
            buttons = list(screen.board.query(Button))
            assert sorted(getattr(b, "move", "") for b in buttons) == sorted(view.legal)
            assert "Your card" in str(screen.board.query_one(".card").border_title)
            choice = buttons[-1]  # bet / call when offered: the hand reaches a showdown
            pressed.append(choice.move)
            history = len(screen.match.state.history())
            await pilot.click(choice)
            await wait_until(
                pilot, lambda h=history: over(screen) or len(screen.match.state.history()) > h
            )
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished" and match["rated"] == 1
    assert [m["action"] for m in match["moves"] if m["seat"] == 0] == pressed
    assert {"you", "cfr"} <= rated


async def test_liars_dice_bid_picker_offers_only_legal_bids_and_plays_out(
    empty_db: Path,
) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("liars_dice", BotPlayer("heuristic"), 0, "you", seed=2)
        turns = 0
        while await next_turn(pilot, screen):
            board = screen.board
            assert isinstance(board, LiarsDiceBoard)
            legal = board.view.legal
            bids = [tuple(map(int, a.split()[1:])) for a in legal if a.startswith("bid")]
            if turns == 0:
                quantity = board.query_one("#quantity", Select)
                assert [v for _, v in quantity._options] == sorted({q for q, _ in bids})
                top = max(q for q, _ in bids)
                quantity.focus()
                await pilot.press("enter", "end", "enter")  # open, last quantity, pick it
                await pilot.pause()
                assert quantity.value == top
                face = board.query_one("#face", Select)
                assert [v for _, v in face._options] == sorted(f for q, f in bids if q == top)
                quantity.value = min(q for q, _ in bids)
                await pilot.pause()
            history = len(screen.match.state.history())
            if "liar" in legal and turns > 0:
                await pilot.click(board.query_one("#liar", Button))
            else:
                assert board.current_bid() in legal
                await pilot.click(board.query_one("#place-bid", Button))
            await wait_until(
                pilot, lambda h=history: over(screen) or len(screen.match.state.history()) > h
            )
            turns += 1
        assert "Stored as match" in str(screen.query_one("#status").render())
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished" and turns >= 1
    assert {"you", "heuristic"} <= rated


async def test_chess_san_box_submits_only_legal_moves(empty_db: Path) -> None:
    pytest.importorskip("chess")
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("chess", BotPlayer("random"), 0, "you", seed=1)
        assert await next_turn(pilot, screen)
        board = screen.board
        assert "♔" in str(board.query_one("#squares").render())
        san = board.query_one("#san", Input)
        assert app.focused is san
        await pilot.press(*"Ke2", "enter")
        await pilot.pause()
        assert "Not accepted" in str(board.query_one("#error").render())
        assert screen.match.state.history() == []
        san.value = "e2e4"  # long algebraic parses to the legal e4
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.match.state.history()[:1] == ["e4"])
        assert await next_turn(pilot, screen)
        moves = screen.board.query_one("#legal-moves", OptionList)
        legal = screen.board.view.legal
        moves.focus()
        await pilot.press("down", "enter")  # the second legal move from the picker
        await wait_until(pilot, lambda: len(screen.match.state.history()) >= 3)
        assert screen.match.state.history()[2] == legal[1]
        assert await next_turn(pilot, screen)
        await pilot.press("x", "f3")  # x is typed in the SAN box; f3 stops from anywhere
        await wait_until(pilot, lambda: over(screen))
    match, _ = stored(empty_db, screen.last_match_id)
    assert match["status"] == "aborted" and [m["action"] for m in match["moves"]][0] == "e4"


async def test_spy_refuses_a_clue_with_your_word_and_takes_a_fair_one(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("spy", BotPlayer("random"), 0, "you", seed=3)
        assert len(screen.match.players) == 3  # a third, distinct bot fills the last seat
        assert len({p.name for p in screen.match.players}) == 3
        assert await next_turn(pilot, screen)
        word = re.search(r"Your secret word: (\w+)", screen.board.view.observation()).group(1)
        clue = screen.board.query_one("#clue", Input)
        clue.value = word
        await pilot.press("enter")
        await pilot.pause()
        assert "Not accepted" in str(screen.board.query_one("#error").render())
        assert screen.match.state.history()[-1:] != [f"clue: {word}"]
        clue.value = "zzz plain words"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "clue: zzz plain words" in screen.match.state.history())
        while await next_turn(pilot, screen):
            view = screen.board.view
            if view.legal[0].startswith("vote:"):
                votes = [b for b in screen.board.query(Button) if hasattr(b, "move")]
                assert sorted(b.move for b in votes) == sorted(view.legal)
                await pilot.click(votes[0])
            else:
                screen.board.query_one("#clue", Input).value = "more plain words"
                screen.board.query_one("#clue", Input).focus()
                await pilot.press("enter")
            await pilot.pause(0.05)
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished" and match["rated"] == 1
    assert "you" in rated


async def test_negotiation_sends_chat_and_refuses_an_impossible_offer(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("negotiation", BotPlayer("heuristic"), 0, "you", seed=1)
        assert await next_turn(pilot, screen)
        board = screen.board
        chat = board.query_one("#chat", Input)
        assert app.focused is chat
        deals = list(screen.match.state.history())  # the chance moves dealing the goods
        await pilot.press(*"[Offer: 100 Wheat -> 1 Wood]", "enter")
        await pilot.pause()
        assert "Not sent" in str(board.query_one("#error").render())
        assert screen.match.state.history() == deals
        chat.value = "Hello there."
        board.query_one("#offer", Select).value = board.view.legal[-1]
        offer = board.view.legal[-1]
        await pilot.click(board.query_one("#send", Button))
        await wait_until(pilot, lambda: len(screen.match.state.history()) > len(deals))
        assert screen.match.state.history()[len(deals)] == f"Hello there. {offer}"
        await pilot.press("f3")  # stop (x would be typed into the chat box)
        await wait_until(pilot, lambda: over(screen))


async def test_generic_board_plays_prisoners_dilemma_from_the_list(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.start_match("prisoners_dilemma", BotPlayer("tit_for_tat"), 0, "you", seed=1)
        rounds = 0
        while await next_turn(pilot, screen):
            options = screen.board.query_one("#legal-actions", OptionList)
            assert [str(options.get_option_at_index(i).prompt) for i in range(2)] == list(
                screen.board.view.legal
            )
            options.focus()
            history = len(screen.match.state.history())
            await pilot.press("enter")  # the highlighted first action
            await wait_until(
                pilot, lambda h=history: over(screen) or len(screen.match.state.history()) > h
            )
            rounds += 1
    match, rated = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished" and rounds == 5
    assert {"you", "tit_for_tat"} <= rated


# --- the form -------------------------------------------------------------------------
async def test_form_lists_only_players_that_can_play_the_game(empty_db: Path) -> None:
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        names = {v for _, v in screen.query_one("#opponent", Select)._options}
        assert {"random", "minimax"} <= names and "cfr" not in names
        screen.query_one("#game", Select).value = "kuhn_poker"
        await pilot.pause()
        names = {v for _, v in screen.query_one("#opponent", Select)._options}
        assert {"random", "cfr"} <= names and "minimax" not in names
        screen.query_one("#opponent", Select).value = "cfr"
        screen.query_one("#name", Input).value = "minimax"  # a bot's name is not a person's
        await pilot.click("#start")
        await pilot.pause()
        assert "Cannot start" in str(screen.query_one("#status").render())
        assert screen.match is None
        await pilot.press("l")  # a model registered meanwhile shows up on return
        add_player(app.db, OpenAISpec(name="late", model="m", base_url="http://127.0.0.1:9"))
        await pilot.press("g")
        await pilot.pause()
        names = {v for _, v in screen.query_one("#opponent", Select)._options}
        assert "late" in names and screen.query_one("#opponent", Select).value == "cfr"


async def test_a_tiny_llamacpp_model_from_the_form_streams_its_reply(
    empty_db: Path, tiny_gguf: Path
) -> None:
    from arena.specs import LlamaCppSpec, SamplingSpec
    from arena.tui.safe import visible

    db = open_db(empty_db)
    add_player(
        db, LlamaCppSpec(name="tiny", path=str(tiny_gguf), sampling=SamplingSpec(max_tokens=12))
    )
    db.close()
    app = make_app(empty_db, seed_first_run=False)
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_play(pilot)
        screen.query_one("#opponent", Select).value = "tiny"
        screen.query_one("#seat", Select).value = 1  # the model opens
        await pilot.click("#start")
        pane = screen.query_one(ReasoningPane)
        while await next_turn(pilot, screen):
            await pilot.click(screen.board.cell_at(screen.board.view.legal[0]))
        await pilot.pause(0.2)
        shown = pane.rendered_text()
    match, _ = stored(empty_db, screen.last_match_id)
    assert match["status"] == "finished"
    model_replies = [m["reply"] for m in match["moves"] if m["seat"] == 0 and m["reply"]]
    assert model_replies and shown == visible(model_replies[-1])
