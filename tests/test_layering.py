"""The house rules of ../shared/ARCHITECTURE.md, enforced.

- `games` imports only the standard library (and python-chess), never `arena` or `trainer`;
- the arena core never imports `textual`; only the CLI imports `arena.tui`;
- the TUI never imports `trainer` or `torch`;
- heavy libraries stay out of `arena --help`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "llama_cpp", "openai", "textual", "peft")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (top level or inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_games_imports_only_the_standard_library_and_python_chess():
    # pyspiel: only `games.openspiel_games`, imported when an `openspiel/` game is asked for
    allowed = set(sys.stdlib_module_names) | {"games", "chess", "pyspiel"}
    for path in _files("games"):
        bad = {m for m in _imports(path) if _top(m) not in allowed}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_arena_core_never_imports_textual_and_only_the_cli_imports_the_tui():
    for path in _files("arena"):
        rel = path.relative_to(ROOT)
        mods = _imports(path)
        if "tui" not in rel.parts:
            assert not any(_top(m) == "textual" for m in mods), f"{rel} imports textual"
            if rel != Path("arena/cli.py"):
                assert not any(m.startswith("arena.tui") for m in mods), f"{rel} imports arena.tui"
        else:
            bad = {m for m in mods if _top(m) in ("trainer", "torch", "transformers")}
            assert not bad, f"{rel} (TUI) imports {sorted(bad)}"


def test_trainer_is_not_imported_by_games_or_arena_core():
    for package in ("games", "arena"):
        for path in _files(package):
            assert not any(_top(m) == "trainer" for m in _imports(path)), path


@pytest.mark.parametrize("argv", [["--help"], ["games", "--json"]])
def test_cli_does_not_load_heavy_libraries(argv):
    code = (
        "import sys\n"
        "from arena.cli import cli\n"
        f"try:\n    cli({argv!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_importing_games_loads_no_third_party_module():
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"  # whatever the interpreter loads at start-up
        "import games\n"
        "games.list_games()\n"
        "std = set(sys.stdlib_module_names)\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - std - {'games'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_app_and_every_screen_load_no_model_library():
    code = (
        "import sys, importlib\n"
        "import arena.tui.app as app\n"
        "for module, *_ in app.SECTIONS.values():\n"
        "    importlib.import_module('arena.tui.screens.' + module)\n"
        "heavy = ('torch', 'transformers', 'llama_cpp', 'openai', 'peft', 'trainer')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
