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

from .api import PROJECT_DIR, ApiError, effective_base_url
from .curriculum import CurriculumError
from .files import display_path
from .ledger import Ledger, LedgerError
from .ledger_schema import Assumptions
from .plan import SelectionError
from .prompt import PromptError
from .requests import RequestSettingsError
from .shards import ShardError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

DEFAULT_CURRICULUM = PROJECT_DIR / "src" / "data" / "data_gov" / "Content Structure.md"
DEFAULT_OUTPUT_DIR = PROJECT_DIR / "src" / "data" / "data_gov" / "lessons"
DEFAULT_WORK_DIR = PROJECT_DIR / "batch_api"
DEFAULT_TEMPLATE = PROJECT_DIR / "prompts" / "lesson_generation_prompt.md"

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
        "--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, metavar="DIR",
        help=f"folder of the lesson files M<x>-L<yyy>.md (default: {display_path(DEFAULT_OUTPUT_DIR)})",
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
    curriculum: Path = DEFAULT_CURRICULUM,
    template: Path = DEFAULT_TEMPLATE,
    output_dir: Path = DEFAULT_OUTPUT_DIR,
    read_only: bool = False,
) -> Ledger:
    """Open the work dir's ledger; a ledger made by an older version is upgraded, and what the
    upgrade assumed (this run's folders, or the defaults the older version used, and the API
    address in use) is said once, on stderr."""
    assume = Assumptions(
        api_base_url=effective_base_url(),
        curriculum=str(Path(curriculum).resolve()),
        template=str(Path(template).resolve()),
        output_dir=str(Path(output_dir).resolve()),
    )
    ledger = Ledger.open(work_dir, assume=assume, read_only=read_only)
    for note in ledger.upgrade_notes:
        print(f"note: {note}", file=sys.stderr)
    return ledger


def run(main: Callable[[], int]) -> int:
    """Run a script's main, turning user-caused errors into messages and exit codes."""
    for stream in (sys.stdout, sys.stderr):
        # A console or pipe whose encoding lacks a character of a title, path or id from a results
        # file shows it escaped instead of ending the run with a UnicodeEncodeError.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return main()
    except (SelectionError, RequestSettingsError) as exc:
        error(str(exc))
        return EXIT_USAGE
    except (CurriculumError, PromptError, ShardError, LedgerError, ApiError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(
            "\nInterrupted. Nothing is lost: the ledger records every step; run the same command again to continue.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
