"""A training job's settings as plain data (a stand-in for `trainer.config.TrainConfig`).

The job's row stores its config as a JSON object; `Settings.from_config` reads it, with
defaults for what is missing and a clear error for what is unknown or out of range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Algorithm = Literal["reinforce", "ppo"]


@dataclass
class Settings:
    """What a self-play job does; every field has a default except `games` and `base`."""

    games: list[str] = field(default_factory=lambda: ["kuhn_poker"])
    """Game ids to play; each step's games are spread over them in turn."""
    base: str = ""
    """The starting model: a local Hugging Face folder."""
    steps: int = 100
    """Optimizer steps in all (a resumed job continues up to this)."""
    batch_games: int = 16
    """Self-play games per step."""
    lr: float = 1e-4
    """AdamW learning rate; 1e-3 collapses the tiny model's policy to a pure one in two steps."""
    lr_end_ratio: float = 1.0
    """The learning rate at the last step as a share of `lr`, reached linearly (1: constant).
    Decaying steps settle a self-play policy that otherwise circles the equilibrium."""
    algorithm: Algorithm = "reinforce"
    ppo_epochs: int = 2
    """Passes over each step's batch with PPO (1-2)."""
    clip: float = 0.2
    """PPO's ratio clip (the importance weight of REINFORCE is clipped at 1 + 10 * clip)."""
    kl_coef: float = 0.0
    """Weight of the KL divergence to the starting model over the legal actions (0: off)."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus over the legal actions."""
    epsilon: float = 0.1
    """Probability of a uniformly random legal move (exploration, importance-corrected)."""
    estimator: str = "importance"
    """importance (truncated pi/mu weights) or natural (1/mu: every move's advantage)."""
    magnet_coef: float = 0.0
    """Pull of the logits over the legal actions toward uniform (magnetic mirror descent)."""
    baseline_decay: float = 0.9
    """EMA decay of the per (game, seat) return baseline."""
    normalize_advantages: bool = False
    """Divide each (game, seat) group's advantages by its standard deviation (MARS)."""
    include_rules: bool = True
    """Put the game's rules in the prompt (the checkpoint players are registered the same way;
    a tiny model learns faster from the short prompt without them)."""
    temperature: float = 1.0
    """The policy over legal actions is softmax(scores / temperature)."""
    player_temperature: float | None = None
    """The temperature checkpoints are registered (and evaluated) with: 0 is greedy play, a
    different player from sampled play (default: `temperature`, the trained policy)."""
    average_checkpoints: int = 4
    """For kuhn_poker and leduc_poker, also the exploitability of the average strategy of the
    last this many checkpoints (`exploitability_avg/<game>`; 0: off)."""
    checkpoint_every: int = 25
    eval_games: int = 0
    """Evaluation games per checkpoint against each anchor on each game (0: none)."""
    anchors: list[str] = field(default_factory=list)
    """Evaluation opponents (empty: `random`, the games' built-in bots, the last checkpoint)."""
    opponents: list[str] = field(default_factory=list)
    """Opponent pool (empty: pure self-play)."""
    opponent_share: float = 0.5
    """Share of each step's games played against the pool (one seat the opponent's)."""
    warm_start: list[str] = field(default_factory=list)
    """Players whose recorded moves (in the job's database, on the job's games) the model
    imitates before self-play starts: a supervised warm start (empty: none)."""
    warm_start_file: str = ""
    """A move file from `arena export matches --format jsonl` to imitate instead."""
    warm_start_epochs: int = 2
    warm_start_lr: float | None = None
    """The warm start's learning rate (default: `lr`)."""
    seed: int = 0
    device: str = "auto"
    """auto (cuda when available, else cpu), cpu, cuda, cuda:1."""
    dtype: str = "auto"
    """auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16."""
    lora: bool = False
    """Train LoRA adapters (needs peft) instead of every weight."""
    lora_rank: int = 8
    name: str = "job"
    """The job's name; checkpoints register as `<name>@<step>`."""

    def __post_init__(self) -> None:
        if isinstance(self.games, str):
            self.games = [self.games]
        if not self.games:
            raise ValueError("games: at least one game id")
        if self.estimator not in ("importance", "natural"):
            raise ValueError(f"estimator: {self.estimator!r} is not importance or natural")
        if self.algorithm not in ("reinforce", "ppo"):
            raise ValueError(f"algorithm: {self.algorithm!r} is not reinforce or ppo")
        checks = {
            "steps": self.steps >= 0,
            "batch_games": self.batch_games >= 1,
            "lr": self.lr > 0,
            "lr_end_ratio": 0 < self.lr_end_ratio <= 1,
            "ppo_epochs": self.ppo_epochs >= 1,
            "clip": self.clip > 0,
            "kl_coef": self.kl_coef >= 0,
            "entropy_coef": self.entropy_coef >= 0,
            "epsilon": 0 <= self.epsilon < 1,
            "opponent_share": 0 <= self.opponent_share <= 1,
            "magnet_coef": self.magnet_coef >= 0,
            "lora_rank": self.lora_rank >= 1,
            "warm_start_epochs": self.warm_start_epochs >= 1,
            "warm_start_lr": self.warm_start_lr is None or self.warm_start_lr > 0,
            "baseline_decay": 0 <= self.baseline_decay < 1,
            "temperature": self.temperature > 0,
            "checkpoint_every": self.checkpoint_every >= 1,
            "average_checkpoints": self.average_checkpoints >= 0,
            "player_temperature": self.player_temperature is None or self.player_temperature >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        bad += [  # infinity passes the range checks above (NaN fails them)
            f.name
            for f in fields(self)
            if isinstance(getattr(self, f.name), float)
            and not math.isfinite(getattr(self, f.name))
            and f.name not in bad
        ]
        if bad:
            raise ValueError(f"out of range: {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        """Build from a job's JSON config. Keys this class does not know are left out: the job
        machinery's own config (`trainer.config`) validates the whole of it."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in known})

    def to_config(self) -> dict[str, Any]:
        """The JSON-ready dict `from_config` reads back."""
        return asdict(self)
