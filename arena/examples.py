"""The example files installed with the package (`arena/assets/*.toml`): a players file and a
tournament config that `arena examples path NAME` points to, so the README's commands work
from any directory."""

from __future__ import annotations

from pathlib import Path

from arena.errors import ArenaError

ASSETS = Path(__file__).resolve().parent / "assets"


class ExampleError(ArenaError):
    """An example name this install does not have."""


def example_names() -> list[str]:
    """The bundled example files, by name (players.toml, tournament.toml)."""
    return sorted(p.name for p in ASSETS.glob("*.toml"))


def example_path(name: str) -> Path:
    """The absolute path of a bundled example file."""
    names = example_names()
    if name not in names:
        known = ", ".join(names) or "none in this install"
        raise ExampleError(f"no example named {name!r}; the examples are: {known}")
    return ASSETS / name
