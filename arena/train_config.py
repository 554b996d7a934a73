"""A training job's config: one pydantic model, parsed once, used by the CLI, the TUI's form and
the trainer.

`TrainConfig` lives in the arena core rather than in `trainer/`: the core validates a config
before it writes a job, and the core never imports the trainer (see ARCHITECTURE.md). The job's
row stores it as JSON (`model_dump(mode="json")`); the trainer parses that JSON again with
`parse_config`, with the same checks. No heavy imports here (no torch): `arena --help` and the
TUI load it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from arena.errors import ArenaError
from arena.fields import problems
from arena.models.param_count import model_parameters
from arena.models.trainable import untrainable_reason
from arena.specs import INT64_MAX, INT64_MIN, MAX_TEMPERATURE

_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.+\-]{0,47}$")

# (parameters, full fine-tune lr, LoRA lr): see `TrainConfig.lr`.
LR_POINTS = ((20e6, 1e-4, 1e-4), (100e6, 2e-6, 2e-5), (4e9, 1e-6, 1e-5))
# (at least this many parameters, games per step): see `TrainConfig.batch_games`.
BATCH_POINTS = ((0, 16), (100e6, 32), (1e9, 64))


def default_lr(parameters: int | None, *, lora: bool = False) -> float:
    """The learning rate for a base of `parameters` (None: unknown, treated as tiny): the
    `LR_POINTS` table, interpolated in log-log space between its rows, held beyond them."""
    column = 2 if lora else 1
    if parameters is None or parameters <= LR_POINTS[0][0]:
        return LR_POINTS[0][column]
    for low, high in zip(LR_POINTS, LR_POINTS[1:]):
        if parameters <= high[0]:
            t = math.log(parameters / low[0]) / math.log(high[0] / low[0])
            value = math.exp(
                math.log(low[column]) + t * (math.log(high[column]) - math.log(low[column]))
            )
            return float(f"{value:.3g}")  # a figure a user can read in `train show`
    return LR_POINTS[-1][column]


def default_batch_games(parameters: int | None) -> int:
    """Games per step for a base of `parameters` (None: unknown, treated as tiny)."""
    return max(b for n, b in BATCH_POINTS if (parameters or 0) >= n)


class JobError(ArenaError, ValueError):
    """A job operation cannot be done (unknown job, bad config, wrong status, ...)."""


class TrainConfig(BaseModel):
    """A training job's settings: plain data, stored as JSON with the job. Every field has a
    default but `base`; `name` is filled in from the job's row when the trainer parses it."""

    # NaN and infinity are never a setting (`lr=inf` would pass `gt=0`).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    games: list[str] = Field(default_factory=lambda: ["kuhn_poker"], min_length=1)
    """Game ids to train on (a mixture when more than one)."""
    base: str
    """The Hugging Face model folder training starts from (stored as an absolute path)."""
    steps: int = Field(100, ge=1)
    """Optimizer steps in all (a resumed job continues up to this number)."""
    batch_games: int | None = Field(None, ge=1)
    """Games played per step (spread over `games` in turn). Default: from the base model's
    size (`default_batch_games`), filled in when the config is parsed and stored with the job:
    16 below 100M parameters (or size unknown), 32 from 100M, 64 from 1B. A larger model's
    smaller steps want a less noisy gradient, and its rollouts batch on an accelerator."""
    lr: float | None = Field(None, gt=0)
    """AdamW learning rate. Default: from the base model's size (`default_lr`), filled in when
    the config is parsed and stored with the job, so the trainer and `arena train show` see the
    value used; an explicit value always wins. By parameter count, interpolated in log-log
    space between these points and held beyond them:

    | parameters       | full fine-tune | LoRA  |
    |------------------|----------------|-------|
    | <= 20M (unknown) | 1e-4           | 1e-4  |
    | 100M             | 2e-6           | 2e-5  |
    | >= 4B            | 1e-6           | 1e-5  |

    The tiny models (tests, the shipped tictactoe model) keep 1e-4 (1e-3 collapses them to a
    pure strategy within two steps). Real models get SPIRAL's range: its code fine-tunes
    Qwen3-4B in full at 1e-6; 2e-6 at 100M (SmolLM2-135M) is the same order for a model whose
    updates move fewer, smaller weights. LoRA trains a low-rank update that starts at zero and
    needs about 10 times the step of a full fine-tune for the same change (the usual LoRA
    practice)."""
    base_parameters: int | None = Field(None, ge=0)
    """The base model's parameter count that the defaults above follow: read when the config
    is parsed (exact from the safetensors headers, else estimated from config.json), stored
    with the job; None when the folder does not tell. Give it to override the reading."""
    lr_end_ratio: float = Field(1.0, gt=0, le=1)
    """The learning rate at the last step as a share of `lr`, reached linearly (1 = constant).
    Decaying steps settle a self-play policy that otherwise circles the equilibrium."""
    policy: Literal["score", "generate"] = "score"
    """How the model plays during training. `score`: each legal move's text is scored as the
    whole reply (`direct` prompt) and the move is drawn from their softmax, so every move is
    legal. `generate`: the model writes a whole reply from the arena's `think` prompt (reasoning,
    then `Final answer: <move>`), sampled at `temperature` up to `max_new_tokens`, parsed like
    any model's reply; the loss falls on the generated tokens. An illegal, ambiguous or
    unparseable answer ends the game: that seat gets `illegal_penalty`, the others 0."""
    max_new_tokens: int = Field(64, ge=1, le=32768)
    """Generate: the token budget of a reply (a reply cut off before a move is illegal), or of
    its reasoning with `reasoning = think-then-constrained`."""
    reasoning: Literal["think", "think-then-constrained"] = "think"
    """Generate: `think`, the model writes its reasoning then `Final answer: <move>`, parsed
    (an illegal answer ends the game); `think-then-constrained`, the arena's default for local
    models: the model reasons (up to `max_new_tokens`, or until it starts its own answer), then
    the move is drawn among the legal moves from their scores after the answer marker, so every
    move is legal; the loss falls on the reasoning's tokens and on the move's choice among the
    legal moves. Checkpoints play the same way."""
    illegal_penalty: float = -1.0
    """Generate: the return of a seat whose answer is illegal, ambiguous or unparseable."""
    format_reward: float = 0.0
    """Generate: added to a seat's return, times the share of its replies that carry the answer
    marker and parse to a legal move (0 = none)."""
    algorithm: Literal["reinforce", "ppo"] = "reinforce"
    """Policy-gradient flavour."""
    ppo_epochs: int = Field(2, ge=1, le=8)
    """PPO: passes over each batch."""
    clip: float = Field(0.2, gt=0, le=1)
    """PPO: ratio clipping range (REINFORCE's importance weight is truncated at 1 + 10 * clip)."""
    kl_coef: float = Field(0.0, ge=0)
    """Weight of the KL divergence to the starting model over the legal actions (0 = none)."""
    entropy_coef: float = Field(0.01, ge=0)
    """Weight of the entropy bonus over the legal actions."""
    epsilon: float = Field(0.1, ge=0, lt=1)
    """Exploration: probability of playing a uniformly random legal action instead."""
    estimator: Literal["importance", "natural"] = "importance"
    """How a move's advantage reaches the policy: importance (REINFORCE's log-probability
    gradient, exploration corrected by truncated importance weights) or natural (the advantage
    divided by the move's behaviour probability, applied to its centred logit: the natural
    gradient of a softmax policy, which does not vanish on moves the policy has given up)."""
    magnet_coef: float = Field(0.0, ge=0)
    """Pull of the logits over the legal moves toward uniform (magnetic mirror descent; keeps
    the policy mixed where moves are near equal)."""
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    """Decay of the per-(game, seat) moving-average baseline of returns."""
    normalize_advantages: bool = False
    """Divide each (game, seat) group's advantages by their standard deviation (MARS)."""
    advantage: Literal["game", "turn"] = "game"
    """What a turn's advantage starts from. `game` (SPIRAL's role-conditioned estimate): every
    turn of a seat gets the seat's whole return. `turn` (MARS): each turn gets its seat's
    return-to-go, the turn's own reward (its share of `format_reward`) and everything after it,
    discounted by `gamma` per turn of the seat; the baseline then tracks each role's mean
    return-to-go per turn (with `normalize_advantages`, MARS's per-role normalisation)."""
    gamma: float = Field(1.0, ge=0, le=1)
    """`advantage = turn`: the discount per turn of the seat (1 = none)."""
    filter_draws: bool = False
    """Leave drawn games (every seat the same result, no forfeit) out of the loss and the
    baselines: they carry no signal on who played better. Counted in `drawn_rate`."""
    include_rules: bool = True
    """Put the game's rules in the prompt; checkpoints are registered with the same prompt (a
    tiny model learns faster from the short prompt without them)."""
    temperature: float = Field(1.0, gt=0, le=MAX_TEMPERATURE)
    """Temperature of the trained policy: softmax(scores / temperature) over the legal actions
    (at most a player's sampling temperature's bound: the checkpoint players play at it)."""
    player_temperature: float | None = Field(None, ge=0, le=MAX_TEMPERATURE)
    """Temperature of the registered checkpoint players (0 = greedy; default: `temperature`).
    Greedy and sampled play of one checkpoint are different players."""
    average_checkpoints: int = Field(4, ge=0)
    """kuhn_poker and leduc_poker: also report the exploitability of the average strategy of
    the last this many checkpoints (0 = off)."""
    checkpoint_every: int = Field(25, ge=1)
    """Save (and register as a player) a checkpoint every this many steps."""
    evaluate_start: bool = True
    """Before the first step of a fresh job (not a resumed one), measure the starting model as
    a checkpoint is measured (exploitability; with `eval_games`, evaluation games as the player
    `<name>@0`), recorded as step 0. A warm-started job's checkpoint 0 is evaluated anyway."""
    eval_games: int = Field(0, ge=0)
    """Evaluation games per checkpoint against each anchor on each game (0 = no evaluation);
    they are recorded and rated like any match."""
    anchors: list[str] = Field(default_factory=list)
    """Evaluation opponents (empty: `random`, the games' built-in bots, the last checkpoint)."""
    opponents: list[str] = Field(default_factory=list)
    """Player names for an opponent pool (built-in bots, earlier checkpoints, any registered
    player); empty = pure self-play."""
    opponent_share: float = Field(0.5, ge=0, le=1)
    """Share of each step's games played against the pool (the pool player takes one seat)."""
    population: int = Field(0, ge=0, le=16)
    """Population self-play: the job's own latest this many checkpoints (the starting model
    `<name>@0` included once registered) join the opponent pool as they are made, the oldest
    leaving; they play as registered, in the job's own mode (0 = off)."""
    warm_start: list[str] = Field(default_factory=list)
    """Players (e.g. `cfr`, `minimax`) whose recorded moves on the job's games the model imitates
    before self-play: the supervised warm start SPIRAL compares against (empty = none)."""
    warm_start_file: str = ""
    """A JSONL move file (`arena export matches --format jsonl`) to imitate instead."""
    warm_start_epochs: int = Field(2, ge=1, le=100)
    """Passes over the warm start's moves."""
    warm_start_lr: float | None = Field(None, gt=0)
    """The warm start's learning rate (default: `lr`)."""
    seed: int = Field(0, ge=INT64_MIN, le=INT64_MAX)
    """Seeds rollouts, exploration and initialisation."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train."""
    ranks: int = Field(1, ge=1, le=1024)
    """Processes the job trains on (on each node), data-parallel under torchrun (gloo on CPU;
    nccl with one GPU per rank): each plays its share of a step's games and computes the loss
    of its share, the gradients summed over ranks; rank 0 alone writes. Kept with the job, so
    a resume launches it the same way."""
    nodes: int = Field(1, ge=1, le=1024)
    """Machines the job trains on, `ranks` processes on each (torchrun's static rendezvous at
    `master`): this machine, which holds the database, is node 0; every other one runs the
    command `arena train show` prints for it. Only rank 0 reads or writes the database; the
    job's folder (checkpoints) must be on a filesystem every node sees."""
    master: str | None = None
    """With nodes above 1: HOST:PORT of node 0 (this machine), reachable from every node."""
    parallel: Literal["ddp", "fsdp"] = "ddp"
    """With ranks above 1: ddp (every rank holds the whole model, gradients summed) or fsdp
    (the trained weights, gradients and optimizer state sharded over the ranks, for a model
    that does not fit one device; generation mode, full fine-tune). Kept with the job."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype (auto: bfloat16 on GPU, float32 on CPU)."""
    rollout_engine: Literal["auto", "torch", "vllm"] = "auto"
    """Generate: what samples the rollout's replies: the trained model itself (torch), or a
    vLLM engine on the same GPU, given the policy's weights after every update (LoRA: the
    adapter, hot-loaded). auto: vLLM on CUDA where it is installed, torch otherwise."""
    vllm_gpu_memory: float = Field(0.3, gt=0, lt=1)
    """Generate with vLLM: the share of the GPU's memory the rollout engine may take (weights
    and key-value cache); the rest is the trainer's."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of every weight; checkpoints hold the adapter only
    (with the base folder's path: they play as base + adapter; `trainer.lora.merge_checkpoint`
    writes a plain folder, e.g. to export a GGUF)."""
    lora_rank: int = Field(8, ge=1, le=256)
    """LoRA: the adapters' rank."""
    loss_micro_tokens: int = Field(2048, ge=1, le=1 << 20)
    """Generate: padded tokens per micro-batch of the token loss (gradients accumulate over
    them; lower it if a step runs out of memory)."""
    gradient_checkpointing: bool = True
    """Generate: recompute activations in the backward pass instead of holding them (about 1.2-2
    GB less for SmolLM2-135M at 16 games, the update about 1.5-1.9x slower)."""
    name: str | None = None
    """The job's unique name (default: `<first game>-<job id>`); checkpoints are `<name>@<step>`."""

    @field_validator("games")
    @classmethod
    def _known_games(cls, v: list[str]) -> list[str]:
        from games import game_ids

        known = game_ids()
        for gid in v:
            if gid not in known:
                raise ValueError(f"unknown game {gid!r} (known: {', '.join(known)})")
        return v

    @field_validator("base")
    @classmethod
    def _base_is_trainable(cls, v: str) -> str:
        # Files only (config.json, weights, tokenizer, chat template): cheap, no torch.
        reason = untrainable_reason(v)
        if reason is not None:
            raise ValueError(reason)
        return str(Path(v).expanduser().resolve())

    @model_validator(mode="after")
    def _defaults_from_model_size(self) -> TrainConfig:
        # Once: the stored config carries the values, and parsing it again changes nothing.
        if self.base_parameters is None:
            self.base_parameters = model_parameters(self.base)
        if self.lr is None:
            self.lr = default_lr(self.base_parameters, lora=self.lora)
        if self.batch_games is None:
            self.batch_games = default_batch_games(self.base_parameters)
        return self

    @model_validator(mode="after")
    def _population_plays(self) -> TrainConfig:
        if self.ranks * self.nodes > 1 and (self.warm_start or self.warm_start_file):
            raise ValueError("a warm start runs on one rank: start the job with ranks=1")
        if self.nodes > 1 and not _HOST_PORT_RE.match(self.master or ""):
            raise ValueError("nodes above 1 need master: HOST:PORT of this machine (node 0)")
        if self.parallel == "fsdp":
            if self.ranks * self.nodes < 2:
                raise ValueError(
                    "parallel fsdp shards the model over ranks: it needs ranks 2 or more"
                )
            if self.policy != "generate":
                raise ValueError(
                    "parallel fsdp trains generation mode (policy generate); score mode's small "
                    "models train with ddp"
                )
            if self.lora:
                raise ValueError("parallel fsdp trains every weight: with lora, use ddp")
        if self.rollout_engine == "vllm" and self.policy != "generate":
            raise ValueError("rollout_engine vllm samples replies: it needs policy generate")
        if self.rollout_engine == "vllm" and self.device == "cpu":
            raise ValueError("rollout_engine vllm runs on a GPU: it needs device cuda or auto")
        if self.population and self.opponent_share == 0:
            raise ValueError(
                "population needs opponent_share above 0: its members play the pool's share"
            )
        return self

    @field_validator("warm_start_file")
    @classmethod
    def _warm_start_file_exists(cls, v: str) -> str:
        if not v:
            return v
        path = Path(v).expanduser()
        if not path.is_file():
            raise ValueError(f"no such file: {v}")
        return str(path.resolve())  # the trainer may run from another folder

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME_RE.match(v):
            raise ValueError(
                "a job name is 1-48 characters: letters, digits and _ . + - (starting with a letter)"
            )
        return v


def parse_config(data: dict[str, Any]) -> TrainConfig:
    """Validate config data; `JobError` with every problem on one line."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        sentences = [p.sentence() for p in problems(exc)]
        raise JobError("invalid job config: " + "; ".join(sentences)) from None
