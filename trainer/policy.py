"""The trainable policy: a causal language model scoring every legal action of a position.

A position is prompted exactly like the arena's language-model player in scored play (`direct`
reasoning: rules, observation, legal moves, "reply with your move only"), rendered with the
tokenizer's chat template. An action's score is the log-probability of its text as the whole
assistant reply (the sum over its tokens, no end-of-turn token), as the transformers backend
computes it; the policy over the legal actions is softmax(scores / temperature).

Positions are kept as token ids (`Position`) from the moment they are built: the loss scores the
very ids the rollout scored, never a decoded and re-tokenized text. Every candidate of a
position is scored in one row of one forward pass: the row holds the prompt, then each
candidate's tokens, with a 4D attention mask that lets a candidate see the prompt and its own
earlier tokens only (prefix sharing), so the prompt is computed once per position.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.players.base import Turn
from arena.prompts import PromptOptions, answer_text, build_messages
from games import Game, State

if TYPE_CHECKING:
    from games.analysis import GameTree

# Positions per forward pass when no gradient is needed (exploitability, rollouts).
SCORE_CHUNK = 32


@dataclass(frozen=True)
class Position:
    """One decision as token ids: the rendered prompt and each legal action's reply."""

    prompt: tuple[int, ...]
    candidates: tuple[tuple[int, ...], ...]
    actions: tuple[str, ...]


def softmax(values: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Probabilities proportional to exp(value / temperature)."""
    scaled = [v / temperature for v in values]
    top = max(scaled)
    exps = [math.exp(v - top) for v in scaled]
    total = sum(exps)
    return [e / total for e in exps]


class ActionPolicy:
    """A model and its tokenizer as a policy over legal actions.

    `probabilities` is cached per position until `invalidate()` (call it after every optimizer
    step): within a rollout the same information set met in many games is scored once.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: Any = "cpu",
        *,
        temperature: float = 1.0,
        prompt: PromptOptions | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.temperature = temperature
        # Scored play answers in `direct` mode, as `LLMPlayer` forces for decode="score".
        self.prompt = prompt or PromptOptions(reasoning="direct")
        self._positions: dict[Hashable, Position] = {}
        self._probs: dict[Position, list[float]] = {}
        self._pad = pad_id(tokenizer)

    # --- positions -------------------------------------------------------------------------
    def position(self, turn: Turn) -> Position:
        """The turn's prompt and candidates as token ids (cached by the messages' text)."""
        messages = build_messages(turn, self.prompt)
        key = (tuple(tuple(sorted(m.items())) for m in messages), tuple(turn.legal_actions))
        pos = self._positions.get(key)
        if pos is None:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            prompt = tuple(self.tokenizer.encode(text, add_special_tokens=False))
            cands = tuple(
                tuple(self.tokenizer.encode(answer_text(a, "direct"), add_special_tokens=False))
                for a in turn.legal_actions
            )
            if any(not c for c in cands):
                raise ValueError(f"an action encodes to no tokens: {turn.legal_actions}")
            pos = Position(prompt, cands, tuple(turn.legal_actions))
            self._positions[key] = pos
        return pos

    def position_for_state(self, game: Game, state: State) -> Position:
        """The position of the player to move in `state` (for analysis outside a match)."""
        seat = state.current_player()
        turn = Turn(
            game=game,
            state=state.clone(),
            seat=seat,
            legal_actions=state.legal_actions(),
            rng=random.Random(0),  # unused: building a prompt draws nothing
            move_index=0,
        )
        return self.position(turn)

    # --- scoring ---------------------------------------------------------------------------
    def scores(self, positions: Sequence[Position]) -> list[Any]:
        """Each position's candidate log-probabilities, a float32 tensor per position, in one
        batched forward pass; differentiable (wrap in `torch.no_grad()` when not training)."""
        import torch

        if not positions:
            return []
        rows: list[list[int]] = []
        spans: list[list[tuple[int, int]]] = []  # per candidate: (first input slot, length)
        for pos in positions:
            ids = list(pos.prompt)
            own = []
            for cand in pos.candidates:
                own.append((len(ids), len(cand) - 1))
                ids.extend(cand[:-1])  # a candidate's last token is predicted, never input
            rows.append(ids)
            spans.append(own)
        width = max(map(len, rows))
        batch = len(rows)
        input_ids = torch.full((batch, width), self._pad, dtype=torch.long)
        position_ids = torch.zeros((batch, width), dtype=torch.long)
        allowed = torch.zeros((batch, width, width), dtype=torch.bool)
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        needed: set[int] = set()  # row slots whose next-token logits are read
        for b, (ids, pos, own) in enumerate(zip(rows, positions, spans, strict=True)):
            n_prompt = len(pos.prompt)
            input_ids[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            position_ids[b, :n_prompt] = torch.arange(n_prompt)
            allowed[b, :n_prompt, :n_prompt] = causal[:n_prompt, :n_prompt]
            needed.add(n_prompt - 1)
            for start, n in own:
                stop = start + n
                position_ids[b, start:stop] = torch.arange(n_prompt, n_prompt + n)
                allowed[b, start:stop, :n_prompt] = True
                allowed[b, start:stop, start:stop] = causal[:n, :n]
                needed.update(range(start, stop))
            for j in range(len(ids), width):  # padding sees itself only (no empty rows)
                allowed[b, j, j] = True
        keep = sorted(needed)
        slot = {s: k for k, s in enumerate(keep)}
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros((batch, 1, width, width), dtype=dtype)
        mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=position_ids.to(self.device),
            use_cache=False,
            # Only the slots that predict candidate tokens reach the output head.
            logits_to_keep=torch.tensor(keep, dtype=torch.long, device=self.device),
        )
        logits = out.logits.float()  # (batch, len(keep), vocab)
        norm = torch.logsumexp(logits, dim=-1)
        rows_idx: list[int] = []
        cols_idx: list[int] = []
        targets: list[int] = []
        owners: list[tuple[int, int]] = []  # (position, candidate) of every target token
        for b, (pos, own) in enumerate(zip(positions, spans, strict=True)):
            n_prompt = len(pos.prompt)
            for c, (cand, (start, _n)) in enumerate(zip(pos.candidates, own, strict=True)):
                for k, token in enumerate(cand):
                    src = n_prompt - 1 if k == 0 else start + k - 1
                    rows_idx.append(b)
                    cols_idx.append(slot[src])
                    targets.append(token)
                    owners.append((b, c))
        r = torch.tensor(rows_idx, device=logits.device)
        k = torch.tensor(cols_idx, device=logits.device)
        t = torch.tensor(targets, device=logits.device)
        token_logp = logits[r, k, t] - norm[r, k]
        # Sum the tokens of each candidate: scatter into one flat slot per candidate.
        offsets, total = [], 0
        for pos in positions:
            offsets.append(total)
            total += len(pos.candidates)
        flat = torch.tensor([offsets[b] + c for b, c in owners], device=logits.device)
        summed = torch.zeros(total, device=logits.device).index_add(0, flat, token_logp)
        return [
            summed[offsets[b] : offsets[b] + len(pos.candidates)] for b, pos in enumerate(positions)
        ]

    def probabilities(self, positions: Sequence[Position]) -> list[list[float]]:
        """softmax(scores / temperature) for each position, computed without gradients for
        the positions not seen since the last `invalidate()`."""
        import torch

        missing = list(dict.fromkeys(p for p in positions if p not in self._probs))
        for i in range(0, len(missing), SCORE_CHUNK):
            chunk = missing[i : i + SCORE_CHUNK]
            with torch.no_grad():
                scored = self.scores(chunk)
            for pos, s in zip(chunk, scored, strict=True):
                self._probs[pos] = softmax(s.tolist(), self.temperature)
        return [self._probs[p] for p in positions]

    def invalidate(self) -> None:
        """Forget cached probabilities (the model changed)."""
        self._probs.clear()

    # --- as a games.analysis policy ------------------------------------------------------------
    def policy_fn(self, game: Game) -> Callable[[State], Mapping[str, float]]:
        """A `games.analysis` policy: state -> {action: probability} at this temperature."""

        def policy(state: State) -> Mapping[str, float]:
            pos = self.position_for_state(game, state)
            (probs,) = self.probabilities([pos])
            return dict(zip(pos.actions, probs, strict=True))

        return policy


def exact_exploitability(policy: ActionPolicy, game: Game, tree: GameTree | None = None) -> float:
    """The policy's exact exploitability (two-player games small enough for a full tree):
    every information set is scored first, in batches, then `games.analysis` reads the cache."""
    from games.analysis import GameTree, exploitability

    tree = tree or GameTree.build(game)
    policy.probabilities([policy.position_for_state(game, s) for s in tree.infoset_state])
    return exploitability(tree, policy.policy_fn(game))


def policy_table(
    policy: ActionPolicy, game: Game, tree: GameTree | None = None
) -> dict[str, dict[str, float]]:
    """The policy at every information set of a small two-player game, as plain data keyed
    "<seat>\t<information state>" (what a checkpoint stores for averaging later)."""
    from games.analysis import GameTree

    tree = tree or GameTree.build(game)
    fn = policy.policy_fn(game)
    policy.probabilities([policy.position_for_state(game, s) for s in tree.infoset_state])
    return {
        f"{seat}\t{key}": dict(fn(state))
        for (seat, key), state in zip(tree.infoset_keys, tree.infoset_state, strict=True)
    }


def table_policy(
    table: Mapping[str, Mapping[str, float]],
) -> Callable[[State], Mapping[str, float]]:
    """A `games.analysis` policy from a `policy_table`."""

    def policy(state: State) -> Mapping[str, float]:
        seat = state.current_player()
        return table[f"{seat}\t{state.information_state(seat)}"]

    return policy


def pad_id(tokenizer: Any) -> int:
    """The id that pads a batch: the pad token, else the end-of-sequence token, else 0."""
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0
