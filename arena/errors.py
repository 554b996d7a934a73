"""Errors a user can cause, as one family, and the exit codes the CLI gives them.

Anything a user can fix (a bad file, database, config, endpoint or argument) raises an
`ArenaError` with a message that names what is wrong and, where it helps, what to do. The CLI
has one handler (`arena.cli.main`): it prints the message on one line through the sanitiser and
exits with the error's `exit_code`; `arena --debug` shows the traceback as well. Anything else
that escapes is a bug and is reported as one.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER_ERROR = 1  # a bad file, database, config, endpoint or value
EXIT_USAGE = 2  # a bad command line (click's own code)
EXIT_INTERNAL = 70  # a bug in arena (EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention)


class ArenaError(Exception):
    """Something a user caused and can fix. The message is shown as it is, on one line."""

    exit_code = EXIT_USER_ERROR


class ArenaUsageError(ArenaError):
    """A command line that cannot be run as written."""

    exit_code = EXIT_USAGE


class Interrupted(ArenaError):
    """Stopped by Ctrl-C or SIGTERM; the work done so far is kept."""

    exit_code = EXIT_INTERRUPTED
