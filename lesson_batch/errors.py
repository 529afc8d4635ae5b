"""The one base of every error a user can cause, and the exit codes the scripts end with.

Exit codes: 0 success, 1 failure (bad input, API error, a batch or lesson that failed), 2 usage
error (argparse's own code). Each module keeps its own error classes, all subclasses of
``LessonBatchError``; ``cli.run`` catches this one base, prints its message in plain words and
ends with its ``exit_code``. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class LessonBatchError(Exception):
    """An error the user can fix; its message says what went wrong and what to do, in plain words."""

    exit_code: int = EXIT_FAILURE


class UsageError(LessonBatchError):
    """Options or a selection that cannot be used as given (the exit code of a usage error)."""

    exit_code = EXIT_USAGE


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that ends a run, with what the person must know about it (what keeps running on
    the server, what is billed, what to run next); ``cli.run`` prints ``message``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
