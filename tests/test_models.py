"""Tiny models and GGUF export: transformers and llama.cpp must agree on the same model.

Agreement is checked where it can fail: token ids for many texts (game text, unicode, special
tokens), next-token distributions (KL divergence) on weights whose outputs are far from flat,
the chat template's rendering, and greedy completions. A wrong Q/K permutation, a wrong
pre-tokenizer name or a dropped bias shows up here.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import games

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from arena.models.gguf_export import ExportError, export_gguf  # noqa: E402
from arena.models.tiny import CHAT_TEMPLATE, render_chatml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GGML_TYPE_F32 = 0  # llama.cpp's KV-cache type for exact comparisons


# ---------------------------------------------------------------- helpers


def _llama(path: Path, *, exact_cache: bool = False, vocab_only: bool = False):
    """A llama.cpp model with one thread and logits for every position.

    `exact_cache` keeps the KV cache in f32 (llama.cpp's default is f16), which isolates the
    exporter's correctness from the cache's rounding.
    """
    from llama_cpp import Llama

    extra = {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32} if exact_cache else {}
    return Llama(
        str(path),
        n_threads=1,
        n_ctx=2048,
        logits_all=True,
        verbose=False,
        vocab_only=vocab_only,
        **extra,
    )


_HF_CACHE: dict[Path, tuple] = {}


def _hf(path: Path):
    """(tokenizer, model) from a Hugging Face folder, loaded once per test session."""
    if path not in _HF_CACHE:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(1)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        _HF_CACHE[path] = (AutoTokenizer.from_pretrained(path), model)
    return _HF_CACHE[path]


def _game_states(seed: int = 7, per_game: int = 4) -> list[tuple[games.Game, games.State]]:
    """Decision states from seeded random playouts of several games, at varied depths."""
    rng = random.Random(seed)
    found = []
    for game_id in ["tictactoe", "connect_four", "kuhn_poker", "leduc_poker", "liars_dice"] + [
        "prisoners_dilemma",
        "negotiation",
        "spy",
    ]:
        game = games.make(game_id)
        for _ in range(per_game):
            state = game.new_initial_state()
            for _ in range(rng.randrange(0, 6)):
                if state.is_terminal():
                    break
                if state.is_chance_node():
                    state.apply(games.sample_chance(state, rng))
                else:
                    state.apply(rng.choice(state.legal_actions()))
            while state.is_chance_node():
                state.apply(games.sample_chance(state, rng))
            if not state.is_terminal():
                found.append((game, state))
    return found


def _conversation(game: games.Game, state: games.State) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": game.rules()},
        {"role": "user", "content": state.observation(state.current_player())},
    ]


TRICKY_TEXTS = [
    "",
    "Final answer: b2",
    "héllo wörld, naïve café — “quotes” ‘single’ … €100",
    "日本語のテキスト 中文 한국어 العربية עברית русский ελληνικά",
    "emoji 🎲🃏♠♥♦♣ 👍🏽 👨‍👩‍👧 flags 🇫🇷",
    "numbers 0 7 42 123 1234 12345 3.14159 -17 1e-9 1,000,000",
    "don't I'll we've they're it's 'quoted' SHE'S",
    "  two leading spaces, trailing two  ",
    "tabs\tand\ttabs\t\t\nnewlines\n\n\nand CRLF\r\nend",
    "    indented code:\n        return x  # comment\n",
    "MiXeD CaSe and_underscores and-dashes and.dots",
    "<|im_start|>user\nWhat is your move?<|im_end|>\n<|im_start|>assistant\nFinal answer: c3",
    "<|endoftext|>text<|endoftext|><|im_end|>",
    "symbols !@#$%^&*()[]{};:'\",.<>/?\\|`~ and ->[Offer: 2 Wood, 1 Ore -> 3 Brick]",
    "a" * 300,
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
]


def _texts() -> list[str]:
    texts = list(TRICKY_TEXTS)
    for game, state in _game_states():
        conversation = _conversation(game, state)
        texts.append(conversation[1]["content"])
        texts.append(render_chatml(conversation, add_generation_prompt=True))
    texts += sorted({g.rules() for g, _ in _game_states(per_game=1)})
    return texts


def _kl_rows(hf_logits, cpp_logits) -> list[float]:
    """KL(transformers || llama.cpp) of the next-token distribution at every position."""
    import torch

    p = torch.log_softmax(torch.as_tensor(hf_logits, dtype=torch.float64), -1)
    q = torch.log_softmax(torch.as_tensor(cpp_logits, dtype=torch.float64), -1)
    return (p.exp() * (p - q)).sum(-1).tolist()


def _kl_figures(hf_dir: Path, gguf: Path, *, exact_cache: bool) -> tuple[float, float, float]:
    """(max KL, mean KL, mean top-token probability) over prompts of game conversations."""
    import numpy as np
    import torch

    tok, model = _hf(hf_dir)
    llm = _llama(gguf, exact_cache=exact_cache)
    kls: list[float] = []
    tops: list[float] = []
    prompts = [render_chatml(_conversation(g, s), True) for g, s in _game_states(per_game=2)]
    prompts += TRICKY_TEXTS[1:6]
    for text in prompts:
        ids = tok(text)["input_ids"]
        with torch.no_grad():
            hf_logits = model(torch.tensor([ids])).logits[0].double()
        llm.reset()
        llm.eval(ids)
        cpp_logits = np.array(llm.scores[: len(ids)])
        kls += _kl_rows(hf_logits, cpp_logits)
        tops += torch.softmax(hf_logits, -1).max(-1).values.tolist()
    return max(kls), sum(kls) / len(kls), sum(tops) / len(tops)


# ---------------------------------------------------------------- the tiny model itself


def test_tiny_model_folder_loads_in_transformers_with_a_chat_template(tiny_model_dir):
    tok, model = _hf(tiny_model_dir)
    assert tok.padding_side == "left"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.config.eos_token_id == tok.eos_token_id
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # GQA
    messages = [{"role": "user", "content": "hi"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert text == render_chatml(messages, add_generation_prompt=True)
    encoded = tok.apply_chat_template(messages, add_generation_prompt=True)
    assert encoded["input_ids"] == tok(text)["input_ids"]  # no BOS added anywhere


def test_training_makes_the_tiny_model_answer_in_the_arena_format(tiny_llama):
    import torch

    assert tiny_llama.info["last_loss"] < tiny_llama.info["first_loss"] / 3
    tok, model = _hf(tiny_llama.hf_dir)
    answered = 0
    pairs = _game_states(seed=3, per_game=1)
    for game, state in pairs:
        ids = tok(render_chatml(_conversation(game, state), True))["input_ids"]
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id
        )
        answered += tok.decode(out[0][len(ids) :]).startswith("Final answer:")
    assert answered >= len(pairs) // 2


def test_make_tiny_is_reproducible_for_a_seed(tmp_path):
    import hashlib

    from arena.models.tiny import make_tiny

    def digest(path: Path) -> list[str]:
        names = ("model.safetensors", "tokenizer.json")
        return [hashlib.sha256((path / n).read_bytes()).hexdigest() for n in names]

    first = digest(make_tiny(tmp_path / "a", train_steps=5, seed=4))
    again = digest(make_tiny(tmp_path / "b", train_steps=5, seed=4))
    other = digest(make_tiny(tmp_path / "c", train_steps=5, seed=5))
    assert first == again
    assert first[0] != other[0]


def test_make_tiny_builds_the_width_and_depth_asked_for(tmp_path):
    from click.testing import CliRunner

    from arena.cli import cli

    out = tmp_path / "wide"
    result = CliRunner().invoke(
        cli,
        [
            "models",
            "make-tiny",
            str(out),
            "--train-steps",
            "0",
            "--hidden-size",
            "96",
            "--layers",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (96, 3)
    assert config["num_attention_heads"] * config["head_dim"] == 96
    bad = CliRunner().invoke(
        cli, ["models", "make-tiny", str(tmp_path / "x"), "--hidden-size", "50"]
    )
    assert bad.exit_code != 0 and "multiple of 32" in bad.output
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- agreement


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_hf_and_llama_cpp_tokenize_every_text_identically(arch, tiny_llama, tiny_qwen2):
    tiny = {"llama": tiny_llama, "qwen2": tiny_qwen2}[arch]
    tok, _ = _hf(tiny.hf_dir)
    llm = _llama(tiny.gguf_f32, vocab_only=True)
    texts = _texts()
    assert len(texts) > 60
    mismatched = []
    for text in texts:
        hf_ids = tok(text)["input_ids"]
        cpp_ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        if hf_ids != cpp_ids:
            mismatched.append(text)
        # Detokenizing gives the text back (special tokens included).
        assert llm.detokenize(cpp_ids, special=True).decode() == text
    assert not mismatched, f"{len(mismatched)}/{len(texts)} texts differ, e.g. {mismatched[0]!r}"


@pytest.mark.parametrize(
    ("arch", "dtype", "bound"),
    [
        ("llama", "f32", 1e-6),
        ("llama", "f16", 1e-3),
        ("qwen2", "f32", 1e-6),
        ("qwen2", "f16", 1e-3),
    ],
)
def test_next_token_distributions_agree_with_transformers(arch, dtype, bound, request):
    tiny = request.getfixturevalue(f"tiny_{arch}")
    gguf = tiny.gguf_f32 if dtype == "f32" else tiny.gguf_f16
    kl_max, kl_mean, top = _kl_figures(tiny.hf_dir, gguf, exact_cache=True)
    print(f"{arch} {dtype}: KL max {kl_max:.2e} mean {kl_mean:.2e}; mean top prob {top:.3f}")
    # Far from flat (uniform would be 1/1024), so a wrong tensor layout could not hide.
    assert top > 0.2
    assert kl_max < bound


def test_default_llama_cpp_settings_agree_within_the_issue_bound(tiny_llama):
    # llama.cpp's default f16 KV cache rounds a little; the f32 export must still be close.
    kl_max, _, _ = _kl_figures(tiny_llama.hf_dir, tiny_llama.gguf_f32, exact_cache=False)
    assert kl_max < 1e-3


def test_a_wrong_q_k_layout_would_be_caught(tiny_llama, tmp_path):
    # Export without the Q/K permutation: the KL check above must then fail loudly.
    import arena.models.gguf_export as exporter

    original = exporter._pairs_from_halves
    exporter._pairs_from_halves = lambda rows, n_heads: rows
    try:
        export_gguf(tiny_llama.hf_dir, tmp_path / "wrong.gguf", "f32")
    finally:
        exporter._pairs_from_halves = original
    kl_max, _, _ = _kl_figures(tiny_llama.hf_dir, tmp_path / "wrong.gguf", exact_cache=True)
    assert kl_max > 1e-2


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_chat_template_renders_identically_from_the_gguf_metadata(arch, request):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    tiny = request.getfixturevalue(f"tiny_{arch}")
    tok, _ = _hf(tiny.hf_dir)
    llm = _llama(tiny.gguf_f32, vocab_only=True)
    template = llm.metadata["tokenizer.chat_template"]
    assert template == CHAT_TEMPLATE
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos())
    game, state = _game_states(per_game=1)[0]
    conversations = [
        [{"role": "user", "content": "hi"}],
        _conversation(game, state),
        _conversation(game, state)
        + [
            {"role": "assistant", "content": "Final answer: b2"},
            {"role": "user", "content": "That move is illegal. Try again: ünïcode 🎲"},
        ],
    ]
    for messages in conversations:
        for add in (True, False):
            formatter = Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=add)
            ours = formatter(messages=messages).prompt
            theirs = tok.apply_chat_template(messages, add_generation_prompt=add, tokenize=False)
            assert ours == theirs


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_greedy_completions_are_identical(arch, request):
    import torch

    tiny = request.getfixturevalue(f"tiny_{arch}")
    tok, model = _hf(tiny.hf_dir)
    llm = _llama(tiny.gguf_f32)
    compared = 0
    for game, state in _game_states(seed=11, per_game=1):
        prompt = render_chatml(_conversation(game, state), add_generation_prompt=True)
        ids = tok(prompt)["input_ids"]
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id
        )
        hf_new = out[0][len(ids) :].tolist()
        if hf_new and hf_new[-1] == tok.eos_token_id:
            hf_new = hf_new[:-1]
        llm.reset()
        cpp = llm.create_completion(ids, max_tokens=12, temperature=0.0, top_k=1)
        cpp_text = cpp["choices"][0]["text"]
        assert cpp_text == tok.decode(hf_new, skip_special_tokens=True), prompt
        compared += 1
    assert compared >= 6


def test_llama3_pre_tokenizer_is_exported_so_llama_cpp_tokenizes_identically(
    tiny_model_dir, tmp_path
):
    # Llama 3's split regex (and its whole-piece lookup before merging) under llama.cpp's
    # "llama-bpe": a tokenizer trained with it, swapped into the tiny model's folder.
    from tokenizers import Tokenizer

    from arena.models.corpus import game_conversations
    from arena.models.tiny import train_tokenizer

    folder = _copy(tiny_model_dir, tmp_path / "hf")
    texts = [render_chatml(c) for c in game_conversations(seed=1, games_per_game=2)]
    plain = [t.replace("<|im_start|>", "").replace("<|im_end|>", "") for t in texts]
    train_tokenizer(plain, 1024, pre="llama3").save(str(folder / "tokenizer.json"))
    summary = export_gguf(folder, tmp_path / "llama3.gguf", "f32")
    assert summary.pre_tokenizer == "llama-bpe"

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    llm = _llama(tmp_path / "llama3.gguf", vocab_only=True)
    texts = _texts()
    differ = [t for t in texts if tok.encode(t).ids != llm.tokenize(t.encode(), special=True)]
    assert not differ, f"{len(differ)}/{len(texts)} texts differ, e.g. {differ[0]!r}"


@pytest.mark.parametrize(
    "rope",
    [
        {"rope_type": "linear", "factor": 4.0},
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 256,
        },
    ],
    ids=["linear", "llama3"],
)
def test_rope_scaling_is_exported_so_llama_cpp_matches(tiny_model_dir, tiny_gguf, tmp_path, rope):
    # The same weights with a scaled RoPE: outputs change, and llama.cpp must follow.
    folder = _copy(tiny_model_dir, tmp_path / "hf")
    _edit_json(folder / "config.json", rope_parameters={**rope, "rope_theta": 10000.0})
    export_gguf(folder, tmp_path / "scaled.gguf", "f32")
    kl_max, _, _ = _kl_figures(folder, tmp_path / "scaled.gguf", exact_cache=True)
    assert kl_max < 1e-6
    # The scaling matters: the unscaled file disagrees with the scaled model.
    unscaled_kl, _, _ = _kl_figures(folder, tiny_gguf, exact_cache=True)
    assert unscaled_kl > 1e-3


def test_bf16_and_sharded_weights_export_exactly(tiny_model_dir, tmp_path):
    # Models are usually published in bf16 and in shards: widen exactly, follow the index.
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    folder = tmp_path / "bf16"
    model.save_pretrained(folder, max_shard_size="300KB")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny_model_dir / name, folder / name)
    assert (folder / "model.safetensors.index.json").exists()
    assert len(list(folder.glob("*.safetensors"))) > 1
    export_gguf(folder, tmp_path / "bf16.gguf", "f32")
    kl_max, _, top = _kl_figures(folder, tmp_path / "bf16.gguf", exact_cache=True)
    assert kl_max < 1e-6 and top > 0.2


# ---------------------------------------------------------------- the exporter's refusals


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_export_refuses_an_unsupported_architecture(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path / "hf")
    _edit_json(folder / "config.json", model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"])
    with pytest.raises(ExportError, match=r"GPTNeoXForCausalLM.*supported: llama.*qwen2"):
        export_gguf(folder, tmp_path / "out.gguf")
    assert not any(tmp_path.glob("*.gguf*"))


@pytest.mark.parametrize("dtype", ["q8_0", "bf16", "Q4_K_M"])
def test_export_refuses_dtypes_other_than_f32_and_f16(tiny_model_dir, tmp_path, dtype):
    with pytest.raises(ExportError, match="supported: f32, f16"):
        export_gguf(tiny_model_dir, tmp_path / "out.gguf", dtype)


def test_export_reports_a_missing_folder_clearly(tmp_path):
    with pytest.raises(ExportError, match="no such model folder"):
        export_gguf(tmp_path / "nowhere", tmp_path / "out.gguf")


def test_export_reports_missing_and_corrupt_files(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path / "hf")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ExportError, match="config.json: not a readable JSON"):
        export_gguf(folder, tmp_path / "out.gguf")
    shutil.copy(tiny_model_dir / "config.json", folder / "config.json")

    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ExportError, match="truncated"):
        export_gguf(folder, tmp_path / "out.gguf")
    weights.unlink()
    with pytest.raises(ExportError, match="no model.safetensors"):
        export_gguf(folder, tmp_path / "out.gguf")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ExportError, match="tokenizer.json"):
        export_gguf(folder, tmp_path / "out.gguf")
    assert not any(tmp_path.glob("*.gguf*"))


def test_export_refuses_a_pre_tokenizer_llama_cpp_would_not_reproduce(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path / "hf")
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["pre_tokenizer"] = {"type": "Whitespace"}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ExportError, match="pre-tokenizer.*supported: gpt-2"):
        export_gguf(folder, tmp_path / "out.gguf")


# ---------------------------------------------------------------- the commands, end to end


def _arena(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "arena.cli", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_make_tiny_then_export_gguf_then_play_with_llama_cpp(tmp_path):
    # A random-init Qwen2: its large init std must give far-from-flat, matching outputs.
    hf = tmp_path / "tiny"
    made = _arena("models", "make-tiny", str(hf), "--arch", "qwen2", "--train-steps", "0")
    assert "qwen2" in made.stdout and (hf / "model.safetensors").exists()
    out = _arena("models", "export-gguf", str(hf), str(tmp_path / "tiny.gguf"), "--dtype", "f32")
    assert "f32" in out.stdout and "qwen2" in out.stdout
    out = _arena("models", "export-gguf", str(hf), str(tmp_path / "tiny-f16.gguf"))
    assert "f16" in out.stdout  # the default

    kl_max, _, top = _kl_figures(hf, tmp_path / "tiny.gguf", exact_cache=True)
    assert top > 0.2 and kl_max < 1e-5
    llm = _llama(tmp_path / "tiny-f16.gguf")
    reply = llm.create_chat_completion(
        [{"role": "user", "content": "It is your turn."}], max_tokens=8, temperature=0.0
    )
    assert reply["choices"][0]["finish_reason"] in ("stop", "length")


def test_export_gguf_command_fails_cleanly_on_bad_input(tmp_path):
    out = _arena("models", "export-gguf", str(tmp_path / "nowhere"), "x.gguf", check=False)
    assert out.returncode != 0
    assert "no such model folder" in out.stderr and "Traceback" not in out.stderr
    out = _arena("models", "export-gguf", str(tmp_path), "x.gguf", "--dtype", "q8_0", check=False)
    assert out.returncode == 2 and "q8_0" in out.stderr
