"""Language-model players: backend + prompt format + decoding mode + sampling settings."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Literal

from arena.backends.base import Backend, Generation, Sampling
from arena.backends.reasoning import join_reasoning, split_reasoning
from arena.players.base import Player, Reply, Turn
from arena.prompts import PromptOptions, answer_text, build_messages, remember_reply
from games.bots import sample_policy
from games.parsing import ANSWER_MARKER

# "generate" is the old name of "free", still read from stored specs.
Decode = Literal["free", "generate", "constrained", "score"]
DECODES: tuple[str, ...] = ("free", "constrained", "score")
# Where a model's reasoning ends: it starts writing its answer (the arena writes that itself).
_MARKER_STOPS = ("Final answer:", "Final Answer:", "FINAL ANSWER:", "final answer:")
_ANSWER_NOW = "Now give your final move only, exactly as listed."


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
    - "free" (formerly "generate"): free text, parsed by the game (the model may reason first);
    - "constrained": the reply is forced to one of the legal moves (grammar / token mask);
    - "score": every legal move's log-probability is computed; the move is the most likely one
      (temperature 0) or sampled from them; the action probabilities are recorded.

    Constrained and scored play answer in `direct` mode, or in `think-then-constrained` mode:
    the model first writes its reasoning freely (up to `prompt.reasoning_tokens`, ending early
    where it starts its own answer), then the arena appends the answer marker and the move is
    decoded (or scored) among the legal moves only, continuing the same assistant turn. The
    reasoning is returned apart from the answer. `think` with a constrained or scored decode
    answers `direct`; free decoding in `think-then-constrained` mode is refused.

    Free decoding keeps the reply verbatim (the game parses it) and returns its reasoning apart
    too: the API's reasoning field, the reply's think blocks and the text before its answer
    marker (`arena.backends.reasoning`).
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
        decode: Decode = "free",
    ) -> None:
        super().__init__(name)
        prompt = prompt or PromptOptions()
        if decode == "generate":
            decode = "free"
        if decode == "free" and prompt.reasoning == "think-then-constrained":
            raise ValueError("think-then-constrained needs decode 'constrained' or 'score'")
        if decode != "free" and prompt.reasoning == "think":
            prompt = dataclasses.replace(prompt, reasoning="direct")  # no room to think
        if prompt.reasoning == "think-then-constrained" and prompt.reasoning_tokens < 1:
            raise ValueError("reasoning_tokens must be at least 1")
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
        if self.prompt.reasoning == "think-then-constrained":
            reply = await self._think_then_answer(turn, messages, sampling)
        elif self.decode == "score":
            reply = await self._scored(turn, messages)
        elif self.decode == "constrained":
            candidates = [answer_text(a, self.prompt.reasoning) for a in turn.legal_actions]
            gen = await self.backend.generate(messages, sampling, choices=candidates)
            reply = self._constrained_reply(turn, gen, candidates)
        else:
            gen = await self.backend.generate(messages, sampling, on_text=turn.on_text)
            # The reasoning an API returns beside the answer, and what the reply itself holds
            # (think blocks, the text before the answer marker), kept apart from the answer.
            # The reply's text stays verbatim: the parser, the chat memory and the trainer read it.
            written, _ = split_reasoning(gen.text)
            reply = Reply(
                text=gen.text,
                prompt_tokens=gen.prompt_tokens,
                completion_tokens=gen.completion_tokens,
                cost_usd=gen.cost_usd,
                finish_reason=gen.finish_reason,
                reasoning=join_reasoning(gen.meta.get("reasoning"), written),
                # The backend's notes travel with the reply (a trainer's backend leaves the
                # prompt's ids and the tokens' log-probabilities there).
                meta={**gen.meta, "token_ids": gen.token_ids}
                if gen.token_ids is not None
                else dict(gen.meta),
            )
        reply.messages = [dict(m) for m in messages]
        remember_reply(turn, self.prompt, reply.text)
        return reply

    async def _think_then_answer(
        self, turn: Turn, messages: list[dict[str, str]], sampling: Sampling
    ) -> Reply:
        """Reason freely, then answer among the legal moves in the same assistant turn."""
        think = dataclasses.replace(
            sampling,
            max_tokens=self.prompt.reasoning_tokens,
            stop=tuple(dict.fromkeys((*sampling.stop, *_MARKER_STOPS))),
        )
        thought = await self.backend.generate(messages, think, on_text=turn.on_text)
        reasoning = thought.text.strip()
        if self.backend.can_continue:
            written = f"{reasoning}\n{ANSWER_MARKER}" if reasoning else ANSWER_MARKER
            answer_messages = [*messages, {"role": "assistant", "content": written}]
            # The space belongs to the move's first token in byte-level BPE vocabularies.
            candidates = [f" {a}" for a in turn.legal_actions]
        else:  # an API that cannot prefill: the reasoning is its turn, then one more question
            answer_messages = [
                *messages,
                {"role": "assistant", "content": reasoning or "(no reasoning)"},
                {"role": "user", "content": _ANSWER_NOW},
            ]
            candidates = list(turn.legal_actions)
        if self.decode == "score":
            answer = await self._scored(turn, answer_messages, candidates)
        else:
            gen = await self.backend.generate(answer_messages, sampling, choices=candidates)
            answer = self._constrained_reply(turn, gen, candidates)
        answer.text = f"{ANSWER_MARKER} {answer.action}" if answer.action else answer.text
        answer.reasoning = reasoning
        answer.prompt_tokens = thought.prompt_tokens
        answer.completion_tokens = (thought.completion_tokens or 0) + (
            answer.completion_tokens or 0
        )
        answer.cost_usd = _add(thought.cost_usd, answer.cost_usd)
        answer.meta["reasoning_finish"] = thought.finish_reason
        # The reasoning's own notes (a trainer's backend leaves its ids and log-probabilities
        # there), as free decoding's reply carries its generation's.
        answer.meta["reasoning_generation"] = {**thought.meta, "token_ids": thought.token_ids}
        return answer

    @staticmethod
    def _constrained_reply(turn: Turn, gen: Generation, candidates: list[str]) -> Reply:
        action = turn.legal_actions[candidates.index(gen.text)] if gen.text in candidates else None
        return Reply(
            text=gen.text,
            action=action,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            cost_usd=gen.cost_usd,
            finish_reason=gen.finish_reason,
        )

    async def _scored(
        self,
        turn: Turn,
        messages: list[dict[str, str]],
        candidates: list[str] | None = None,
    ) -> Reply:
        if candidates is None:
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


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)
