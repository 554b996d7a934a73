"""`play_match`: the one loop that plays a game from start to end.

The TUI, the headless tournament and the trainer's rollouts all call it. It asks each player to
move, validates the reply, retries or forfeits by policy, records every attempt, and emits
events as it goes. It knows nothing of storage or UI: the caller decides where events and the
result go.

Illegal replies are a game outcome (retry with the reason, then forfeit or a random legal move).
Infrastructure failures (`BackendError`: timeouts, dead endpoints, crashed models) are not: the
match ends with status `error` and is excluded from ratings.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from arena.backends.base import BackendError
from arena.errors import Interrupted
from arena.players.base import Player, Reply, Turn
from games import CHANCE, Game, sample_chance

Status = Literal["finished", "error", "aborted"]
DEFAULT_MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True)
class MatchRules:
    """How a match treats illegal replies and slow players."""

    retries: int = 1  # re-asks after an illegal reply, with the reason
    on_exhausted: Literal["forfeit", "random"] = "forfeit"  # after the last illegal attempt
    move_time_limit_s: float | None = None  # wall time per attempt for timed players (models)
    max_decisions: int | None = None  # safety cap on player decisions; reaching it is an error
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES  # a longer reply is cut (and marked)

    def __post_init__(self) -> None:
        if self.max_reply_bytes < 64:
            raise ValueError("max_reply_bytes must be at least 64")
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.on_exhausted not in ("forfeit", "random"):
            raise ValueError("on_exhausted must be 'forfeit' or 'random'")
        if self.move_time_limit_s is not None and self.move_time_limit_s <= 0:
            raise ValueError("move_time_limit_s must be positive")


_CUT_MARK = "\n[reply cut at {limit} bytes of {size}]"


def cap_text(text: object, limit: int) -> tuple[str, bool]:
    """(`text` as a string of at most `limit` UTF-8 bytes plus a visible mark, whether it was
    cut). Whatever a player returns is stored and parsed as text, never as anything else."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if len(text) * 4 <= limit:  # (cheap: a character is at most 4 bytes)
        return text, False
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text, False
    cut = data[:limit].decode("utf-8", errors="ignore")
    return cut + _CUT_MARK.format(limit=limit, size=len(data)), True


def strip_echo(text: str, messages: list[dict[str, Any]] | None, legal: list[str]) -> str:
    """The reply without the lines it copied from the prompt's last user message (the board,
    "Legal moves: a, b, c", the answer template): small models echo their prompt, and a move
    read from an echo is a move the model never chose. A line that is exactly a legal move is
    kept (the model may answer with a move the prompt happens to show alone on a line)."""
    if not messages or not text:
        return text
    prompt = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(prompt, str):
        return text

    def key(line: str) -> str:
        return " ".join(line.split()).lower()

    echoed = {key(line) for line in prompt.splitlines() if line.strip()}
    moves = {a.lower() for a in legal}
    kept = [ln for ln in text.splitlines() if key(ln) not in echoed or key(ln) in moves]
    return "\n".join(kept)


@dataclass
class Attempt:
    """One ask-and-answer: the prompt, the raw reply, what it parsed to."""

    raw: str
    action: str | None  # the legal action it parsed to, or None
    legal: bool
    error: str | None  # why it is illegal (shown to the player on retry)
    latency_s: float
    messages: list[dict[str, str]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    policy: dict[str, float] | None = None
    timed_out: bool = False
    reasoning: str | None = None  # what the model wrote before its answer, kept apart


@dataclass
class MoveRecord:
    """One move of the match: a chance outcome or a player's decision with all its attempts."""

    index: int  # position in the game's history
    seat: int  # a seat index, or games.CHANCE
    player: str | None
    action: str
    attempts: list[Attempt] = field(default_factory=list)
    forced: bool = False  # a random legal move played after the last illegal attempt

    @property
    def invalid_attempts(self) -> int:
        return sum(1 for a in self.attempts if not a.legal)

    @property
    def latency_s(self) -> float:
        return sum(a.latency_s for a in self.attempts)


@dataclass
class MatchResult:
    """The full record of a match: the source of truth that ratings are derived from."""

    game_id: str
    params: dict[str, Any]
    seed: int
    players: list[str]
    status: Status
    returns: list[float] | None
    moves: list[MoveRecord]
    error: str | None = None
    forfeit_seat: int | None = None
    duration_s: float = 0.0
    teams: list[int] | None = None  # a team id per seat (seats sharing one win together)

    @property
    def history(self) -> list[str]:
        return [m.action for m in self.moves]

    @property
    def invalid_moves(self) -> list[int]:
        """Illegal attempts per seat."""
        counts = [0] * len(self.players)
        for m in self.moves:
            if m.seat >= 0:
                counts[m.seat] += m.invalid_attempts
        return counts

    def tokens(self) -> list[int]:
        """Prompt plus completion tokens per seat (where the backend reported them)."""
        counts = [0] * len(self.players)
        for m in self.moves:
            for a in m.attempts:
                if m.seat >= 0:
                    counts[m.seat] += (a.prompt_tokens or 0) + (a.completion_tokens or 0)
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["invalid_moves"] = self.invalid_moves
        return data


# --- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchStarted:
    game_id: str
    seed: int
    players: list[str]


@dataclass(frozen=True)
class TurnStarted:
    move_index: int
    seat: int
    player: str
    attempt: int


@dataclass(frozen=True)
class ReplyText:
    """A piece of a reply as it streams in (coalesce before drawing)."""

    seat: int
    text: str


@dataclass(frozen=True)
class AttemptMade:
    seat: int
    player: str
    attempt: Attempt


@dataclass(frozen=True)
class MovePlayed:
    record: MoveRecord
    state_text: str  # the referee's view after the move


@dataclass(frozen=True)
class MatchEnded:
    result: MatchResult


MatchEvent = MatchStarted | TurnStarted | ReplyText | AttemptMade | MovePlayed | MatchEnded
EventSink = Callable[[MatchEvent], Awaitable[None] | None]


def forfeit_returns(num_players: int, seat: int) -> list[float]:
    """The forfeiting seat loses 1; the others share +1 (zero-sum; alone, it just loses)."""
    if num_players == 1:
        return [-1.0]
    others = 1.0 / (num_players - 1)
    return [-1.0 if i == seat else others for i in range(num_players)]


def seat_rng(seed: int, seat: int) -> random.Random:
    """Each seat's own generator, so one seat's draws never shift another's."""
    return random.Random(f"arena:{seed}:seat:{seat}")


def chance_rng_for(seed: int) -> random.Random:
    """The generator a match with this seed draws its chance outcomes from (cards, dice):
    replaying a record's chance moves needs the same one."""
    return random.Random(f"arena:{seed}:chance")


async def play_match(
    game: Game,
    players: Sequence[Player],
    seed: int = 0,
    *,
    rules: MatchRules | None = None,
    on_event: EventSink | None = None,
    stop: asyncio.Event | None = None,
    stream: bool = False,
) -> MatchResult:
    """Play one match and return its full record.

    `players[i]` plays seat i. Chance is sampled from a generator seeded by `seed`; each seat
    gets its own seeded generator. Setting `stop` ends the match at the next move with status
    `aborted`. Cancelling the task propagates `CancelledError` (nothing half-recorded escapes).
    With `stream=True`, replies stream to `on_event` as `ReplyText` pieces (some servers then
    report no token usage, so leave it off when nobody watches the text arrive).
    """
    rules = rules or MatchRules()
    if len(players) != game.num_players:
        raise ValueError(f"{game.id} needs {game.num_players} players, got {len(players)}")
    names = [p.name for p in players]
    state = game.new_initial_state()
    chance_rng = chance_rng_for(seed)
    rngs = [seat_rng(seed, s) for s in range(game.num_players)]
    memories: list[dict[str, Any]] = [{} for _ in players]
    moves: list[MoveRecord] = []
    started = time.perf_counter()

    async def emit(event: MatchEvent) -> None:
        if on_event is None:
            return
        out = on_event(event)
        if inspect.isawaitable(out):
            await out

    def board() -> str:
        # Rendering the board costs as much as the rest of a move: only for a listener.
        return str(state) if on_event is not None else ""

    def finish(status: Status, returns=None, error=None, forfeit=None) -> MatchResult:
        return MatchResult(
            game_id=game.id,
            params=dict(game.params),
            seed=seed,
            players=names,
            status=status,
            returns=returns,
            moves=moves,
            error=error,
            forfeit_seat=forfeit,
            duration_s=time.perf_counter() - started,
            teams=state.teams() if state.is_terminal() else None,
        )

    await emit(MatchStarted(game.id, seed, names))
    decisions = 0
    result: MatchResult | None = None
    while result is None:
        if state.is_terminal():
            result = finish("finished", returns=[float(r) for r in state.returns()])
            break
        if stop is not None and stop.is_set():
            result = finish("aborted", error="stopped")
            break
        seat = state.current_player()
        if seat == CHANCE:
            action = sample_chance(state, chance_rng)
            state.apply(action)
            record = MoveRecord(len(moves), CHANCE, None, action)
            moves.append(record)
            await emit(MovePlayed(record, board()))
            continue
        if rules.max_decisions is not None and decisions >= rules.max_decisions:
            result = finish("error", error=f"the match exceeded {rules.max_decisions} decisions")
            break
        player = players[seat]
        legal = state.legal_actions()
        record = MoveRecord(len(moves), seat, player.name, "")
        feedback = None
        chosen: str | None = None
        for attempt_no in range(rules.retries + 1):
            await emit(TurnStarted(decisions, seat, player.name, attempt_no))
            turn = Turn(
                game=game,
                state=state.clone(),
                seat=seat,
                legal_actions=list(legal),
                rng=rngs[seat],
                move_index=decisions,
                attempt=attempt_no,
                feedback=feedback,
                memory=memories[seat],
                on_text=_text_sink(on_event, seat) if stream else None,
                match_seed=seed,
            )
            try:
                attempt = await _ask(player, turn, rules, stop)
            except BackendError as exc:
                result = finish("error", error=f"{player.name}: {exc}")
                break
            except _Stopped:
                result = finish("aborted", error="stopped")
                break
            except Interrupted:
                raise  # the person at the terminal stopped the match: not a broken player
            except Exception as exc:  # a broken player must not take the tournament down
                result = finish("error", error=f"{player.name}: {type(exc).__name__}: {exc}")
                break
            record.attempts.append(attempt)
            await emit(AttemptMade(seat, player.name, attempt))
            if attempt.legal:
                chosen = attempt.action
                break
            feedback = attempt.error
        if result is not None:
            break
        decisions += 1
        if chosen is None:
            if rules.on_exhausted == "forfeit":
                record.action = "(forfeit)"
                moves.append(record)
                await emit(MovePlayed(record, board()))
                result = finish(
                    "finished", returns=forfeit_returns(game.num_players, seat), forfeit=seat
                )
                break
            chosen = rngs[seat].choice(legal)
            record.forced = True
        state.apply(chosen)
        record.action = chosen
        moves.append(record)
        await emit(MovePlayed(record, board()))
    await emit(MatchEnded(result))
    return result


class _Stopped(Exception):
    pass


def _text_sink(on_event: EventSink | None, seat: int) -> Callable[[str], None] | None:
    if on_event is None:
        return None

    def sink(text: str) -> None:
        out = on_event(ReplyText(seat, text))
        if inspect.isawaitable(out):  # a coroutine sink: schedule it, never block the model
            asyncio.ensure_future(out)

    return sink


async def _ask(
    player: Player, turn: Turn, rules: MatchRules, stop: asyncio.Event | None
) -> Attempt:
    """Ask once; turn the reply (or a blown time limit) into an `Attempt`."""
    limit = player.time_limit_s or (rules.move_time_limit_s if player.timed else None)
    t0 = time.perf_counter()
    if limit is None and (stop is None or player.quick):  # no clock, nothing worth racing
        reply = await player.act(turn)
        return attempt_from_reply(turn, reply, time.perf_counter() - t0, rules.max_reply_bytes)
    task = asyncio.ensure_future(player.act(turn))
    waiters: set[asyncio.Future] = {task}
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if stopper is not None:
        waiters.add(stopper)
    try:
        done, _ = await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if stopper is not None:
            stopper.cancel()
    if task not in done:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        if stopper is not None and stop is not None and stop.is_set():
            raise _Stopped()
        return Attempt(
            raw="",
            action=None,
            legal=False,
            error=f"no move within the time limit of {limit:g} s",
            latency_s=time.perf_counter() - t0,
            timed_out=True,
        )
    return attempt_from_reply(turn, task.result(), time.perf_counter() - t0, rules.max_reply_bytes)


def attempt_from_reply(
    turn: Turn, reply: Reply, latency: float, max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
) -> Attempt:
    """Parse and check a reply into the `Attempt` that the record keeps. A reply longer than
    `max_reply_bytes` is cut (and marked as cut) before it is parsed or stored."""
    reply.text, cut = cap_text(reply.text, max_reply_bytes)
    if reply.reasoning is not None:
        reply.reasoning, _ = cap_text(reply.reasoning, max_reply_bytes)
    parsed_action, error = _parse(turn, reply)
    if cut and error:
        error = f"the reply was longer than {max_reply_bytes} bytes and was cut; {error}"
    return Attempt(
        raw=reply.text,
        action=parsed_action,
        legal=parsed_action is not None,
        error=error,
        latency_s=latency,
        messages=reply.messages,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=reply.cost_usd,
        finish_reason="cut" if cut else reply.finish_reason,
        policy=reply.policy,
        reasoning=reply.reasoning,
    )


def _parse(turn: Turn, reply: Reply) -> tuple[str | None, str | None]:
    game, state = turn.game, turn.state
    if reply.action is not None:
        if reply.action in turn.legal_actions:
            return reply.action, None
        parsed = game.parse_action(state, reply.action)
    else:
        text = strip_echo(reply.text, reply.messages, turn.legal_actions)
        if not text.strip() and reply.text.strip():
            return None, (
                "the reply only repeats the prompt; answer with one legal move: "
                + ", ".join(turn.legal_actions[:60])
            )
        parsed = game.parse_action(state, text)
    if parsed.ok:
        return parsed.action, None
    error = parsed.error or "not a legal move"
    if reply.finish_reason == "length":
        error = f"the reply was cut off at the token limit before a move was given; {error}"
    return None, error
