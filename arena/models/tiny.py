"""Tiny real language models, made here from game text: no weights are ever downloaded.

`make_tiny(out_dir)` trains a byte-level BPE tokenizer on game transcripts, builds a small
Llama (or Qwen2) model, optionally trains it for a few hundred steps on the same transcripts so
its outputs are not flat, and saves a Hugging Face folder (config, safetensors weights,
tokenizer files and a ChatML chat template) that transformers loads and `export_gguf` converts.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.models.corpus import game_conversations, rules_texts

ARCHS = ("llama", "qwen2")

# "<|endoftext|>" is beginning-of-text and padding; "<|im_end|>" ends a turn and a generation.
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

# ChatML, the format of Qwen and many fine-tunes. No BOS token is added anywhere, so the rendered
# prompt tokenizes to the same ids in transformers and llama.cpp without special cases.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Pre-tokenizers of the tiny tokenizers -> llama.cpp's name for the split they use. The qwen2
# tiny model uses Qwen2's so the exporter's "qwen2" path is exercised end to end.
_LLAMA_CPP_PRE = {"gpt2": "gpt-2", "qwen2": "qwen2", "llama3": "llama-bpe"}


@dataclass(frozen=True)
class TinyReport:
    """What `build_tiny` built: sizes, the training loss and the wall time it took."""

    path: Path
    arch: str
    parameters: int
    vocab_size: int
    train_steps: int
    first_loss: float | None
    last_loss: float | None
    seconds: float


def render_chatml(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """Render messages exactly as `CHAT_TEMPLATE` does (used to build training text)."""
    text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


def train_tokenizer(texts: list[str], vocab_size: int, pre: str = "gpt2") -> Any:
    """Train a byte-level BPE `tokenizers.Tokenizer` with the chat special tokens.

    `pre` picks the pre-tokenizer: "gpt2" (GPT-2's regex, inside the ByteLevel step), "qwen2" or
    "llama3" (that model's regex as a Split, then ByteLevel without its own regex; Llama 3 also
    looks whole pieces up before merging). All three are known to llama.cpp.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from arena.models.gguf_vocab import byte_level_pre_tokenizer

    if pre not in _LLAMA_CPP_PRE:
        raise ValueError(f"unknown pre-tokenizer {pre!r}; known: {', '.join(_LLAMA_CPP_PRE)}")
    tok = Tokenizer(models.BPE(ignore_merges=pre == "llama3"))
    tok.pre_tokenizer = byte_level_pre_tokenizer(_LLAMA_CPP_PRE[pre])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        # Every byte is in the vocabulary, so any text (any unicode) can be tokenized.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _model_config(
    arch: str, vocab_size: int, ids: dict[str, int], init_std: float, hidden: int, layers: int
) -> Any:
    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=3 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 16,  # heads of 16 dimensions
        num_key_value_heads=2,  # grouped-query attention, so the export of K/V heads is tested
        max_position_embeddings=4096,  # rules plus an observation can run to a thousand tokens
        rms_norm_eps=1e-6,
        initializer_range=init_std,
        bos_token_id=ids[ENDOFTEXT],
        eos_token_id=ids[IM_END],
        pad_token_id=ids[ENDOFTEXT],
    )
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(tie_word_embeddings=False, **common)
    from transformers import Qwen2Config

    # Tied embeddings, as in the small Qwen2 models: the exporter must write no output tensor.
    return Qwen2Config(tie_word_embeddings=True, use_sliding_window=False, **common)


def _train(
    model: Any, stream: list[int], ends: list[int], steps: int, seed: int
) -> tuple[float, float]:
    """Next-token training on windows of the token stream; returns the first and last loss.

    Half the windows end where a conversation ends (just after the answer), so the model sees
    the observation right before "Final answer: ..." and learns to answer in that format.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    data = torch.tensor(stream, dtype=torch.long)
    batch, length = 8, 128  # ~30 ms a step on one core
    answer_ends = torch.tensor([e for e in ends if e >= length], dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    warmup = max(1, steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses: list[float] = []
    for _ in range(steps):
        starts = torch.randint(0, len(data) - length - 1, (batch,), generator=gen)
        picks = torch.randint(0, len(answer_ends), (batch // 2,), generator=gen)
        starts[: batch // 2] = answer_ends[picks] - length
        x = torch.stack([data[s : s + length] for s in starts.tolist()])
        out = model(input_ids=x, labels=x)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(out.loss.item())
    model.eval()
    head = sum(losses[:5]) / min(5, len(losses))
    tail = sum(losses[-10:]) / min(10, len(losses))
    return head, tail


def make_tiny(out_dir: str | Path, **options: Any) -> Path:
    """Build a tiny chat model at `out_dir` (see `build_tiny` for the options); return its path."""
    return build_tiny(out_dir, **options).path


def build_tiny(
    out_dir: str | Path,
    *,
    arch: str = "llama",
    train_steps: int = 300,
    seed: int = 0,
    vocab_size: int = 1024,
    init_std: float | None = None,
    threads: int | None = 1,
    hidden_size: int = 64,
    layers: int = 2,
) -> TinyReport:
    """Build a tiny chat model from game text and save it as a Hugging Face folder at `out_dir`.

    `train_steps=0` keeps the random initialisation, with a large init std (0.4 unless given)
    so that the logits are far from flat and a wrong weight layout in an export shows up.
    `threads` sets torch's intra-op threads for the build (restored afterwards): one is the
    fastest for a model this small, and two collapse on a two-core machine. None leaves torch's.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; supported: {', '.join(ARCHS)}")
    if train_steps < 0:
        raise ValueError("train_steps must be >= 0")
    if hidden_size < 32 or hidden_size % 32 or layers < 1:
        raise ValueError("hidden_size must be a multiple of 32 (at least 32), layers at least 1")
    import torch
    from transformers import PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    started = time.perf_counter()
    out = Path(out_dir)
    conversations = list(game_conversations(seed))
    texts = [render_chatml(c) for c in conversations] + rules_texts()
    # Special tokens are added tokens, never merged: train the merges on text without them.
    plain = [t.replace(IM_START, "").replace(IM_END, "") for t in texts]
    tok = train_tokenizer(plain, vocab_size, pre="gpt2" if arch == "llama" else "qwen2")
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=ENDOFTEXT,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",  # saved only when given here; left padding is what batching needs
        model_max_length=4096,
    )

    saved_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        std = init_std if init_std is not None else (0.02 if train_steps else 0.4)
        config = _model_config(arch, tok.get_vocab_size(), ids, std, hidden_size, layers)
        from transformers import AutoModelForCausalLM

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        finally:
            hf_logging.set_verbosity(verbosity)
        first = last = None
        if train_steps:
            stream: list[int] = []
            ends: list[int] = []
            for enc in tok.encode_batch(texts):
                stream.extend(enc.ids)
                ends.append(len(stream))
            first, last = _train(model, stream, ends[: len(conversations)], train_steps, seed)
        model.generation_config.eos_token_id = ids[IM_END]
        model.generation_config.pad_token_id = ids[ENDOFTEXT]
        model.generation_config.bos_token_id = ids[ENDOFTEXT]
        parameters = sum(p.numel() for p in model.parameters())

        # Write next to the destination, then move into place: a crash leaves no half folder.
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=out.parent))
        try:
            model.save_pretrained(tmp)
            hf_tok.save_pretrained(tmp)
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
            out.chmod(0o755)  # mkdtemp made it private
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        torch.set_num_threads(saved_threads)
    return TinyReport(
        path=out,
        arch=arch,
        parameters=parameters,
        vocab_size=tok.get_vocab_size(),
        train_steps=train_steps,
        first_loss=first,
        last_loss=last,
        seconds=time.perf_counter() - started,
    )
