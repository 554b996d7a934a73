"""Language-model players: backend + prompt format + decoding mode + sampling settings."""

from __future__ import annotations

import hashlib
import math
from typing import Literal

from arena.backends.base import Backend, Sampling
from arena.players.base import Player, Reply, Turn
from arena.prompts import PromptOptions, answer_text, build_messages, remember_reply
from games.bots import sample_policy

Decode = Literal["generate", "constrained", "score"]


def move_seed(base: int | None, match_seed: int, seat: int, move_index: int, attempt: int) -> int:
    """A per-move sampling seed: reproducible from the match seed, distinct per move."""
    key = f"{base}:{match_seed}:{seat}:{move_index}:{attempt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


def softmax(logps: list[float], temperature: float = 1.0) -> list[float]:
    scaled = [lp / temperature for lp in logps]
    top = max(scaled)
    exps = [math.exp(x - top) for x in scaled]
    total = sum(exps)
    return [e / total for e in exps]


class LLMPlayer(Player):
    """Asks a model for a move.

    `decode`:
    - "generate": free text, parsed by the game (the model may reason first);
    - "constrained": the reply is forced to one of the legal moves (grammar / token mask);
    - "score": every legal move's log-probability is computed; the move is the most likely one
      (temperature 0) or sampled from them; the action probabilities are recorded.
    Constrained and scored play answer in `direct` mode (no room for reasoning).
    """

    kind = "llm"
    timed = True

    def __init__(
        self,
        name: str,
        backend: Backend,
        *,
        prompt: PromptOptions | None = None,
        sampling: Sampling | None = None,
        decode: Decode = "generate",
    ) -> None:
        super().__init__(name)
        prompt = prompt or PromptOptions()
        if decode != "generate" and prompt.reasoning != "direct":
            prompt = PromptOptions(
                style=prompt.style,
                reasoning="direct",
                list_legal_moves=prompt.list_legal_moves,
                include_rules=prompt.include_rules,
                system_extra=prompt.system_extra,
            )
        if decode == "constrained" and not backend.can_constrain:
            raise ValueError(f"the {backend.kind} backend cannot constrain replies")
        if decode == "score" and not backend.can_score:
            raise ValueError(f"the {backend.kind} backend cannot score replies")
        self.backend = backend
        self.prompt = prompt
        self.sampling = sampling or Sampling()
        self.decode = decode

    async def act(self, turn: Turn) -> Reply:
        messages = build_messages(turn, self.prompt)
        seed = move_seed(
            self.sampling.seed, turn.match_seed, turn.seat, turn.move_index, turn.attempt
        )
        sampling = self.sampling.with_seed(seed)
        if self.decode == "score":
            reply = await self._scored(turn, messages)
        elif self.decode == "constrained":
            candidates = [answer_text(a, self.prompt.reasoning) for a in turn.legal_actions]
            gen = await self.backend.generate(messages, sampling, choices=candidates)
            action = (
                turn.legal_actions[candidates.index(gen.text)] if gen.text in candidates else None
            )
            reply = Reply(
                text=gen.text,
                action=action,
                prompt_tokens=gen.prompt_tokens,
                completion_tokens=gen.completion_tokens,
                cost_usd=gen.cost_usd,
                finish_reason=gen.finish_reason,
            )
        else:
            gen = await self.backend.generate(messages, sampling, on_text=turn.on_text)
            reply = Reply(
                text=gen.text,
                prompt_tokens=gen.prompt_tokens,
                completion_tokens=gen.completion_tokens,
                cost_usd=gen.cost_usd,
                finish_reason=gen.finish_reason,
                meta={"token_ids": gen.token_ids} if gen.token_ids is not None else {},
            )
        reply.messages = [dict(m) for m in messages]
        remember_reply(turn, self.prompt, reply.text)
        return reply

    async def _scored(self, turn: Turn, messages: list[dict[str, str]]) -> Reply:
        candidates = [answer_text(a, self.prompt.reasoning) for a in turn.legal_actions]
        logps = await self.backend.score(messages, candidates)
        policy = dict(zip(turn.legal_actions, softmax(logps), strict=True))
        if self.sampling.temperature <= 0:
            action = max(turn.legal_actions, key=policy.__getitem__)
        else:
            tempered = softmax(logps, self.sampling.temperature)
            action = sample_policy(dict(zip(turn.legal_actions, tempered, strict=True)), turn.rng)
        text = candidates[turn.legal_actions.index(action)]
        return Reply(text=text, action=action, policy=policy, completion_tokens=0)

    # The backend is not closed here: backends are shared and owned by a `BackendPool`.

    def describe(self) -> str:
        return f"{self.name} ({self.backend.describe()}, {self.decode}, {self.prompt.style}/{self.prompt.reasoning})"
