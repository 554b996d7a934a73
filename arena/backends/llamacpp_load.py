"""Loading a GGUF file into llama.cpp without letting a native crash take the process down.

Two defences, both about llama.cpp's CPU backend on machines with Intel AMX:

- **No weight repacking by default.** llama.cpp repacks quantized weights (Q4_0, Q4_1, Q8_0,
  K-quants, IQ4_XS) into "extra buffer types" for faster kernels; on AMX CPUs those kernels
  segfault at load or first decode. The model parameter `use_extra_bufts = false` avoids it, but
  `llama_cpp.Llama()` does not expose it: `load_llama` sets it for the one call that creates the
  model. `repack=True` restores llama.cpp's default (faster on CPUs where it works).
- **A probe in a child process.** Before a process loads a file for the first time, a child
  loads it with the same settings and decodes a short prompt. If the child dies (a signal, an abort),
  the parent raises `BackendUnavailable` naming the signal: the match ends in an error that is
  recorded, instead of the whole tournament vanishing. Results are cached per file (path, size,
  modification time) and settings, so a process probes each model once.

`python -m arena.backends.llamacpp_load FILE [--repack] [--n-ctx N]` is the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from arena.backends.base import BackendUnavailable

PROBE_TIMEOUT_S = 120.0
_PROBE_TEXT = "Rules: players take turns. Legal moves: a1, b2, c3. Think, then answer.\nAnswer:"
_PATCH_LOCK = threading.Lock()
_PROBED: dict[tuple[Any, ...], str | None] = {}  # key -> None (fine) or the failure
_PROBED_LOCK = threading.Lock()


def load_llama(path: str | Path, *, repack: bool = False, **kwargs: Any) -> Any:
    """`llama_cpp.Llama(model_path=path, **kwargs)`, with `use_extra_bufts` off unless
    `repack`. The default-parameters function is swapped only while this call creates the
    model, under a lock, so concurrent loads elsewhere keep their own choice."""
    import llama_cpp
    import llama_cpp.llama_cpp as low

    if repack or "use_extra_bufts" not in dict(low.llama_model_params._fields_):
        return llama_cpp.Llama(model_path=str(path), **kwargs)
    with _PATCH_LOCK:
        original = low.llama_model_default_params

        def without_extra_bufts() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = without_extra_bufts
        try:
            return llama_cpp.Llama(model_path=str(path), **kwargs)
        finally:
            low.llama_model_default_params = original


def probe_command(path: Path, *, repack: bool, n_ctx: int) -> list[str]:
    """The child process that tries the load (a separate function so tests can swap it)."""
    cmd = [sys.executable, "-m", "arena.backends.llamacpp_load", str(path), "--n-ctx", str(n_ctx)]
    return cmd + (["--repack"] if repack else [])


def probe(path: str | Path, *, repack: bool = False, n_ctx: int = 512) -> None:
    """Load `path` in a child process and decode a short prompt; raise `BackendUnavailable` with
    the reason if the child crashes, fails or hangs. Cached per file and settings."""
    path = Path(path).expanduser().resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise BackendUnavailable(f"GGUF model file not readable: {path}: {exc.strerror}") from None
    key = (str(path), st.st_size, st.st_mtime_ns, repack, n_ctx)
    with _PROBED_LOCK:
        if key in _PROBED:
            failure = _PROBED[key]
            if failure is not None:
                raise BackendUnavailable(failure)
            return
    failure = _run_probe(path, repack=repack, n_ctx=n_ctx)
    with _PROBED_LOCK:
        _PROBED[key] = failure
    if failure is not None:
        raise BackendUnavailable(failure)


def _run_probe(path: Path, *, repack: bool, n_ctx: int) -> str | None:
    env = dict(os.environ)
    # The child must import this very package, wherever the parent found it.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    try:
        done = subprocess.run(
            probe_command(path, repack=repack, n_ctx=n_ctx),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"llama.cpp did not load {path.name} within {PROBE_TIMEOUT_S:g} s (probe timed out)"
    except OSError as exc:
        return f"could not start the llama.cpp load probe for {path.name}: {exc}"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        if repack:
            return (
                f"llama.cpp crashed ({name}) loading {path.name} with weight repacking on "
                "(repack = true); turn it off: its kernels crash on some CPUs (Intel AMX)"
            )
        return (
            f"llama.cpp crashed ({name}) loading {path.name} even with weight repacking off; "
            "the file is unusable with this llama.cpp build (try an f16 or Q5_0 export)"
        )
    lines = [ln for ln in (done.stderr or "").strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {done.returncode}"
    return f"llama.cpp could not load {path.name}: {last[:300]}"


def _child(argv: list[str]) -> int:
    """Load, decode a prompt and a few tokens, exit 0. Any crash shows in the exit status."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m arena.backends.llamacpp_load")
    parser.add_argument("path")
    parser.add_argument("--repack", action="store_true")
    parser.add_argument("--n-ctx", type=int, default=512)
    args = parser.parse_args(argv)
    try:
        llama = load_llama(
            args.path, repack=args.repack, n_ctx=args.n_ctx, n_threads=1, verbose=False
        )
        # A batch of several tokens, then a few sampled ones: the repacked kernels crash on
        # the batched matrix products, which a single token does not reach.
        llama.create_completion(_PROBE_TEXT, max_tokens=4, temperature=0.0)
        llama.close()
    except Exception as exc:  # a clean failure: reported by the parent, not a crash
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
