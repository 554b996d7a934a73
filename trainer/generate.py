"""Generation mode's rollouts: the trained model writes whole replies, reasoning included.

The trained model plays as an arena `LLMPlayer` with free decoding and `think` reasoning: the
same messages (`arena.prompts`), rendered with the tokenizer's chat template as the
transformers backend renders them, and the reply parsed by the match loop
(`arena.match.attempt_from_reply`), so a checkpoint registered with the same prompt and
sampling plays the way it was trained. Only the backend is the trainer's own
(`PolicyBackend`): it samples from the model being trained, token by token at the policy's
temperature, and keeps what the loss needs, the prompt's ids, the sampled ids and each sampled
token's log-probability at sampling time (for PPO's ratio): the loss never re-tokenizes text.

An illegal answer is an outcome: the matches are played with no retry and forfeit
(`GENERATE_RULES`); the forfeiting seat's return is then `illegal_penalty` and the other seats'
0 (a trainee's own mistake rewards nobody's earlier moves). A pool opponent that forfeits
loses as in any match.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from arena.backends.base import Backend, Generation, Message, Sampling
from arena.match import MatchResult, MatchRules, play_match
from arena.players.base import Player, Reply, Turn
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions
from games.parsing import ANSWER_MARKER
from trainer.rollout import Episode, Pairing

# No second try, and an illegal answer ends the game (the seat's return: `illegal_penalty`).
GENERATE_RULES = MatchRules(retries=0, on_exhausted="forfeit")
PROMPT_TAIL_CHARS = 400  # of the prompt's last message, in the samples file
SAMPLES_PER_STEP = 16


@dataclass
class Generated:
    """One sampled reply, as the loss and the samples file need it."""

    game_id: str
    seed: int
    seat: int
    prompt_ids: tuple[int, ...]
    reply_ids: tuple[int, ...]  # every sampled token, the end-of-turn token included
    logprobs: tuple[float, ...]  # each sampled token's log-probability when it was drawn
    text: str
    prompt_tail: str
    finish_reason: str | None
    action: str | None = None  # the legal move it parsed to (None: illegal)
    legal: bool = False
    formatted: bool = False  # legal and written after the answer marker

    @property
    def reply_tokens(self) -> int:
        """Tokens the model generated for this reply."""
        return len(self.reply_ids)


class PolicyBackend(Backend):
    """The model being trained as an arena backend: free generation only, one request at a
    time (the model is small and on the trainer's own device), with the sampled ids and their
    log-probabilities in `Generation.meta` ("prompt_ids", "logprobs")."""

    kind = "trainer"

    def __init__(self, model: Any, tokenizer: Any, device: Any = "cpu") -> None:
        from arena.backends.transformers_backend import _eos_ids  # the backend's stop set

        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.eos_ids = frozenset(_eos_ids(model, tokenizer))

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The messages as the transformers backend feeds them: the chat template with the
        assistant turn opened, tokenized without adding special tokens again."""
        text = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
        )
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: Any = None,
    ) -> Generation:
        if choices is not None:
            raise NotImplementedError("the trainer's backend generates free text only")
        if sampling.temperature <= 0:
            raise ValueError("generation mode samples: the temperature must be positive")
        prompt = self.prompt_ids(messages)
        ids, logps, finish = sample_reply(
            self.model,
            prompt,
            temperature=sampling.temperature,
            max_new_tokens=sampling.max_tokens,
            seed=sampling.seed or 0,
            eos_ids=self.eos_ids,
            device=self.device,
        )
        body = ids[:-1] if finish == "stop" else ids
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        if on_text is not None:
            on_text(text)
        return Generation(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            finish_reason=finish,
            token_ids=ids,
            meta={"prompt_ids": prompt, "logprobs": logps},
        )


def sample_reply(
    model: Any,
    prompt: Sequence[int],
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    eos_ids: frozenset[int],
    device: Any = "cpu",
) -> tuple[list[int], list[float], str]:
    """Sample a reply token by token from softmax(logits / temperature), with the model's
    key-value cache; returns the ids, each one's log-probability under that distribution, and
    "stop" (an end-of-turn token, kept as the last id) or "length"."""
    import torch

    from arena.backends.torch_cache import cache_kwargs, output_cache

    generator = torch.Generator().manual_seed(seed)
    out: Any = None
    step_ids = torch.tensor([list(prompt)], dtype=torch.long, device=device)
    past = None
    ids: list[int] = []
    logps: list[float] = []
    finish = "length"
    with torch.no_grad():
        for _ in range(max_new_tokens):
            # logits_to_keep=1: the prompt's pass needs its last position's logits only
            out = model(
                input_ids=step_ids, use_cache=True, logits_to_keep=1, **cache_kwargs(model, past)
            )
            past = output_cache(out)
            logp = torch.log_softmax(out.logits[0, -1].float() / temperature, dim=-1).cpu()
            token = int(torch.multinomial(logp.exp(), 1, generator=generator))
            ids.append(token)
            logps.append(float(logp[token]))
            if token in eos_ids:
                finish = "stop"
                break
            step_ids = torch.tensor([[token]], dtype=torch.long, device=device)
    del out, past  # the key-value cache goes before the next reply (or the loss) starts
    return ids, logps, finish


class GeneratingPlayer(LLMPlayer):
    """An `LLMPlayer` (free decoding, `think` prompt) on a `PolicyBackend` that records every
    reply it samples, per (match seed, seat): shared by every seat and game of a rollout."""

    def __init__(
        self,
        name: str,
        backend: PolicyBackend,
        *,
        prompt: PromptOptions,
        sampling: Sampling,
    ) -> None:
        super().__init__(name, backend, prompt=prompt, sampling=sampling, decode="free")
        self.records: dict[tuple[int, int], list[Generated]] = {}

    async def act(self, turn: Turn) -> Reply:
        reply = await super().act(turn)
        meta = reply.meta
        last = (reply.messages or [{}])[-1].get("content", "")
        self.records.setdefault((turn.match_seed, turn.seat), []).append(
            Generated(
                game_id=turn.game.id,
                seed=turn.match_seed,
                seat=turn.seat,
                prompt_ids=tuple(meta["prompt_ids"]),
                reply_ids=tuple(meta["token_ids"]),
                logprobs=tuple(meta["logprobs"]),
                text=reply.text,
                prompt_tail=last[-PROMPT_TAIL_CHARS:],
                finish_reason=reply.finish_reason,
            )
        )
        return reply


def generation_prompt(include_rules: bool) -> PromptOptions:
    """The prompt of generation mode (and of its checkpoints' players)."""
    return PromptOptions(reasoning="think", include_rules=include_rules)


def episode_from_match(
    pairing: Pairing,
    result: MatchResult,
    records: dict[int, list[Generated]],
    *,
    illegal_penalty: float,
    format_reward: float = 0.0,
) -> Episode:
    """A finished match as an `Episode` of `Generated` turns: each reply marked legal or not
    (from the match's record), the returns shaped (a trainee's forfeit: `illegal_penalty` for
    it, 0 for the others; plus `format_reward` times each seat's share of well-formed replies)."""
    game = pairing.game
    opp_seat = pairing.opponent_seat if pairing.opponent is not None else None
    if result.status != "finished" or result.returns is None:
        raise RuntimeError(f"game {game.id} (seed {pairing.seed}) ended: {result.error}")
    taken = dict.fromkeys(records, 0)
    for move in result.moves:
        if move.seat < 0 or move.seat == opp_seat:
            continue
        rec = records[move.seat][taken[move.seat]]
        taken[move.seat] += 1
        attempt = move.attempts[-1]
        rec.action, rec.legal = attempt.action, attempt.legal
        rec.formatted = attempt.legal and ANSWER_MARKER.lower() in rec.text.lower()
    returns = list(result.returns)
    if result.forfeit_seat is not None and result.forfeit_seat != opp_seat:
        returns = [0.0] * game.num_players
        returns[result.forfeit_seat] = illegal_penalty
    turns = [r for s in sorted(records) for r in records[s][: taken[s]]]
    if format_reward:
        for seat, recs in records.items():
            if recs:
                returns[seat] += format_reward * sum(r.formatted for r in recs) / len(recs)
    opp = pairing.opponent.name if pairing.opponent is not None else None
    return Episode(game.id, pairing.seed, returns, turns, opp, opp_seat)  # type: ignore[arg-type]


async def play_generated(
    player: GeneratingPlayer,
    pairings: list[Pairing],
    *,
    illegal_penalty: float,
    format_reward: float = 0.0,
) -> list[Episode]:
    """Play every pairing concurrently with `player` in every seat but the pool opponent's."""
    if len({p.seed for p in pairings}) != len(pairings):
        raise ValueError("rollout seeds must be distinct")
    player.records.clear()

    async def one(p: Pairing) -> MatchResult:
        seats: list[Player] = [player] * p.game.num_players
        if p.opponent is not None:
            seats[p.opponent_seat] = p.opponent
        return await play_match(p.game, seats, p.seed, rules=GENERATE_RULES)

    results = await asyncio.gather(*(one(p) for p in pairings))
    episodes = []
    for p, result in zip(pairings, results, strict=True):
        seats = [s for s in range(p.game.num_players) if p.opponent is None or s != p.opponent_seat]
        records = {s: player.records.get((p.seed, s), []) for s in seats}
        episodes.append(
            episode_from_match(
                p, result, records, illegal_penalty=illegal_penalty, format_reward=format_reward
            )
        )
    return episodes


def generation_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    """Share of illegal answers, of well-formed ones, of replies cut at the token budget, and
    the mean reply length in tokens."""
    replies: list[Generated] = [t for ep in episodes for t in ep.turns]  # type: ignore[misc]
    n = max(1, len(replies))
    return {
        "invalid_rate": sum(not r.legal for r in replies) / n,
        "format_rate": sum(r.formatted for r in replies) / n,
        "truncated_rate": sum(r.finish_reason == "length" for r in replies) / n,
        "mean_reply_tokens": sum(r.reply_tokens for r in replies) / n,
    }


def write_samples(
    job_dir: str | Path, step: int, episodes: Sequence[Episode], limit: int = SAMPLES_PER_STEP
) -> Path:
    """Write the first `limit` replies of a rollout to `<job_dir>/samples/step-<step>.jsonl`
    (`step`: the optimizer steps the model had taken when it wrote them), one JSON object a
    line: game, seed, seat, prompt tail, reply, parsed move, legality, the seat's return."""
    folder = Path(job_dir) / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{step}.jsonl"
    lines = []
    for ep in episodes:
        for rec in ep.turns:
            if len(lines) >= limit:
                break
            data = asdict(rec)  # type: ignore[call-overload]
            for key in ("prompt_ids", "reply_ids", "logprobs"):
                data.pop(key)
            data["reply_tokens"] = rec.reply_tokens
            data["return"] = ep.returns[rec.seat]
            lines.append(json.dumps(data, ensure_ascii=False))
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path
