"""Play: a person against any player. Pick a game, an opponent, a seat and your name, then play
on the game's board. The match runs in an async worker through the same core as everything else
(`play_recorded`): it is stored and rated like any other. The opponent's reply streams into a
side pane (`h` shows or hides it)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Select, Static

from arena.match import (
    AttemptMade,
    MatchEvent,
    MatchResult,
    MovePlayed,
    ReplyText,
    TurnStarted,
)
from arena.outcomes import capitalize_first, outcome
from arena.players.human import HumanPlayer
from arena.tui.safe import literal, tell
from arena.tui.widgets.boards import Board, BoardView, MoveChosen, make_board
from arena.tui.widgets.boards.reasoning import ReasoningPane
from arena.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from sqlite_utils import Database

    from arena.players.base import Player, Reply, Turn
    from arena.players.factory import BackendPool
    from games import Game, State

MODEL_KINDS = ("llamacpp", "transformers", "openai", "vllm")


def playable_games() -> list[str]:
    """Game ids whose optional requirements are installed."""
    import importlib.util

    import games

    return [
        gid
        for gid in games.game_ids()
        if all(importlib.util.find_spec(m) for m in games.game_class(gid).REQUIRES)
    ]


def bot_names(game_id: str) -> list[str]:
    """The built-in bots that can play `game_id`: random and the game's own."""
    import games

    return ["random", *sorted(b for b in games.game_class(game_id).BOTS if b != "random")]


def eligible_opponents(db: Database, game_id: str) -> list[str]:
    """Registered players that can play `game_id`: its bots and every model (not people)."""
    from arena.store.players import list_players

    bots = set(bot_names(game_id))
    names = []
    for row in list_players(db):
        if row.kind == "bot" and (row.spec.get("bot") or row.name) in bots:
            names.append(row.name)
        elif row.kind in MODEL_KINDS:
            names.append(row.name)
    return names


def make_game(game_id: str) -> Game:
    """The game with its default parameters, at the fewest seats it allows (one person)."""
    import games

    cls = games.game_class(game_id)
    if "num_players" in cls.PARAMS and cls.PARAMS["num_players"] != cls.min_players:
        return games.make(game_id, num_players=max(2, cls.min_players))
    return games.make(game_id)


def extra_opponents(game: Game, count: int, taken: Sequence[str]) -> list[Player]:
    """Distinct built-in bots for seats beyond the chosen opponent (distinct players keep the
    match rated)."""
    from arena.players.bot import BotPlayer

    free = [b for b in bot_names(game.id) if b not in taken]
    if len(free) < count:
        raise ValueError(f"{game.id} needs {count} more bots than it has")
    return [BotPlayer(name) for name in free[:count]]


class ScreenHuman(HumanPlayer):
    """A person at this screen: says when a turn is waiting for them."""

    def __init__(self, name: str, on_turn: Callable[[], None]) -> None:
        super().__init__(name)
        self.on_turn = on_turn

    async def act(self, turn: Turn) -> Reply:
        # Runs once `act` has set `pending` and waits for the answer.
        asyncio.get_running_loop().call_soon(self.on_turn)
        return await super().act(turn)


@dataclass
class LiveMatch:
    """The match being played: who sits where, and the position as the person sees it."""

    game: Game
    human: ScreenHuman
    seat: int
    players: list[Player]
    state: State  # kept in step with the played moves (observations are drawn from it)
    stop: asyncio.Event
    pool: BackendPool | None
    board: Board


class PlayScreen(Screen):
    """Pick a game and an opponent, then play it on the game's board."""

    DEFAULT_CSS = """
    PlayScreen #form { height: 3; }
    PlayScreen #game, PlayScreen #opponent { width: 1fr; }
    PlayScreen #seat { width: 14; }
    PlayScreen #name { width: 16; }
    PlayScreen #start { min-width: 9; width: auto; }
    PlayScreen #main { height: 1fr; }
    PlayScreen #board-area { width: 1fr; height: 1fr; }
    PlayScreen #intro { color: $text-muted; padding: 1 2; }
    PlayScreen #status { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        Binding(
            "h",
            "toggle_reasoning",
            "Reasoning",
            id="play.reasoning",
            tooltip="Show or hide the opponent's reasoning",
        ),
        Binding(
            "x",
            "stop_match",
            "Stop",
            id="play.stop",
            tooltip="Stop the match (stored as aborted, not rated)",
        ),
        # The same from anywhere, a text box included (where h and x are typed).
        Binding(
            "f2",
            "toggle_reasoning",
            "Reasoning",
            show=False,
            id="play.reasoning_anywhere",
            tooltip="Show or hide the opponent's reasoning (also in a text box)",
        ),
        Binding(
            "f3",
            "stop_match",
            "Stop",
            show=False,
            id="play.stop_anywhere",
            tooltip="Stop the match (also in a text box)",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.match: LiveMatch | None = None
        self.board: Board | None = None  # the board of the current or last match
        self._boards = 0
        self.last_match_id: int | None = None
        self.last_result: MatchResult | None = None

    # --- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="form"):
            yield Select([], prompt="game", allow_blank=True, id="game")
            yield Select([], prompt="opponent", allow_blank=True, id="opponent")
            yield Select([], prompt="seat", allow_blank=True, id="seat")
            yield Input("you", placeholder="your name", id="name")
            yield Button("Start", id="start", variant="primary")
        with Horizontal(id="main"):
            with Container(id="board-area"):
                yield Static(
                    "Pick a game, an opponent and a seat, then Start.\n"
                    "Your game is stored and rated like any other.",
                    id="intro",
                )
            yield ReasoningPane(id="reasoning")
        yield Static("", id="status")
        yield KeyBar()

    def on_mount(self) -> None:
        games_select = self.query_one("#game", Select)
        ids = playable_games()
        games_select.set_options([(g, g) for g in ids])
        if ids:
            games_select.value = "tictactoe" if "tictactoe" in ids else ids[0]

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "game" and event.value is not Select.NULL:
            self._fill_choices(str(event.value))

    def _fill_choices(self, game_id: str) -> None:
        """Opponents that can play `game_id` and its seats."""
        names = eligible_opponents(self.app.db, game_id)
        opponent = self.query_one("#opponent", Select)
        chosen = opponent.value
        opponent.set_options([(literal(n), n) for n in names])
        if chosen in names:
            opponent.value = chosen
        elif names:
            opponent.value = "random" if "random" in names else names[0]
        names = make_game(game_id).seat_names()
        seat = self.query_one("#seat", Select)
        chosen = seat.value
        seat.set_options([(capitalize_first(n), i) for i, n in enumerate(names)])
        seat.value = chosen if chosen in range(len(names)) else 0

    def on_screen_resume(self) -> None:
        # Players added in the Players section since: offer them.
        game = self.query_one("#game", Select).value
        if self.match is None and game is not Select.NULL:
            self._fill_choices(str(game))

    # --- starting ----------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            event.stop()
            self.start_from_form()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "name":
            event.stop()
            self.start_from_form()

    def start_from_form(self) -> None:
        """Start the match the form describes (errors are shown in the status line)."""
        from arena.players.factory import BackendPool
        from arena.sessions import players_by_name

        if self.match is not None:
            self._status(Text("A match is running: stop it first (x)."))
            return
        game_id = self.query_one("#game", Select).value
        opponent = self.query_one("#opponent", Select).value
        seat = self.query_one("#seat", Select).value
        name = self.query_one("#name", Input).value.strip() or "you"
        if Select.NULL in (game_id, opponent, seat):
            self._status(Text("Pick a game, an opponent and a seat first."))
            return
        pool = BackendPool()
        try:
            player = players_by_name(self.app.db, [str(opponent)], pool)[0]
            self.start_match(
                str(game_id), player, int(seat), name, random.randrange(2**31), pool=pool
            )
        except Exception as exc:  # a bad spec, a taken name: say so, keep the app up
            self.run_worker(pool.aclose(), group="cleanup")
            self._status(literal(f"Cannot start: {exc}", style="bold"))

    def start_match(
        self,
        game_id: str,
        opponent: Player,
        seat: int,
        human_name: str,
        seed: int = 0,
        *,
        pool: BackendPool | None = None,
    ) -> None:
        """Play `game_id` from `seat` as `human_name` against `opponent` (any player; seats
        beyond two get distinct built-in bots). `pool` owns the opponent's backends and is
        closed when the match ends."""
        from arena.sessions import ensure_human

        if self.match is not None:
            raise RuntimeError("a match is already running")
        game = make_game(game_id)
        if not 0 <= seat < game.num_players:
            raise ValueError(f"{game_id} has seats 0 to {game.num_players - 1}")
        ensure_human(self.app.db, human_name)
        taken = [opponent.name, human_name]
        others = [opponent, *extra_opponents(game, game.num_players - 2, taken)]
        human = ScreenHuman(human_name, self._your_turn)
        players = list(others)
        players.insert(seat, human)
        self._boards += 1
        board = make_board(game_id, id=f"board-{self._boards}")
        state = game.new_initial_state()
        board.show(BoardView(game, state, seat))
        self.match = LiveMatch(game, human, seat, players, state, asyncio.Event(), pool, board)
        self.board = board
        self.last_match_id = None
        self.last_result = None
        area = self.query_one("#board-area", Container)
        area.remove_children()
        area.mount(board)  # the board keeps views shown before it is mounted
        self._show_in_form(game_id, opponent.name, seat, human_name)
        pane = self.query_one(ReasoningPane)
        pane.begin(opponent.name)
        vs = ", ".join(p.name for p in others)
        mine = game.seat_names()[seat]
        self._status(literal(f"{game_id}: {human_name} as {mine} against {vs}"))
        self.run_worker(self._play(self.match, seed), group="match", exit_on_error=False)
        self.refresh_bindings()

    async def _play(self, match: LiveMatch, seed: int) -> None:
        from arena.sessions import play_recorded

        try:
            match_id, result = await play_recorded(
                self.app.db,
                match.game,
                match.players,
                seed,
                on_event=self._on_event,
                stop=match.stop,
                stream=True,
            )
        except Exception as exc:  # nothing stored: say why
            self._status(literal(f"The match could not be played: {exc}", style="bold"))
            return
        finally:
            for player in match.players:
                await player.aclose()
            if match.pool is not None:
                await match.pool.aclose()
            self.match = None
            if self.is_attached:  # not when the app is closing
                self.query_one("#form").disabled = False
                self.refresh_bindings()
        self._finished(match, match_id, result)

    def _show_in_form(self, game_id: str, opponent: str, seat: int, name: str) -> None:
        """The form shows the running match and is locked until it ends."""
        game = self.query_one("#game", Select)
        if game.value != game_id:
            with game.prevent(Select.Changed):
                game.value = game_id
            self._fill_choices(game_id)
        choice = self.query_one("#opponent", Select)
        if any(value == opponent for _, value in choice._options):
            choice.value = opponent
        self.query_one("#seat", Select).value = seat
        self.query_one("#name", Input).value = name
        form = self.query_one("#form")
        if self.focused is not None and form in self.focused.ancestors:
            self.set_focus(None)  # now, not after disabling (a late blur undoes the board's focus)
        form.disabled = True

    # --- during the match --------------------------------------------------------------
    def _on_event(self, event: MatchEvent) -> None:
        """Match events, on the event loop (the match runs in an async worker)."""
        match = self.match
        if match is None:
            return
        pane = self.query_one(ReasoningPane)
        if isinstance(event, ReplyText):
            if event.seat != match.seat:
                pane.feed(event.text)  # drawn by the pane's timer, not per token
        elif isinstance(event, TurnStarted):
            if event.seat != match.seat:
                pane.begin(event.player, event.attempt)
                self._status(literal(f"{event.player} is thinking…"))
        elif isinstance(event, AttemptMade):
            if event.seat != match.seat:
                a = event.attempt
                pane.settle(a.raw, a.action, a.error)
        elif isinstance(event, MovePlayed):
            self._moved(match, event)

    def _moved(self, match: LiveMatch, event: MovePlayed) -> None:
        from games import CHANCE, IllegalActionError

        record = event.record
        if record.action and record.action != "(forfeit)":
            try:
                match.state.apply(record.action)
            except IllegalActionError:  # cannot happen for a move the match accepted
                pass
        match.board.show(BoardView(match.game, match.state, match.seat))
        if record.seat not in (CHANCE, match.seat):
            self._status(literal(f"{record.player} played {record.action}"))

    def _your_turn(self) -> None:
        match = self.match
        turn = match.human.pending if match is not None else None
        if match is None or turn is None:
            return
        board = match.board
        board.show(
            BoardView(turn.game, turn.state, turn.seat, tuple(turn.legal_actions), turn.feedback)
        )
        self._status(Text("Your move.", style="bold"))

    def on_move_chosen(self, message: MoveChosen) -> None:
        """Submit the board's move, if it is a legal move of the turn waiting for it."""
        message.stop()
        match = self.match
        turn = match.human.pending if match is not None else None
        if turn is None:
            return
        action = message.action
        if action not in turn.legal_actions and not turn.game.parse_action(turn.state, action).ok:
            tell(self, "not a legal move", severity="warning")
            return
        try:
            match.human.submit(action, exact=True)
        except RuntimeError:  # already answered
            return
        self._status(literal(f"You played {action}"))

    def _finished(self, match: LiveMatch, match_id: int, result: MatchResult) -> None:
        from arena.store.queries import is_match_rated
        from arena.store.standings import player_rating

        self.last_match_id = match_id
        self.last_result = result
        match.board.show(BoardView(match.game, match.state, match.seat))
        db = self.app.db
        rated = is_match_rated(db, match_id)
        if result.status == "finished" and result.returns is not None:
            said = outcome(match.game, result.returns, result.forfeit_seat, result.teams)
            line = f"{said.sentence(viewer=match.seat)}. Stored as match #{match_id}"
        else:
            line = f"Match {result.status}: {result.error or ''}. Stored as match #{match_id}"
        line += ", rated." if rated else ", not rated."
        if rated:
            rating = player_rating(db, match.human.name, match.game.id)
            if rating is not None:
                line += f" Your {match.game.id} rating: {rating.mu:.1f} ± {rating.sigma:.1f}."
        self._status(literal(line, style="bold"))

    def _status(self, text: Text) -> None:
        self.query_one("#status", Static).update(text)

    # --- actions -----------------------------------------------------------------------
    def action_toggle_reasoning(self) -> None:
        pane = self.query_one(ReasoningPane)
        pane.display = not pane.display

    def action_stop_match(self) -> None:
        if self.match is not None:
            self.match.stop.set()
            self._status(Text("Stopping…"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_match" and self.match is None:
            return None  # shown disabled: no match to stop
        return True
