"""GGUF import: a GGUF file becomes a Hugging Face folder that computes what the file computes.

Checked where it can fail: an f32 round trip (export, import) gives back the same next-token
distributions, token ids and chat template; every quantization type dequantizes to the weights
it was made from; the real SmolLM2 Q4_1 file imports to a model whose distributions match
llama.cpp's on the same file; bad files are refused with one clear line and leave nothing
behind; and `arena train start` refuses a folder that holds only a GGUF file.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from model_folders import stub_model_folder

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from arena.cli import cli  # noqa: E402
from arena.models.corpus import game_conversations  # noqa: E402
from arena.models.gguf_import import GGUFImportError, import_gguf  # noqa: E402
from arena.models.real import missing_reason, real_model_path  # noqa: E402
from arena.models.tiny import render_chatml  # noqa: E402
from arena.models.trainable import untrainable_reason  # noqa: E402

SAMPLE_TEXTS = [
    "Final answer: b2",
    "héllo wörld, naïve café — “quotes” … €100",
    "日本語 中文 한국어 русский 🎲🃏♠ 👨‍👩‍👧",
    "numbers 0 7 42 123 1234 12345 3.14159 -17 1,000,000",
    "don't I'll we've they're it's SHE'S",
    "  two leading spaces\ttabs\n\n\nand CRLF\r\nend  ",
    "<|im_start|>user\nWhat is your move?<|im_end|>\n<|im_start|>assistant\nFinal answer: c3",
    "<|endoftext|>text<|endoftext|><|im_end|>",
    "symbols !@#$%^&*()[]{};:'\",.<>/?\\|`~ ->[Offer: 2 Wood, 1 Ore -> 3 Brick]",
]


# ---------------------------------------------------------------- helpers


def _conversations(count: int, seed: int = 5) -> list[list[dict[str, str]]]:
    """Conversations of several different games (rules, observation, answer)."""
    found: dict[str, list[dict[str, str]]] = {}
    for conversation in game_conversations(seed, games_per_game=1):
        found.setdefault(conversation[0]["content"], conversation)  # one per game's rules
    return list(found.values())[:count]


def _hf(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return AutoTokenizer.from_pretrained(path), model


def _log_probs(model, ids: list[int]):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits, -1)


def _kl(p_log, q_log) -> list[float]:
    """KL(p || q) of the next-token distribution at every position."""
    return (p_log.exp() * (p_log - q_log)).sum(-1).tolist()


def _round_trip_kl(original: Path, imported: Path) -> tuple[float, float]:
    """(max KL between the two folders' models, mean top-token probability) on game text."""
    tok, model = _hf(original)
    _, other = _hf(imported)
    kls: list[float] = []
    tops: list[float] = []
    for conversation in _conversations(6):
        ids = tok(render_chatml(conversation))["input_ids"]
        p, q = _log_probs(model, ids), _log_probs(other, ids)
        kls += _kl(p, q)
        tops += p.exp().max(-1).values.tolist()
    return max(kls), sum(tops) / len(tops)


def _texts() -> list[str]:
    texts = list(SAMPLE_TEXTS)
    for conversation in _conversations(8, seed=9):
        texts.append(conversation[1]["content"])
        texts.append(render_chatml(conversation[:2], add_generation_prompt=True))
    return texts


def _messages() -> list[list[dict[str, str]]]:
    conversation = _conversations(1, seed=3)[0]
    return [
        [{"role": "user", "content": "hi"}],
        conversation[:2],
        conversation + [{"role": "user", "content": "That move is illegal. Again: ünïcode 🎲"}],
    ]


def _write_gguf(path: Path, arch: str, keys: dict, tensors: dict) -> Path:
    """A small GGUF file with the given metadata and float32 tensors."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, arch)
    for key, value in keys.items():
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_uint32(key, value)
    for name, shape in tensors.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "-import-" in p.name)


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_f32_round_trip_gives_back_the_same_model_tokenizer_and_template(arch, request, tmp_path):
    tiny = request.getfixturevalue(f"tiny_{arch}")
    summary = import_gguf(tiny.gguf_f32, tmp_path / "imported")
    out = summary.path
    assert summary.arch == arch and summary.file_types == ("F32",)
    original = json.loads((tiny.hf_dir / "config.json").read_text())
    config = json.loads((out / "config.json").read_text())
    for key in (
        "model_type",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "vocab_size",
        "tie_word_embeddings",
        "rms_norm_eps",
        "rope_parameters",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
    ):
        assert config[key] == original[key], key

    kl_max, top = _round_trip_kl(tiny.hf_dir, out)
    print(f"{arch} f32 round trip: KL max {kl_max:.2e}; mean top prob {top:.3f}")
    assert top > 0.2  # far from flat, so a wrong Q/K order could not hide
    assert kl_max < 1e-5

    tok, _ = _hf(tiny.hf_dir)
    back, _ = _hf(out)
    differ = [t for t in _texts() if tok(t)["input_ids"] != back(t)["input_ids"]]
    assert not differ, f"{len(differ)} texts tokenize differently, e.g. {differ[0]!r}"
    assert (back.bos_token, back.eos_token, back.pad_token) == (
        tok.bos_token,
        tok.eos_token,
        tok.pad_token,
    )
    for messages in _messages():
        for add in (True, False):
            ours = back.apply_chat_template(messages, add_generation_prompt=add, tokenize=False)
            theirs = tok.apply_chat_template(messages, add_generation_prompt=add, tokenize=False)
            assert ours == theirs
    assert "chat_template" in json.loads((out / "tokenizer_config.json").read_text())
    assert untrainable_reason(out) is None


def test_a_wrong_q_k_order_on_import_would_be_caught(tiny_llama, tmp_path, monkeypatch):
    import arena.models.gguf_import as importer

    monkeypatch.setattr(importer, "halves_from_pairs", lambda rows, n_heads: rows)
    import_gguf(tiny_llama.gguf_f32, tmp_path / "wrong")
    kl_max, _ = _round_trip_kl(tiny_llama.hf_dir, tmp_path / "wrong")
    assert kl_max > 1e-2


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_half_precision_import_is_half_the_size_and_close(tiny_llama, tmp_path, dtype):
    f32 = import_gguf(tiny_llama.gguf_f32, tmp_path / "f32").path
    half = import_gguf(tiny_llama.gguf_f32, tmp_path / dtype, dtype=dtype).path
    size = (half / "model.safetensors").stat().st_size
    assert size < 0.55 * (f32 / "model.safetensors").stat().st_size
    assert json.loads((half / "config.json").read_text())["dtype"] == dtype
    kl_max, _ = _round_trip_kl(tiny_llama.hf_dir, half)
    assert kl_max < 1e-2


def test_every_quantization_type_dequantizes_to_the_weights_it_was_made_from(tmp_path):
    # A model 256 wide, so the K-quants (blocks of 256) apply; llama.cpp's own quantizer
    # makes each file. The error is the quantization's, far below a wrong block layout's (~1).
    import numpy as np

    from arena.models.gguf_export import export_gguf
    from arena.models.gguf_quantize import quantize_gguf
    from arena.models.hf_folder import read_hf_folder
    from arena.models.tiny import build_tiny

    build_tiny(tmp_path / "hf", train_steps=0, hidden_size=256, layers=1, vocab_size=300)
    export_gguf(tmp_path / "hf", tmp_path / "f32.gguf", "f32")
    original = read_hf_folder(tmp_path / "hf")
    bounds = {  # relative RMS error of the worst tensor
        "f16": ("F16", 0.002),
        "bf16": ("BF16", 0.01),
        "q8_0": ("Q8_0", 0.02),
        "q6_k": ("Q6_K", 0.05),
        "q5_0": ("Q5_0", 0.1),
        "q5_1": ("Q5_1", 0.1),
        "q4_0": ("Q4_0", 0.2),
        "q4_1": ("Q4_1", 0.2),
        "q4_k_m": ("Q4_K", 0.2),
        "iq4_xs": ("IQ4_XS", 0.2),
    }
    for qtype, (stored, bound) in bounds.items():
        quantize_gguf(tmp_path / "f32.gguf", tmp_path / f"{qtype}.gguf", qtype)
        summary = import_gguf(tmp_path / f"{qtype}.gguf", tmp_path / qtype)
        assert stored in summary.file_types, (qtype, summary.file_types)
        imported = read_hf_folder(summary.path)
        assert imported.tensors.keys() == original.tensors.keys()
        for name in original.tensors:
            a, b = original.load(name), imported.load(name)
            error = float(np.sqrt(((a - b) ** 2).mean() / (a**2).mean()))
            assert error < bound, (qtype, name, error)


def test_an_imported_folder_is_accepted_and_trains_a_step(tiny_llama, tmp_path):
    from arena.train_config import TrainConfig, parse_config
    from trainer.run import Trainer

    out = import_gguf(tiny_llama.gguf_f32, tmp_path / "imported").path
    assert parse_config({"base": str(out)}).base == str(out.resolve())
    config = TrainConfig(
        games=["kuhn_poker"], base=str(out), steps=1, batch_games=4, device="cpu", name="imp"
    )
    trainer = Trainer(config, tmp_path / "job")
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step()
    after = list(trainer.model.parameters())
    assert any(not (a == b).all() for a, b in zip(after, before))


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def real_import(tmp_path_factory):
    """The shipped SmolLM2 Q4_1 file, its imported folder, and the seconds the import took."""
    path = real_model_path()
    if path is None:
        pytest.skip(missing_reason())
    out = tmp_path_factory.mktemp("real") / "smollm2"
    started = time.perf_counter()
    summary = import_gguf(path, out)
    seconds = time.perf_counter() - started
    print(f"imported {path.name} in {seconds:.1f} s ({summary.parameters:,} parameters)")
    return path, summary, seconds


def _real_llama(path: Path, **kwargs):
    """llama.cpp on the Q4_1 file without weight repacking (which crashes on AMX CPUs), after
    a child process has survived the same load: a crash fails the test, not the session."""
    from arena.backends.base import BackendUnavailable
    from arena.backends.llamacpp_load import load_llama, probe

    try:
        probe(path, n_ctx=2048)
    except BackendUnavailable as exc:
        pytest.fail(str(exc))
    return load_llama(path, n_threads=1, n_ctx=2048, verbose=False, **kwargs)


@pytest.mark.slow
def test_the_real_model_imports_and_agrees_with_llama_cpp(real_import):
    import numpy as np
    import torch

    path, summary, seconds = real_import
    assert summary.arch == "llama" and "Q4_1" in summary.file_types
    assert summary.pre_tokenizer == "smollm" and summary.vocab_size == 49152
    out = summary.path
    config = json.loads((out / "config.json").read_text())
    assert config["tie_word_embeddings"] is True
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (9, 3)
    assert untrainable_reason(out) is None

    tok, model = _hf(out)
    llm = _real_llama(path, logits_all=True)
    kls: list[float] = []
    same_top = []
    for conversation in _conversations(3, seed=1):
        text = tok.apply_chat_template(conversation[:2], add_generation_prompt=True, tokenize=False)
        assert text.startswith("<|im_start|>system\n")
        ids = tok(text)["input_ids"]
        p = _log_probs(model, ids)
        llm.reset()
        llm.eval(ids)
        q = torch.log_softmax(
            torch.as_tensor(np.array(llm.scores[: len(ids)]), dtype=torch.float64), -1
        )
        kls += _kl(p, q)
        same_top += (p.argmax(-1) == q.argmax(-1)).tolist()
    llm.close()
    mean_kl = sum(kls) / len(kls)
    print(
        f"SmolLM2 Q4_1 imported vs llama.cpp: mean KL {mean_kl:.2e}, max {max(kls):.2e} over "
        f"{len(kls)} positions; same top token {sum(same_top) / len(same_top):.1%}; "
        f"import {seconds:.1f} s"
    )
    assert mean_kl < 0.01
    assert sum(same_top) / len(same_top) > 0.9


@pytest.mark.slow
def test_the_real_models_tokenizer_and_template_agree_with_llama_cpp(real_import):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    path, summary, _ = real_import
    tok, _ = _hf(summary.path)
    llm = _real_llama(path, vocab_only=True)
    differ = [t for t in _texts() if tok(t)["input_ids"] != llm.tokenize(t.encode(), special=True)]
    assert not differ, f"{len(differ)} texts tokenize differently, e.g. {differ[0]!r}"
    template = llm.metadata["tokenizer.chat_template"]
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos())
    for messages in _messages():
        formatter = Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=True)
        theirs = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert formatter(messages=messages).prompt == theirs
    llm.close()


# ---------------------------------------------------------------- bad input


def _truncated(tiny_gguf: Path, tmp_path: Path) -> Path:
    data = tiny_gguf.read_bytes()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _random(tmp_path: Path) -> Path:
    import random

    path = tmp_path / "random.gguf"
    path.write_bytes(random.Random(0).randbytes(4096))
    return path


def _gemma(tmp_path: Path) -> Path:
    return _write_gguf(tmp_path / "gemma.gguf", "gemma3", {}, {"token_embd.weight": (8, 4)})


def _sentencepiece(tmp_path: Path) -> Path:
    keys = {
        "llama.embedding_length": 4,
        "llama.feed_forward_length": 8,
        "llama.block_count": 1,
        "llama.attention.head_count": 1,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "llama",
    }
    return _write_gguf(tmp_path / "spm.gguf", "llama", keys, {"token_embd.weight": (8, 4)})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tiny, tmp: tmp / "absent.gguf", "no such GGUF file"),
        (lambda tiny, tmp: _random(tmp), "not a readable GGUF file"),
        (_truncated, "not a readable GGUF file"),
        (lambda tiny, tmp: _gemma(tmp), "unsupported architecture 'gemma3'"),
        (lambda tiny, tmp: _sentencepiece(tmp), "unsupported tokenizer 'llama' (SentencePiece)"),
    ],
    ids=["missing", "random-bytes", "truncated", "architecture", "tokenizer"],
)
def test_a_bad_file_is_a_clear_error_and_leaves_no_folder(tiny_gguf, tmp_path, make, message):
    path = make(tiny_gguf, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(GGUFImportError) as err:
        import_gguf(path, out)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and not _leftovers(tmp_path)

    result = CliRunner().invoke(cli, ["models", "import-gguf", str(path), str(out)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
    assert not out.exists() and not _leftovers(tmp_path)


def test_an_interrupted_import_leaves_nothing(tiny_gguf, tmp_path, monkeypatch):
    import arena.models.gguf_import as importer

    def interrupted(path, tensors):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "write_safetensors", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_gguf(tiny_gguf, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tiny_gguf, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(GGUFImportError, match="already exists"):
        import_gguf(tiny_gguf, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_the_cli_imports_a_file(tiny_gguf, tmp_path):
    out = tmp_path / "hf"
    result = CliRunner().invoke(cli, ["models", "import-gguf", str(tiny_gguf), str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: llama, float32 from F32")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


# ---------------------------------------------------------------- train start


def test_train_start_refuses_a_folder_holding_only_a_gguf_file(tiny_gguf, tmp_path):
    folder = tmp_path / "downloaded"
    folder.mkdir()
    shutil.copy(tiny_gguf, folder / "model.gguf")
    db_path = tmp_path / "arena.db"
    for base in (folder, folder / "model.gguf"):
        argv = ["--db", str(db_path), "train", "start", "--base", str(base)]
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
        assert "GGUF" in lines[0] and "arena models import-gguf" in lines[0]
    assert not db_path.exists()


@pytest.mark.parametrize(
    ("remove", "edit", "message"),
    [
        ("config.json", None, "no config.json"),
        ("model.safetensors", None, "no weights"),
        ("tokenizer.json", None, "no tokenizer"),
        ("tokenizer_config.json", None, "no chat template"),
        (None, {"architectures": ["BertForMaskedLM"], "model_type": "bert"}, "causal"),
        (None, {"architectures": ["LlamaForCausalLM"]}, "no model_type"),
    ],
)
def test_train_config_names_what_a_base_folder_lacks(tmp_path, remove, edit, message):
    from arena.train_config import JobError, parse_config

    folder = stub_model_folder(tmp_path / "base")
    assert untrainable_reason(folder) is None
    if remove:
        (folder / remove).unlink()
    if edit:
        (folder / "config.json").write_text(json.dumps(edit))
    assert message in untrainable_reason(folder)
    with pytest.raises(JobError, match=message):
        parse_config({"base": str(folder)})
