"""Prompt formats for language-model players.

A prompt = the game's rules as system text + the seat's observation + optionally an explicit
list of legal moves + an answer-format instruction. Two styles: `stateless` (one user message
with the full observation each turn) and `chat` (one conversation per match and seat, each turn
appended). Three reasoning modes: `think` (reason, then `Final answer: <move>` on the last line,
parsed from free text), `direct` (the move alone) and `think-then-constrained` (reason up to a
token budget; the arena then writes the answer marker itself and the move is decoded among the
legal moves only, so the model's reasoning is kept and its answer is always legal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from arena.players.base import Turn
from games.parsing import ANSWER_MARKER

Style = Literal["stateless", "chat"]
Reasoning = Literal["think", "direct", "think-then-constrained"]
REASONING_MODES: tuple[str, ...] = ("think-then-constrained", "think", "direct")
DEFAULT_REASONING_TOKENS = 64


@dataclass(frozen=True)
class PromptOptions:
    """How a language-model player is prompted."""

    style: Style = "stateless"
    reasoning: Reasoning = "think"
    list_legal_moves: bool = True  # append an explicit "Legal moves:" line to the observation
    # ... even where the observation lists them already (the prompt models trained here before
    # the list was deduplicated saw: the shipped tictactoe model plays best with it)
    repeat_legal_moves: bool = False
    include_rules: bool = True
    system_extra: str = ""  # appended to the system text (a persona, a strategy hint)
    reasoning_tokens: int = DEFAULT_REASONING_TOKENS  # think-then-constrained: reasoning budget


def answer_instruction(reasoning: Reasoning) -> str:
    if reasoning == "direct":
        return "Reply with your move only: exactly one legal move, nothing else."
    return (
        "Think briefly about your options, then give your move on the last line as:\n"
        f"{ANSWER_MARKER} <move>"
    )


def answer_text(action: str, reasoning: Reasoning) -> str:
    """The reply that plays `action` in this mode (what scoring and constraints compare)."""
    return action if reasoning == "direct" else f"{ANSWER_MARKER} {action}"


def system_text(turn: Turn, options: PromptOptions) -> str:
    game = turn.game
    others = game.num_players - 1
    parts = [
        f"You are playing {game.name} against {others} other player{'s' if others > 1 else ''}. "
        f"You are player {turn.seat}."
    ]
    if options.include_rules:
        parts.append("Rules:\n" + game.rules())
    if options.system_extra:
        parts.append(options.system_extra)
    return "\n\n".join(parts)


def turn_text(turn: Turn, options: PromptOptions) -> str:
    """The user message for this turn: observation, legal moves, the answer instruction."""
    observation = turn.observation()
    parts = [observation]
    # Some games' observations list the legal moves themselves: say it once.
    shown = "legal moves:" in observation.lower() and not options.repeat_legal_moves
    if options.list_legal_moves and not shown:
        parts.append("Legal moves: " + ", ".join(turn.legal_actions))
    parts.append(answer_instruction(options.reasoning))
    return "\n\n".join(parts)


def retry_text(feedback: str) -> str:
    return f"Your previous reply was not accepted: {feedback}\nPlease answer again."


def build_messages(turn: Turn, options: PromptOptions) -> list[dict[str, str]]:
    """The messages to send for this turn (chat style reads and extends `turn.memory`)."""
    system = {"role": "system", "content": system_text(turn, options)}
    if options.style == "stateless":
        content = turn_text(turn, options)
        if turn.feedback:
            content += "\n\n" + retry_text(turn.feedback)
        return [system, {"role": "user", "content": content}]
    chat: list[dict[str, str]] = turn.memory.setdefault("chat", [])
    if turn.attempt == 0 or not chat:
        chat.append({"role": "user", "content": turn_text(turn, options)})
    else:
        chat.append({"role": "user", "content": retry_text(turn.feedback or "illegal move")})
    return [system, *chat]


def remember_reply(turn: Turn, options: PromptOptions, text: str) -> None:
    """Chat style: keep the assistant's reply in the conversation."""
    if options.style == "chat":
        turn.memory.setdefault("chat", []).append({"role": "assistant", "content": text})
