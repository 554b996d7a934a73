"""Model folders for tests that need a base the job config accepts but never load it."""

from __future__ import annotations

import json
from pathlib import Path


def stub_model_folder(path: Path) -> Path:
    """A folder with the files a trainable base has (config.json naming a causal LM, weights,
    a tokenizer, a chat template) but no real model in them: for jobs run by the trainer's
    stand-in loop (ARENA_TRAINER_FAKE=1), which never loads the base."""
    path.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(b"")
    (path / "tokenizer.json").write_text("{}")
    (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    return path
