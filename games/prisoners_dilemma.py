"""The iterated prisoner's dilemma, with an optional round of free-text messages.

Each round both players choose `cooperate` or `defect` at the same time. The simultaneous choice
is played as two turns, seat 0 then seat 1, and seat 1 is not told seat 0's choice until the
round resolves. With `messages=True` every round opens with a message phase: seat 0 then seat 1
each send one line of text (`message: <text>`) that both players see. A player's return is the
sum of its payoffs over the rounds, so the game is general-sum.
"""

from __future__ import annotations

import json
import re

from games.core import TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.parsing import drop_echoes, parse_from_legal, read_reply

COOPERATE = "cooperate"
DEFECT = "defect"
CHOICES = (COOPERATE, DEFECT)
MESSAGE_PREFIX = "message: "
MAX_MESSAGE = 200
"""The longest message, in characters."""
CANONICAL_MESSAGES = ("message: I will cooperate", "message: I will defect", "message: (nothing)")

# Spellings a model may use; the single letters only count as the whole reply (see parse_action).
_ALIASES = {
    "cooperation": COOPERATE,
    "co-operate": COOPERATE,
    "coop": COOPERATE,
    "stay silent": COOPERATE,
    "remain silent": COOPERATE,
    "silent": COOPERATE,
    "defection": DEFECT,
    "betray": DEFECT,
    "confess": DEFECT,
    "testify": DEFECT,
}
_LETTERS = {"c": COOPERATE, "d": DEFECT}
_MESSAGE_MARK_RE = re.compile(r"\bmessage[ \t]{0,3}:", re.IGNORECASE)
# Every spelling of a choice: a list of them is an echo of the moves, not a choice.
_CHOICE_WORDS = frozenset([*CHOICES, *_ALIASES, *_LETTERS])
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Phases of a round, in order; the message phases are skipped when messages are off.
MSG0, MSG1, CHOOSE0, CHOOSE1 = 0, 1, 2, 3


def message_text(action: str) -> str | None:
    """The text of a well-formed `message: <text>` action, or None."""
    if not isinstance(action, str) or not action.startswith(MESSAGE_PREFIX):
        return None
    text = action[len(MESSAGE_PREFIX) :]
    if not text or text != text.strip() or len(text) > MAX_MESSAGE:
        return None
    if any(ch < " " or ch == "\x7f" for ch in text):  # one line, no control characters
        return None
    return text


class PrisonersDilemmaState(State):
    __slots__ = ("game", "moves", "phase", "round", "pending", "choices", "messages", "totals")

    def __init__(self, game: PrisonersDilemma) -> None:
        self.game = game
        self.moves: list[str] = []
        self.phase = MSG0 if game.messages else CHOOSE0  # TERMINAL once the last round resolves
        self.round = 0  # 0-based index of the round being played
        self.pending = ""  # seat 0's choice this round, hidden from seat 1 until it resolves
        self.choices: list[tuple[str, str]] = []  # resolved rounds
        self.messages: list[list[str]] = []  # per round: the texts sent so far
        self.totals = [0.0, 0.0]

    # --- the contract ----------------------------------------------------------------------
    def current_player(self) -> int:
        phase = self.phase
        if phase == TERMINAL:
            return TERMINAL
        return 0 if phase == MSG0 or phase == CHOOSE0 else 1

    def legal_actions(self) -> list[str]:
        phase = self.phase
        if phase == TERMINAL:
            return []
        if phase >= CHOOSE0:
            return [COOPERATE, DEFECT]
        return list(CANONICAL_MESSAGES)

    def apply(self, action: str) -> None:
        phase = self.phase
        if phase == TERMINAL:
            raise IllegalActionError("prisoners_dilemma: the game is over")
        if phase == CHOOSE0:
            if action != COOPERATE and action != DEFECT:
                raise IllegalActionError(f"illegal prisoners_dilemma move {action!r}")
            self.pending = action
            self.phase = CHOOSE1
        elif phase == CHOOSE1:
            if action != COOPERATE and action != DEFECT:
                raise IllegalActionError(f"illegal prisoners_dilemma move {action!r}")
            self._resolve(self.pending, action)
        else:
            text = message_text(action)
            if text is None:
                raise IllegalActionError(
                    f"prisoners_dilemma: expected 'message: <one line of text>', got {action!r}"
                )
            if phase == MSG0:
                self.messages.append([text])
                self.phase = MSG1
            else:
                self.messages[-1].append(text)
                self.phase = CHOOSE0
        self.moves.append(action)

    def _resolve(self, first: str, second: str) -> None:
        p0, p1 = self.game.payoff(first, second)
        self.totals[0] += p0
        self.totals[1] += p1
        self.choices.append((first, second))
        self.pending = ""
        self.round += 1
        if self.round >= self.game.rounds:
            self.phase = TERMINAL
        else:
            self.phase = MSG0 if self.game.messages else CHOOSE0

    def returns(self) -> list[float]:
        return self.totals[:]

    def clone(self) -> PrisonersDilemmaState:
        other = PrisonersDilemmaState.__new__(PrisonersDilemmaState)
        other.game = self.game
        other.moves = self.moves[:]
        other.phase = self.phase
        other.round = self.round
        other.pending = self.pending
        other.choices = self.choices[:]
        other.messages = [m[:] for m in self.messages]
        other.totals = self.totals[:]
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def public_history(self) -> list[str]:
        if self.pending:
            return [*self.moves[:-1], "(hidden choice)"]
        return list(self.moves)

    def indistinguishable_states(self, player: int) -> list[State]:
        # Only seat 0's choice of the unresolved round is ever hidden, and only from seat 1.
        if player != 1 or not self.pending:
            return []
        other = self.clone()
        flipped = DEFECT if self.pending == COOPERATE else COOPERATE
        other.pending = flipped
        other.moves[-1] = flipped
        return [other]

    # --- text ------------------------------------------------------------------------------
    def information_state(self, player: int) -> str:
        rounds = ",".join(a[0] + b[0] for a, b in self.choices)
        said = json.dumps(self.messages, ensure_ascii=False) if self.messages else ""
        own = self.pending[0] if (player == 0 and self.pending) else ("?" if self.pending else "")
        return f"p{player}|{self.phase}|{rounds}|{own}|{said}"

    def observation(self, player: int) -> str:
        game = self.game
        other = 1 - player
        lines = [
            f"Iterated prisoner's dilemma, {game.rounds} rounds. You are player {player}.",
            game.payoff_text(),
        ]
        for i, (a, b) in enumerate(self.choices):
            mine, theirs = (a, b) if player == 0 else (b, a)
            gain = game.payoff(a, b)
            lines.append(
                f"Round {i + 1}: "
                + self._messages_text(i, player)
                + f"you chose {mine}, player {other} chose {theirs}; "
                f"you scored {gain[player]:g}, player {other} scored {gain[other]:g}."
            )
        lines.append(f"Totals: you {self.totals[player]:g}, player {other} {self.totals[other]:g}.")
        if self.phase == TERMINAL:
            mine, theirs = self.totals[player], self.totals[other]
            verdict = (
                "more than" if mine > theirs else "less than" if mine < theirs else "as much as"
            )
            lines.append(f"The game is over. You scored {mine:g}, {verdict} player {other}.")
            return "\n".join(lines)
        lines.append(f"Round {self.round + 1} of {game.rounds}.")
        if self.round < len(self.messages):
            said = self._messages_text(self.round, player)
            if said:
                lines.append("Messages this round: " + said.rstrip("; ") + ".")
        if self.pending:
            if player == 0:
                lines.append(f"You chose {self.pending}; it stays hidden until player 1 chooses.")
            else:
                lines.append("Player 0 has chosen; the choice is hidden until you choose.")
        mover = self.current_player()
        if mover != player:
            what = "send a message" if self.phase < CHOOSE0 else "choose"
            lines.append(f"It is player {mover}'s turn to {what}.")
        elif self.phase < CHOOSE0:
            lines.append(
                "It is your turn to send one line of text to the other player, written as "
                "'message: <text>' (at most 200 characters), for example: "
                + ", ".join(CANONICAL_MESSAGES)
            )
        else:
            lines.append("It is your turn to choose. Legal moves: cooperate, defect")
        return "\n".join(lines)

    def _messages_text(self, round_index: int, player: int) -> str:
        if round_index >= len(self.messages):
            return ""
        parts = []
        for seat, text in enumerate(self.messages[round_index]):
            who = "you" if seat == player else f"player {seat}"
            parts.append(f'{who} said "{text}"')
        return "; ".join(parts) + "; " if parts else ""

    def __str__(self) -> str:
        rounds = " ".join(a[0].upper() + b[0].upper() for a, b in self.choices) or "-"
        return f"rounds: {rounds}; totals {self.totals[0]:g}-{self.totals[1]:g}"


RULES = """\
The iterated prisoner's dilemma between two players, over {rounds} rounds.
Each round both players choose, without seeing the other's choice, to cooperate or to defect.
Payoffs per round:
- both cooperate: each scores {R:g};
- both defect: each scores {P:g};
- one defects while the other cooperates: the defector scores {T:g}, the cooperator {S:g}.
Player 0 chooses first, but player 1 does not learn that choice until both have chosen; then
both choices and the payoffs are shown to both players.
{messages}Your score is the sum of your payoffs over all rounds; the other player's score does not
reduce yours (this is not zero-sum).
A choice is one of: cooperate, defect"""

MESSAGES_RULES = """\
Before the choices of each round, player 0 and then player 1 each send one message: a single line
of free text (at most 200 characters) that both players see, written as "message: <text>", for
example: message: I will cooperate. Messages are not binding.
"""


class PrisonersDilemma(Game):
    id = "prisoners_dilemma"
    name = "Iterated prisoner's dilemma"
    min_players = 2
    max_players = 2
    chance = False
    hidden_info = True  # the current round's first choice is hidden from the second player
    zero_sum = False
    simultaneous = True
    free_text = True  # only the message phase (messages=True) takes free text
    can_draw = True
    description = "Cooperate or defect, round after round; optionally talk first."
    PARAMS = {"rounds": 5, "messages": False}
    BOTS = {
        "tit_for_tat": "games.bots.prisoners_dilemma_bots:TitForTat",
        "always_defect": "games.bots.prisoners_dilemma_bots:AlwaysDefect",
        "grim": "games.bots.prisoners_dilemma_bots:GrimTrigger",
    }
    # Payoffs: Temptation, Reward, Punishment, Sucker (T > R > P > S and 2R > T + S).
    T = 5.0
    R = 3.0
    P = 1.0
    S = 0.0

    def validate_params(self) -> None:
        rounds = self.params["rounds"]
        if not 1 <= rounds <= 100:
            raise GameParamError(
                f"prisoners_dilemma: rounds must be between 1 and 100, got {rounds}"
            )
        self.rounds: int = rounds
        self.messages: bool = self.params["messages"]
        self._table = {
            (COOPERATE, COOPERATE): (self.R, self.R),
            (COOPERATE, DEFECT): (self.S, self.T),
            (DEFECT, COOPERATE): (self.T, self.S),
            (DEFECT, DEFECT): (self.P, self.P),
        }

    def payoff(self, first: str, second: str) -> tuple[float, float]:
        """(seat 0, seat 1) payoffs of one round."""
        return self._table[first, second]

    def payoff_text(self) -> str:
        return (
            f"Payoffs per round (you, other): both cooperate {self.R:g}, {self.R:g}; "
            f"you defect, other cooperates {self.T:g}, {self.S:g}; "
            f"you cooperate, other defects {self.S:g}, {self.T:g}; both defect {self.P:g}, {self.P:g}."
        )

    def rules(self) -> str:
        return RULES.format(
            rounds=self.rounds,
            R=self.R,
            P=self.P,
            T=self.T,
            S=self.S,
            messages=MESSAGES_RULES if self.messages else "",
        )

    def new_initial_state(self) -> PrisonersDilemmaState:
        return PrisonersDilemmaState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        legal = state.legal_actions()
        if not legal:
            return Parsed.illegal("no move is possible now: it is not this player's turn")
        if legal[0].startswith(MESSAGE_PREFIX):
            return self._parse_message(text)
        return parse_from_legal(
            text,
            legal,
            aliases=_ALIASES,
            exact_aliases=_LETTERS,
            move_like=_CHOICE_WORDS.__contains__,
        )

    def _parse_message(self, text: object) -> Parsed:
        """Any one line of text is a message; a `message:` marker picks the line out of a
        longer reply."""
        example = "for example: message: I will cooperate"
        if isinstance(text, str) and _CONTROL_RE.search(text):
            # Escape sequences would reach the other player's screen: refuse, don't strip.
            return Parsed.illegal(
                f"the message contains control characters; write plain text, {example}"
            )
        reply = read_reply(text)
        if reply is None:
            return Parsed.illegal(f"the message was empty; write one line, {example}")
        body = drop_echoes(reply.text).strip()
        if not body:
            return Parsed.illegal(
                f"the reply repeats the list of moves instead of writing a message, {example}"
            )
        answer = reply.answer
        in_answer = _last_mark(answer) if answer is not None else -1
        marked = _last_mark(body)
        if in_answer >= 0:  # "Final answer: message: <text>"
            candidate = answer[in_answer:]  # type: ignore[index]
        elif marked >= 0:
            # The text after the last "message:" marker, up to the end of its line.
            candidate = body[marked:].split("\n", 1)[0]
        elif answer is not None:
            candidate = answer
        elif "\n" in body:
            return Parsed.illegal(
                "a message must be a single line; write it on one line as "
                f"'message: <text>', {example}"
            )
        else:
            candidate = body
        message = " ".join(candidate.split()).strip("\"'`*").strip()
        if not any(ch.isalnum() for ch in message):
            return Parsed.illegal(f"the message was empty; write one line, {example}")
        if len(message) > MAX_MESSAGE:
            return Parsed.illegal(
                f"the message is {len(message)} characters long; the limit is {MAX_MESSAGE}"
            )
        return Parsed.legal(MESSAGE_PREFIX + message)


def _last_mark(text: str) -> int:
    """Where the text after the last `message:` marker in `text` starts, or -1."""
    end = -1
    for m in _MESSAGE_MARK_RE.finditer(text):
        end = m.end()
    return end
