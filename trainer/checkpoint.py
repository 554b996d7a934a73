"""Checkpoints: `<job dir>/step-<N>/` holds everything a resumed job needs.

- the model (`save_pretrained`, safetensors) and its tokenizer: a Hugging Face folder that the
  arena's transformers backend loads as a player;
- for a LoRA job, the adapters alone instead of the model (peft's `adapter_config.json` and
  `adapter_model.safetensors`, a few MB rather than the whole model), with the tokenizer;
  `adapter_config.json` names the base folder by its absolute path, and transformers (with
  peft installed) loads such a folder as base + adapters, so it still plays as a player.
  Resuming loads the adapters onto the base (`trainer.lora.load_adapter`). `merge_checkpoint`
  writes a plain folder (for the GGUF export, or a machine without peft). Older LoRA
  checkpoints (merged weights plus `adapter/`) still resume and play;
- `trainer_state.pt`: the step, the optimizer's state, the EMA baselines and the random
  generators' states.

A checkpoint is written under a temporary name and renamed into place, so a job killed while
saving leaves the previous checkpoint as the latest.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where a checkpoint is and when it is complete is the arena's to say too (`arena train
# resume` reports the step a job resumes from, and the arena never imports the trainer).
from arena.jobs import CHECKPOINT_STATE_FILE as STATE_FILE
from arena.jobs import list_checkpoints
from trainer.crash import crash_point

ADAPTER_DIR = "adapter"  # older LoRA checkpoints: the adapters, beside merged weights


@dataclass
class TrainingState:
    """What `trainer_state.pt` holds besides the weights."""

    step: int
    optimizer: dict[str, Any]
    baselines: dict[str, float]
    python_rng: Any = None
    torch_rng: Any = None
    cuda_rng: Any = None


def checkpoint_dir(job_dir: str | Path, step: int) -> Path:
    return Path(job_dir) / f"step-{step}"


def save_checkpoint(
    job_dir: str | Path,
    step: int,
    model: Any,
    tokenizer: Any,
    optimizer: Any,
    baselines: dict[str, float],
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write `<job_dir>/step-<step>/` (replacing one of that step) and return its path.
    `optimizer_state`: the optimizer's state as gathered already (a sharded one's)."""
    import torch

    final = checkpoint_dir(job_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    from trainer.lora import is_lora, save_adapter

    if is_lora(model):
        save_adapter(model, tmp)  # the base is named by its absolute path: it plays as is
        tokenizer.save_pretrained(tmp)
    else:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    state = {
        "step": step,
        "optimizer": optimizer.state_dict() if optimizer_state is None else optimizer_state,
        "baselines": dict(baselines),
        "python_rng": _plain(random.getstate()),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    torch.save(state, tmp / STATE_FILE)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    crash_point("after_checkpoint_rename", step)
    return final


def adapter_folder(checkpoint: str | Path) -> Path | None:
    """Where a LoRA checkpoint's adapters are (the folder itself, or an older checkpoint's
    `adapter/`); None for a checkpoint of a full fine-tune."""
    for folder in (Path(checkpoint), Path(checkpoint) / ADAPTER_DIR):
        if (folder / "adapter_config.json").is_file():
            return folder
    return None


def merge_checkpoint(checkpoint: str | Path, out: str | Path) -> Path:
    """Write a LoRA checkpoint as a plain Hugging Face folder (its base with the adapters
    merged in) at `out`; a full fine-tune's checkpoint is copied (weights, config, tokenizer)."""
    out = Path(out)
    adapters = adapter_folder(checkpoint)
    if adapters is None:
        shutil.copytree(checkpoint, out, ignore=shutil.ignore_patterns(STATE_FILE))
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.lora import adapter_base, load_adapter, save_merged

    base = AutoModelForCausalLM.from_pretrained(adapter_base(adapters))
    model = load_adapter(base, adapters)
    return save_merged(model, AutoTokenizer.from_pretrained(str(checkpoint)), out)


def latest_checkpoint(job_dir: str | Path) -> Path | None:
    """The checkpoint with the highest step, or None."""
    found = list_checkpoints(job_dir)
    return found[-1][1] if found else None


def load_training_state(path: str | Path) -> TrainingState:
    """Read a checkpoint's `trainer_state.pt` (tensors and plain data only)."""
    import torch

    data = torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=True)
    return TrainingState(
        step=int(data["step"]),
        optimizer=data["optimizer"],
        baselines={k: float(v) for k, v in data["baselines"].items()},
        python_rng=data.get("python_rng"),
        torch_rng=data.get("torch_rng"),
        cuda_rng=data.get("cuda_rng"),
    )


def restore_rng(state: TrainingState) -> None:
    """Put the random generators back where the checkpoint left them."""
    import torch

    if state.python_rng is not None:
        version, inner, gauss = state.python_rng
        random.setstate((version, tuple(inner), gauss))
    if state.torch_rng is not None:
        torch.set_rng_state(state.torch_rng)
    if state.cuda_rng is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state.cuda_rng)


def _plain(rng_state: tuple) -> list:
    # (version, tuple of ints, gauss) as lists: loadable with weights_only=True.
    version, inner, gauss = rng_state
    return [version, list(inner), gauss]
