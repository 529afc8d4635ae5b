"""What the three scripts share: default paths, common options, and errors turned into exit codes.

Exit codes (``errors``): 0 success, 1 failure (bad input, API error, a batch or lesson that
failed), 2 usage error (argparse's own code). A user-caused error (a ``LessonBatchError``) is
printed in plain words on stderr, without a traceback; any other exception is a bug and keeps
its traceback.

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

from . import output
from .api import effective_base_url
from .defaults import DEFAULT_CURRICULUM, DEFAULT_OUTPUT_DIR, DEFAULT_TEMPLATE, DEFAULT_WORK_DIR  # noqa: F401
from .errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, LessonBatchError, UsageError  # noqa: F401
from .files import disk_full_message, display_path, is_disk_full
from .ledger import Ledger
from .ledger.schema import Assumptions
from .output import Outcome, Printer, note  # noqa: F401 (Outcome: what the scripts end with)

EXIT_CODES_HELP = "exit codes: 0 success, 1 failure (bad input, API error, failed batch or lessons), 2 usage error"


def paragraph(text: str) -> str:
    """A --help description wrapped to a terminal's width (the formatter keeps epilogs as written)."""
    return textwrap.fill(text, width=88)


def absolute_path(text: str) -> Path:
    """A path option made absolute from the current folder at once (as the defaults are from the
    project folder): what the ledger records from it (request files kept under the work dir) is
    then found by a later run started from any folder."""
    return Path(text).absolute()


def add_work_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work-dir", type=absolute_path, default=DEFAULT_WORK_DIR, metavar="DIR",
        help=f"working folder for request/result files and the run ledger (default: {display_path(DEFAULT_WORK_DIR)})",
    )


def add_output_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-dir", type=Path, default=None, metavar="DIR",
        help="folder of the lesson files M<x>-L<yyy>.md (default: the one the work dir remembers, else lessons/ "
             f"beside the curriculum: {display_path(DEFAULT_OUTPUT_DIR)} for the bundled one)",
    )


def add_json(parser: argparse.ArgumentParser, what: str, more: str = "") -> None:
    parser.add_argument(
        "--json", action="store_true",
        help=f"print {what} as JSON on stdout, in the envelope every script prints (docs/json.md); the text and "
             f"the messages go to stderr{more}",
    )


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
        raise UsageError(f"{TODAY_ENV_VAR}={value!r} is not a date like 2026-12-02") from None


def today_note() -> str | None:
    """When ``LESSON_BATCH_TODAY`` sets the date, a note that says so (None otherwise)."""
    if not os.environ.get(TODAY_ENV_VAR, "").strip():
        return None
    return (
        f"note: the date is overridden: today is taken as {today().isoformat()} ({TODAY_ENV_VAR}), "
        f"not the machine's {date.today().isoformat()}"
    )


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def error(message: str) -> None:
    Printer().error(message)


def open_ledger(
    work_dir: Path,
    *,
    curriculum: Path | None = None,
    template: Path | None = None,
    output_dir: Path | None = None,
    read_only: bool = False,
    repair: bool = False,
) -> Ledger:
    """Open the work dir's ledger; a ledger made by an older version is upgraded, and what the
    upgrade assumed (the API address in use, the folders this run was given, the lessons folder
    where the ledger's saved lessons are) is said once, on stderr. A curriculum or template this
    run was not given is left unknown: a default would be a guess, and a wrong curriculum binds
    the work dir to another course; the first run that is given one fills it in."""
    # Version 1 used the bundled course's lessons folder whatever the curriculum: that is the
    # folder an old ledger's saved lessons are in when this run names none (checked against the
    # lessons the ledger records as saved before it is assumed).
    assume = Assumptions(
        api_base_url=effective_base_url(),
        curriculum=str(Path(curriculum).resolve()) if curriculum is not None else None,
        template=str(Path(template).resolve()) if template is not None else None,
        output_dir=str(Path(output_dir or DEFAULT_OUTPUT_DIR).resolve()),
    )
    ledger = Ledger.open(work_dir, assume=assume, read_only=read_only, repair=repair)
    for line in ledger.upgrade_notes:
        note(f"note: {line}")
    return ledger


def recover_lost_ledger(
    ledger: Ledger,
    api,
    printer: Printer,
    *,
    output_dir: Path | None = None,
    named: tuple[str, ...] = (),
    before_writing=None,
) -> None:
    """A ledger that was lost or damaged (``Ledger.lost``) is rebuilt from the API's batches and
    the files in the work dir before anything else, and what was recovered is said (on stderr)."""
    from . import recovery
    from .text import status as status_text

    lost = ledger.lost
    if lost is None:
        return
    with ledger.submission_lock():
        report = recovery.rebuild(ledger, api, output_dir, named, before_writing or (lambda course: None))
    for line in status_text.rebuild_lines(report, ledger, lost):
        printer.note(line)


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


def confirm(question: str, yes: bool = False) -> bool:
    """Whether to go ahead: yes with ``--yes``, and off a terminal (never wait for an answer
    nobody can give: scripts, CI, pipes); otherwise the person answers ``question``."""
    if yes or not sys.stdin.isatty():
        return True
    return ask(question)


def run(main: Callable[[], int]) -> int:
    """Run a script's main, turning user-caused errors into messages and exit codes. A ``--json``
    run that ends with such an error still prints its envelope (``result`` null), so that stdout
    holds one document whatever happens, except a usage error the option parser reports."""
    output.begin_run()
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
        except LessonBatchError as exc:
            error(str(exc))
            return _ended(exc.exit_code)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # Where no step said more (each records itself before the next): a plain message, not a traceback.
            error(disk_full_message(exc, "every step before this one is recorded in the ledger"))
            return _ended(EXIT_FAILURE)
        except KeyboardInterrupt as exc:
            message = getattr(exc, "message", None) or (
                "Interrupted. Nothing is lost: the ledger records every step; run the same command again to continue."
            )
            print(f"\n{message}", file=sys.stderr)
            if output.current_envelope() is not None:
                output.current_envelope().record(message, "error")
            return _ended(EXIT_FAILURE)
    except BrokenPipeError:
        # The reader of the output went away (`... | head`): stop quietly, as Unix tools do. Every
        # step already done is in the ledger (each change is one transaction).
        _silence_output()
        return EXIT_FAILURE


def _ended(exit_code: int) -> int:
    """The exit code of a run ended by an error; a ``--json`` run prints its envelope first."""
    envelope = output.current_envelope()
    if envelope is not None and not envelope.printed:
        envelope.print(exit_code, None)
        sys.stdout.flush()
    return exit_code


def _silence_output() -> None:
    """Point stdout and stderr at the null device, so the interpreter's final flush is silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
