#!/usr/bin/env python3
"""Show, follow or cancel the batches recorded in the run ledger (or the batch ids given); show
the flex runs too."""

from __future__ import annotations

import argparse
import sys

from lesson_batch import cli
from lesson_batch.api import BatchApi
from lesson_batch.errors import LessonBatchError
from lesson_batch.ledger import Ledger
from lesson_batch.output import EventSink
from lesson_batch.status_job import StatusRequest, check_status
from lesson_batch.text import status as status_text
from lesson_batch.workspace import Workspace


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=cli.paragraph(
            "Show the status of your batches: what each status means, request counts, times, errors "
            "and the next step. With no batch ids, every batch and flex run in the run ledger. Updates the ledger, "
            "so process_batch_results.py knows which results are ready. Run it as often as you like."
        ),
        epilog=(
            "examples:\n"
            "  python check_batch_status.py                 # every batch, once\n"
            "  python check_batch_status.py --watch         # poll until every batch has finished\n"
            "  python check_batch_status.py --cancel batch_abc123\n"
            "  python check_batch_status.py --lessons       # also list lessons that are not saved yet\n"
            "  python check_batch_status.py --give-up batch_abc123   # a batch the API no longer knows (404)\n\n"
            "exit codes: 0 success (with --watch: every batch finished and none failed), 1 a failure (API "
            "error, a batch the API does not know for this key and project (404), a batch failed, expired or "
            "was cancelled and some of its lessons are neither saved "
            "nor submitted again, or lessons need a person), "
            "2 usage error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("batch_ids", nargs="*", metavar="BATCH_ID",
                        help="batches to show (default: all in the ledger)")
    cli.add_work_dir(parser)
    parser.add_argument("--watch", action="store_true",
                        help="poll until every batch is finished, with a progress bar (off a terminal: a dated "
                             "line per change); Ctrl-C stops watching, the batches keep running")
    parser.add_argument("--interval", type=cli.positive_float, default=None, metavar="SECONDS",
                        help="with --watch: first polling interval, fractions allowed; it backs off to 5 minutes "
                             "while nothing changes (default: 30)")
    parser.add_argument("--cancel", action="store_true",
                        help="cancel the given batches (with no ids: every unfinished batch in the ledger)")
    parser.add_argument("--give-up", action="store_true",
                        help="give up the given batches, which the API answers 404 for (not found for this key and "
                             "project: another key or project, a local test server started again): their lessons "
                             "can then be requested again. Refused for a batch the API still knows")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="with --cancel or --give-up: do not ask for confirmation")
    parser.add_argument("--lessons", action="store_true",
                        help="also list every lesson that is not saved, with its state")
    cli.add_json(parser, "the status")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.give_up and not args.batch_ids:
        parser.error("--give-up needs the ids of the batches to give up (the status names them)")
    if args.give_up and (args.cancel or args.watch):
        parser.error("--give-up goes alone, without --cancel or --watch")
    if args.interval is not None and not args.watch:
        parser.error("--interval goes with --watch")  # it is the polling interval of --watch, and nothing else
    args.interval = args.interval if args.interval is not None else DEFAULT_INTERVAL
    printer = cli.Printer(args.json, command="check_batch_status")
    if not Ledger.exists(args.work_dir) and not args.batch_ids:
        if Workspace(args.work_dir).shows_earlier_use():
            raise LessonBatchError(status_text.ledger_lost_error(args.work_dir))
        return cli.Outcome(status_text.no_ledger_lines(args.work_dir), NOTHING_SUBMITTED).show(printer)
    # Batch ids given where no ledger exists are looked at without creating one.
    with cli.open_ledger(args.work_dir, repair=True) if Ledger.exists(args.work_dir) else Ledger.in_memory() as ledger:
        events = EventSink(printer, status_text.StatusWords())
        if ledger.lost is not None:  # set aside as damaged, or emptied: rebuilt before it is shown
            cli.recover_lost_ledger(ledger, BatchApi.from_environment(on_retry=events), printer)
        try:
            result = check_status(
                ledger, request_of(args), events, lambda asked: cli.confirm(status_text.question(asked), args.yes)
            )
        finally:
            events.close()
    return cli.Outcome(
        status_text.result_lines(result, args.json), status_text.result_json(result) if args.json else None,
        cli.EXIT_FAILURE if result.failed else cli.EXIT_OK,
    ).show(printer)


DEFAULT_INTERVAL = 30.0
NOTHING_SUBMITTED = {"batches": [], "flex_runs": [], "lessons": {}}  # the result when nothing was submitted


def request_of(args: argparse.Namespace) -> StatusRequest:
    return StatusRequest(
        args.work_dir, tuple(args.batch_ids), cancel=args.cancel, yes=args.yes, watch=args.watch,
        interval=args.interval, list_lessons=args.lessons, give_up=args.give_up,
    )


if __name__ == "__main__":
    sys.exit(cli.run(main))
