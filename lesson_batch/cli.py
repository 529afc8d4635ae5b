"""What the three scripts share: default paths, common options, and errors turned into exit codes.

Exit codes: 0 success, 1 failure (bad input, API error, a batch or lesson that failed), 2 usage
error (argparse's own code). A user-caused error is printed in plain words on stderr, without a
traceback; an unexpected exception is a bug and keeps its traceback.

``today()`` is the date the model lifecycle checks use: the machine's date, or the one in the
environment variable ``LESSON_BATCH_TODAY`` (YYYY-MM-DD), so that tests and rehearsals can run
on any date.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Callable

from .api import ApiError, effective_base_url
from .curriculum import CurriculumError
from .files import FolderError, display_path
from .ledger import Ledger, LedgerError
from .ledger_schema import Assumptions
from .paths import DEFAULT_CURRICULUM, DEFAULT_OUTPUT_DIR, DEFAULT_TEMPLATE, DEFAULT_WORK_DIR  # noqa: F401
from .plan import SelectionError
from .prompt import PromptError
from .requests import RequestSettingsError
from .result_workers import WorkerDied
from .shards import ShardError
from .workdir import WorkDirError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


EXIT_CODES_HELP = "exit codes: 0 success, 1 failure (bad input, API error, failed batch or lessons), 2 usage error"


def paragraph(text: str) -> str:
    """A --help description wrapped to a terminal's width (the formatter keeps epilogs as written)."""
    return textwrap.fill(text, width=88)


def add_work_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work-dir", type=Path, default=DEFAULT_WORK_DIR, metavar="DIR",
        help=f"working folder for request/result files and the run ledger (default: {display_path(DEFAULT_WORK_DIR)})",
    )


def add_output_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-dir", type=Path, default=None, metavar="DIR",
        help="folder of the lesson files M<x>-L<yyy>.md (default: the one the work dir remembers, else lessons/ "
             f"beside the curriculum: {display_path(DEFAULT_OUTPUT_DIR)} for the bundled one)",
    )


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout (messages go to stderr)")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


TODAY_ENV_VAR = "LESSON_BATCH_TODAY"


def today() -> date:
    value = os.environ.get(TODAY_ENV_VAR, "").strip()
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RequestSettingsError(f"{TODAY_ENV_VAR}={value!r} is not a date like 2026-12-02") from None


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def open_ledger(
    work_dir: Path,
    *,
    curriculum: Path | None = None,
    template: Path | None = None,
    output_dir: Path | None = None,
    read_only: bool = False,
) -> Ledger:
    """Open the work dir's ledger; a ledger made by an older version is upgraded, and what the
    upgrade assumed (this run's folders, or the defaults the older version used, and the API
    address in use) is said once, on stderr."""
    # Version 1 used the bundled course's lessons folder whatever the curriculum: that is the
    # folder an old ledger's saved lessons are in when this run names none.
    assume = Assumptions(
        api_base_url=effective_base_url(),
        curriculum=str(Path(curriculum or DEFAULT_CURRICULUM).resolve()),
        template=str(Path(template or DEFAULT_TEMPLATE).resolve()),
        output_dir=str(Path(output_dir or DEFAULT_OUTPUT_DIR).resolve()),
    )
    ledger = Ledger.open(work_dir, assume=assume, read_only=read_only)
    for note in ledger.upgrade_notes:
        print(f"note: {note}", file=sys.stderr)
    return ledger


def note(message: str) -> None:
    """A message that is not the command's output: progress, notes, warnings (stderr)."""
    print(message, file=sys.stderr)


def printer(json_output: bool) -> Callable[[str], None]:
    """Where a script's text goes: stdout, or stderr when stdout carries JSON."""
    return note if json_output else print


def ask(question: str) -> bool:
    """A yes/no question on a terminal. It goes to stderr (stdout may be redirected to a file),
    and an end of input (Ctrl-D, Ctrl-Z) is a no."""
    sys.stdout.flush()  # the plan above the question, when both go to the terminal
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def run(main: Callable[[], int]) -> int:
    """Run a script's main, turning user-caused errors into messages and exit codes."""
    for stream in (sys.stdout, sys.stderr):
        # A console or pipe whose encoding lacks a character of a title, path or id from a results
        # file shows it escaped instead of ending the run with a UnicodeEncodeError.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        try:
            code = main()
            sys.stdout.flush()  # here, not at exit: a reader that went away is noticed below
            return code
        except (SelectionError, RequestSettingsError) as exc:
            error(str(exc))
            return EXIT_USAGE
        except (CurriculumError, PromptError, ShardError, LedgerError, ApiError, FolderError, WorkDirError, WorkerDied) as exc:
            error(str(exc))
            return EXIT_FAILURE
        except KeyboardInterrupt:
            print(
                "\nInterrupted. Nothing is lost: the ledger records every step; run the same command again to continue.",
                file=sys.stderr,
            )
            return EXIT_FAILURE
    except BrokenPipeError:
        # The reader of the output went away (`... | head`): stop quietly, as Unix tools do. Every
        # step already done is in the ledger (each change is one transaction).
        _silence_output()
        return EXIT_FAILURE


def _silence_output() -> None:
    """Point stdout and stderr at the null device, so the interpreter's final flush is silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
