"""Generation mode's rollouts: the trained model writes whole replies, reasoning included.

The trained model plays as an arena `LLMPlayer`: with `think` reasoning and free decoding (the
reply parsed by the match loop, `arena.match.attempt_from_reply`), or with
`think-then-constrained` reasoning and scored answers (the reasoning sampled freely, then the
move drawn among the legal moves from their scores after the answer marker). The messages are
the arena's own (`arena.prompts`), rendered with the tokenizer's chat template as the
transformers backend renders them, so a checkpoint registered with the same prompt and
sampling plays the way it was trained. Only the backend is the trainer's own
(`PolicyBackend`): it samples from the model being trained at the policy's temperature, the
concurrent games' replies in one batch, and keeps what the loss needs, the prompt's ids, the
sampled ids and each sampled token's log-probability at sampling time (for PPO's ratio): the
loss never re-tokenizes what the model generated. (A scored answer's context, the reasoning
and the marker, is the text the arena's player scores after, tokenized as it tokenizes it.)

An illegal answer is an outcome: the matches are played with no retry and forfeit
(`GENERATE_RULES`); the forfeiting seat's return is then `illegal_penalty` and the other seats'
0 (a trainee's own mistake rewards nobody's earlier moves). A pool opponent that forfeits
loses as in any match.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from arena.backends.base import Backend, Generation, Message, Sampling, split_continuation
from arena.match import MatchResult, MatchRules, play_match
from arena.players.base import Player, Reply, Turn
from arena.players.llm import LLMPlayer, softmax
from arena.prompts import PromptOptions
from games.parsing import ANSWER_MARKER
from trainer.policy import Position, pad_id
from trainer.rollout import Episode, Pairing
from trainer.tick_batch import TickBatcher

# No second try, and an illegal answer ends the game (the seat's return: `illegal_penalty`).
GENERATE_RULES = MatchRules(retries=0, on_exhausted="forfeit")
PROMPT_TAIL_CHARS = 400  # of the prompt's last message, in the samples file
SAMPLES_PER_STEP = 16
# Replies sampled together at most (rows of one batch of the rollout's generation).
MAX_BATCH = 32


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
    reward: float = 0.0  # the reply's own reward: its share of the format reward
    # A scored answer (`think-then-constrained`): the reasoning above, then the move drawn
    # among the legal moves from softmax(scores / temperature) after the answer marker.
    answer_prompt: tuple[int, ...] = ()  # the prompt, the reasoning and the marker, as scored
    answer_candidates: tuple[tuple[int, ...], ...] = ()  # each legal move's ids
    answer_index: int = -1  # the move drawn
    answer_logprob: float = 0.0  # its log-probability when it was drawn

    @property
    def scored(self) -> bool:
        """Whether the move was drawn among the legal moves after the reasoning."""
        return self.answer_index >= 0

    @property
    def reply_tokens(self) -> int:
        """Tokens the model generated for this reply."""
        return len(self.reply_ids)


class PolicyBackend(Backend):
    """The model being trained as an arena backend, one request at a time (the model is small
    and on the trainer's own device): free generation, with the sampled ids and their
    log-probabilities in `Generation.meta` ("prompt_ids", "logprobs"), and scoring of the legal
    moves after a reply in progress (`think-then-constrained`), with the trainer's
    `ActionPolicy` as the transformers backend scores them.

    Replies asked for by concurrent games in the same turn of the event loop are sampled in
    one batch (up to `max_batch` rows). Scoring does not suspend: `last_scored` is the
    scoring of the `act` that just called it."""

    kind = "trainer"
    can_score = True
    can_continue = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: Any = "cpu",
        scorer: Any = None,
        max_batch: int = MAX_BATCH,
        sampler: Any = None,
    ) -> None:
        from arena.backends.transformers_backend import _eos_ids  # the backend's stop set

        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.scorer = scorer  # an ActionPolicy on the same model (for `score`)
        self.eos_ids = frozenset(_eos_ids(model, tokenizer))
        self.last_scored: tuple[Position, list[float]] | None = None
        self.max_batch = max_batch
        self.pad_id = pad_id(tokenizer)
        self.batches: list[int] = []  # the size of every batch sampled (for the metrics)
        # What samples a batch of requests (default: the model itself, `sample_replies`); a
        # vLLM engine's `sample` when the job's rollouts run on one (`trainer.vllm_rollout`).
        self.sampler = sampler
        self._batcher: TickBatcher[SampleRequest, Any] = TickBatcher(self._sample_batch)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The messages as the transformers backend feeds them: the chat template with the
        assistant turn opened (and a reply in progress after it), tokenized without adding
        special tokens again."""
        head, written = split_continuation(list(messages))
        text = self.tokenizer.apply_chat_template(
            [dict(m) for m in head], tokenize=False, add_generation_prompt=True
        )
        return list(self.tokenizer.encode(text + written, add_special_tokens=False))

    def _sample_batch(
        self, requests: list[SampleRequest]
    ) -> list[tuple[list[int], list[float], str]]:
        """The replies the games asked for in one turn of the event loop, sampled together
        (`max_batch` rows at a time)."""
        if self.sampler is not None:  # an engine that batches on its own
            self.batches.append(len(requests))
            return list(self.sampler(requests))
        out = []
        for i in range(0, len(requests), self.max_batch):
            part = requests[i : i + self.max_batch]
            out += sample_replies(
                self.model, part, eos_ids=self.eos_ids, device=self.device, pad_id=self.pad_id
            )
            self.batches.append(len(part))
        return out

    async def score(self, messages: list[Message], candidates: list[str]) -> list[float]:
        """Each candidate's summed log-probability after the messages (no gradient)."""
        import torch

        if self.scorer is None:
            raise NotImplementedError("this trainer backend has no scorer")
        encode = self.tokenizer.encode
        pos = Position(
            tuple(self.prompt_ids(messages)),
            tuple(tuple(encode(c, add_special_tokens=False)) for c in candidates),
            tuple(candidates),
        )
        with torch.no_grad():
            scores = [float(v) for v in self.scorer.scores([pos])[0]]
        self.last_scored = (pos, scores)
        return scores

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
        stops = [s for s in sampling.stop if s]
        cut: list[int] = []  # where the text stops (at a stop string), once one is written

        def stopped(ids: list[int]) -> bool:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            at = [text.find(s) for s in stops if s in text]
            if at:
                cut.append(min(at))
            return bool(at)

        request = SampleRequest(
            prompt,
            sampling.temperature,
            sampling.max_tokens,
            sampling.seed or 0,
            stopped if stops else None,
            tuple(stops),
        )
        ids, logps, finish = await self._batcher.submit(request)
        body = ids[:-1] if ids and ids[-1] in self.eos_ids else ids
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        if cut:
            text = text[: cut[0]]
        if on_text is not None:
            on_text(text)
        gen = Generation(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            finish_reason=finish,
            token_ids=ids,
            meta={"prompt_ids": prompt, "logprobs": logps},
        )
        return gen


@dataclass
class SampleRequest:
    """One reply to sample: its prompt's ids, temperature, token budget, seed and an optional
    `stop(ids)` test run after each token (the torch sampler's form of `stop_strings`, the
    strings that end the reply, which an engine matches itself)."""

    prompt: Sequence[int]
    temperature: float
    max_new_tokens: int
    seed: int
    stop: Any = None
    stop_strings: tuple[str, ...] = ()


def sample_reply(
    model: Any,
    prompt: Sequence[int],
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    eos_ids: frozenset[int],
    device: Any = "cpu",
    stop: Any = None,
) -> tuple[list[int], list[float], str]:
    """Sample one reply token by token from softmax(logits / temperature), with the model's
    key-value cache; returns the ids, each one's log-probability under that distribution, and
    "stop" (an end-of-turn token, kept as the last id, or `stop(ids)` true after a token) or
    "length". (`sample_replies` with one request.)"""
    request = SampleRequest(prompt, temperature, max_new_tokens, seed, stop)
    return sample_replies(model, [request], eos_ids=eos_ids, device=device)[0]


def sample_replies(
    model: Any,
    requests: Sequence[SampleRequest],
    *,
    eos_ids: frozenset[int],
    device: Any = "cpu",
    pad_id: int = 0,
) -> list[tuple[list[int], list[float], str]]:
    """Sample several replies together: the prompts left-padded into one batch (masked, with
    their own positions), one forward pass per token for every row still writing; each row
    draws from its own seeded generator at its own temperature and stops on its own (eos, its
    `stop`, its budget), and finished rows leave the batch. Returns (ids, log-probabilities,
    finish) per request, as `sample_reply` gives them."""
    import torch

    from arena.backends.torch_cache import cache_kwargs, output_cache

    n = len(requests)
    if n == 0:
        return []
    width = max(len(r.prompt) for r in requests)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for b, r in enumerate(requests):
        input_ids[b, width - len(r.prompt) :] = torch.tensor(list(r.prompt), dtype=torch.long)
        mask[b, width - len(r.prompt) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = [torch.Generator().manual_seed(r.seed) for r in requests]
    temps = torch.tensor([[r.temperature] for r in requests], dtype=torch.float32)
    ids: list[list[int]] = [[] for _ in requests]
    logps: list[list[float]] = [[] for _ in requests]
    finish = ["length"] * n
    rows = list(range(n))  # the requests still writing, in batch order
    step_ids, step_pos, past, out = input_ids, positions, None, None
    padded = n > 1 and any(len(r.prompt) != width for r in requests)
    with torch.no_grad():
        while rows:
            kwargs: dict[str, Any] = {}
            if padded:
                kwargs = dict(attention_mask=mask.to(device), position_ids=step_pos.to(device))
            out = model(
                input_ids=step_ids.to(device),
                use_cache=True,
                logits_to_keep=1,  # the prompt's pass needs its last position's logits only
                **kwargs,
                **cache_kwargs(model, past),
            )
            past = output_cache(out)
            logp = torch.log_softmax(out.logits[:, -1].float().cpu() / temps, dim=-1)
            tokens, keep = [], []
            for k, b in enumerate(rows):
                r = requests[b]
                token = int(torch.multinomial(logp[k].exp(), 1, generator=generators[b]))
                ids[b].append(token)
                logps[b].append(float(logp[k, token]))
                if token in eos_ids or (r.stop is not None and r.stop(ids[b])):
                    finish[b] = "stop"
                elif len(ids[b]) < r.max_new_tokens:
                    keep.append(k)
                    tokens.append(token)
            if len(keep) < len(rows):
                if not keep:
                    break
                index = torch.tensor(keep, dtype=torch.long)
                past.batch_select_indices(index.to(device))
                mask, step_pos, temps = mask[index], step_pos[index], temps[index]
                rows = [rows[k] for k in keep]
            step_ids = torch.tensor(tokens, dtype=torch.long)[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=torch.long)], dim=-1)
    del out, past  # the key-value cache goes before the next replies (or the loss) start
    return [(ids[b], logps[b], finish[b]) for b in range(n)]


class GeneratingPlayer(LLMPlayer):
    """An `LLMPlayer` on a `PolicyBackend` that records every reply it samples, per (match
    seed, seat): shared by every seat and game of a rollout. With the `think` prompt it writes
    free text (parsed by the game); with `think-then-constrained` it reasons up to the prompt's
    `reasoning_tokens`, then its move is drawn among the legal moves from their scores after
    the answer marker (the arena's `score` decoding), so every move is legal."""

    def __init__(
        self,
        name: str,
        backend: PolicyBackend,
        *,
        prompt: PromptOptions,
        sampling: Sampling,
    ) -> None:
        decode = "score" if prompt.reasoning == "think-then-constrained" else "free"
        super().__init__(name, backend, prompt=prompt, sampling=sampling, decode=decode)
        self.records: dict[tuple[int, int], list[Generated]] = {}

    async def act(self, turn: Turn) -> Reply:
        backend: PolicyBackend = self.backend  # type: ignore[assignment]
        reply = await super().act(turn)
        scored = backend.last_scored  # (scoring never suspends: this act's own)
        backend.last_scored = None
        last = (reply.messages or [{}])[-1].get("content", "")
        if self.decode == "score":
            assert scored is not None and reply.action is not None
            pos, scores = scored
            index = turn.legal_actions.index(reply.action)
            tempered = softmax(scores, self.sampling.temperature)
            meta = reply.meta["reasoning_generation"]
            text = f"{reply.reasoning or ''}\n{reply.text}".strip()
            answer = dict(
                answer_prompt=pos.prompt,
                answer_candidates=pos.candidates,
                answer_index=index,
                answer_logprob=math.log(max(tempered[index], 1e-300)),
            )
            finish = reply.meta.get("reasoning_finish")
        else:
            meta, text, answer, finish = reply.meta, reply.text, {}, reply.finish_reason
        self.records.setdefault((turn.match_seed, turn.seat), []).append(
            Generated(
                game_id=turn.game.id,
                seed=turn.match_seed,
                seat=turn.seat,
                prompt_ids=tuple(meta["prompt_ids"]),
                reply_ids=tuple(meta["token_ids"]),
                logprobs=tuple(meta["logprobs"]),
                text=text,
                prompt_tail=last[-PROMPT_TAIL_CHARS:],
                finish_reason=finish,
                **answer,  # type: ignore[arg-type]
            )
        )
        return reply


def generation_prompt(
    include_rules: bool, reasoning: str = "think", reasoning_tokens: int = 64
) -> PromptOptions:
    """The prompt of generation mode (and of its checkpoints' players): `think` (free text,
    parsed) or `think-then-constrained` (reasoning up to `reasoning_tokens`, then a scored
    move)."""
    return PromptOptions(
        reasoning=reasoning,  # type: ignore[arg-type]
        include_rules=include_rules,
        reasoning_tokens=reasoning_tokens,
    )


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
    outcome = list(returns)
    turns = [r for s in sorted(records) for r in records[s][: taken[s]]]
    if format_reward:
        for seat in records:
            recs = records[seat][: taken[seat]]
            for rec in recs:  # each reply's share, so a turn-level return can credit it
                rec.reward = format_reward * rec.formatted / len(recs)
                returns[seat] += rec.reward
    opp = pairing.opponent.name if pairing.opponent is not None else None
    return Episode(
        game.id,
        pairing.seed,
        returns,
        turns,  # type: ignore[arg-type]
        opp,
        opp_seat,
        outcome=outcome,
        forfeit=result.forfeit_seat is not None,
    )


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
        "rollout_tokens": float(sum(r.reply_tokens for r in replies)),
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
            for key in ("prompt_ids", "reply_ids", "logprobs", "answer_prompt"):
                data.pop(key)
            data.pop("answer_candidates")
            data["reply_tokens"] = rec.reply_tokens
            data["return"] = ep.returns[rec.seat]
            lines.append(json.dumps(data, ensure_ascii=False))
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path
