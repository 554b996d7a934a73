"""Two transformers players loading at once in a fresh process (two checkpoints of a job in one
tournament): both load. transformers imports its classes lazily, and two worker threads
importing them at the same moment used to fail one of them with "cannot import name
'AutoTokenizer'", for the whole run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

CHILD = r"""
import asyncio, shutil, sys
from pathlib import Path
from arena.backends.transformers_backend import TransformersBackend
from arena.backends.base import Sampling

src, tmp = Path(sys.argv[1]), Path(sys.argv[2])
folders = []
for i in range(3):
    dst = tmp / f"copy{i}"
    shutil.copytree(src, dst)
    folders.append(dst)

async def main():
    backends = [TransformersBackend(str(f), device="cpu", threads=1) for f in folders]
    msgs = [{"role": "user", "content": "Say a move."}]
    gens = await asyncio.gather(*(b.generate(msgs, Sampling(max_tokens=2)) for b in backends))
    for b in backends:
        await b.aclose()
    print("LOADED", len(gens))

asyncio.run(main())
"""


@pytest.mark.parametrize("attempt", range(3))
def test_backends_loading_at_once_in_a_fresh_process_all_load(tiny_model_dir, tmp_path, attempt):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny_model_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED 3" in proc.stdout
