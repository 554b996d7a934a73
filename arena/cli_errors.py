"""The CLI's one error handler: every failure becomes one clear, sanitised message and an exit
code (`arena.errors`): 0 done, 1 a user error (bad file, database, config, endpoint, value),
2 a bad command line, 130 interrupted, 70 a bug in arena. `arena --debug` (or `ARENA_DEBUG=1`)
shows the traceback as well."""

from __future__ import annotations

import os
import sqlite3
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import click

from arena.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    ArenaError,
)
from arena.safe_text import one_line

_debug = False


def set_debug(value: bool) -> None:
    global _debug
    _debug = value


def debugging() -> bool:
    return _debug or os.environ.get("ARENA_DEBUG", "") not in ("", "0")


def _lines(message: object) -> str:
    """`message` sanitised line by line; continuation lines indented under the first."""
    lines = [one_line(line.strip()) for line in str(message).splitlines() if line.strip()]
    return "\n  ".join(lines) or "(no message)"


def _say(message: object) -> None:
    click.echo("Error: " + _lines(message), err=True)


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def _show_click(exc: click.ClickException) -> None:
    # The message may quote what the user typed (a file name, a value): sanitise it before
    # click prints it (click itself would strip ANSI sequences off a pipe, silently).
    exc.message = _lines(exc.message)
    exc.show()


def run_cli(invoke: Callable[[], Any]) -> NoReturn:
    """Run `invoke` (a click command in non-standalone mode) under the one handler."""
    try:
        result = invoke()
    except click.exceptions.Exit as exc:
        _exit(exc.exit_code)
    except click.ClickException as exc:
        _show_click(exc)
        _exit(exc.exit_code)
    except click.Abort:
        click.echo("Interrupted.", err=True)
        _exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        _exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `arena ... | head`: the reader left; say nothing more (and keep Python quiet at exit).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        _exit(EXIT_USER_ERROR)
    except ArenaError as exc:
        if debugging():
            traceback.print_exc()
        _say(str(exc) or type(exc).__name__)
        _exit(exc.exit_code)
    except (OSError, sqlite3.DatabaseError) as exc:
        # The machine said no: a missing or unreadable file, a full disk, a locked database.
        if debugging():
            traceback.print_exc()
        _say(_describe_os_error(exc))
        _exit(EXIT_USER_ERROR)
    except Exception as exc:  # a bug: say so, in one line, and how to see more
        if debugging():
            traceback.print_exc()
        _say(
            f"internal error (a bug in arena): {type(exc).__name__}: {exc}"
            + ("" if debugging() else "; run `arena --debug ...` for the traceback")
        )
        _exit(EXIT_INTERNAL)
    code = result if isinstance(result, int) else 0
    _exit(code)


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"database error: {exc}"
    return str(exc)
