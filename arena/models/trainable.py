"""Whether a folder holds a model the trainer can start from, checked cheaply (no torch).

The trainer loads a base with transformers (`AutoModelForCausalLM`, `AutoTokenizer`) and builds
prompts with the tokenizer's chat template, so a folder needs config.json naming a causal
language model, weights, a tokenizer and a chat template. The job config calls this before a
job is created, so `arena train start` and the TUI's form refuse a folder the trainer would only
fail on minutes later, and say what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZERS = ("tokenizer.json", "tokenizer.model", "vocab.json")
# Suffixes of the Hugging Face classes that generate text, as config.json's "architectures" names
# them (LlamaForCausalLM, GPT2LMHeadModel, Gemma3ForConditionalGeneration, ...).
_GENERATIVE = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def _import_hint(gguf: Path) -> str:
    return f"`arena models import-gguf {gguf} DIR` turns it into a folder the trainer can use"


def _read_config(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = _read_config(folder / "tokenizer_config.json") or {}
    return bool(config.get("chat_template"))


def untrainable_reason(path: str | Path) -> str | None:
    """Why the trainer cannot start from `path`, in one sentence; None when it can."""
    folder = Path(path).expanduser()
    if folder.is_file() and folder.suffix.lower() == ".gguf":
        return f"{folder} is a GGUF file, not a Hugging Face model folder; {_import_hint(folder)}"
    if not folder.is_dir():
        return f"no model folder at {path}"
    config_path = folder / "config.json"
    if not config_path.is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            return (
                f"{folder} holds a GGUF file ({ggufs[0].name}) but no config.json: the trainer "
                f"needs a Hugging Face folder; {_import_hint(ggufs[0])}"
            )
        if (folder / "adapter_config.json").is_file():
            return f"{folder} holds a LoRA adapter, not a full model (no config.json)"
        return f"{folder} is not a Hugging Face model folder: no config.json"
    config = _read_config(config_path)
    if config is None:
        return f"{config_path} is not a readable JSON object"
    if not config.get("model_type"):
        return f"{config_path} names no model_type, so transformers cannot tell what model it is"
    archs = config.get("architectures") or []
    if archs and not any(str(a).endswith(_GENERATIVE) for a in archs):
        return (
            f"{folder} holds a {archs[0]}, not a text-generating model (a ...ForCausalLM); "
            "the trainer needs a causal language model"
        )
    if not any((folder / name).is_file() for name in _WEIGHTS) and not any(
        folder.glob("*.safetensors")
    ):
        return f"{folder} has no weights (model.safetensors or pytorch_model.bin)"
    if not any((folder / name).is_file() for name in _TOKENIZERS):
        return f"{folder} has no tokenizer (tokenizer.json)"
    if not _has_chat_template(folder):
        return (
            f"{folder} has no chat template (in tokenizer_config.json or chat_template.jinja): "
            "the trainer needs one to build prompts"
        )
    return None
