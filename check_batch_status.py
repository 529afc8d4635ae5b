#!/usr/bin/env python3
"""Show, follow or cancel the batches recorded in the run ledger (or the batch ids given); show
the flex runs too."""

from __future__ import annotations

import argparse
import sys

from lesson_batch import cli
from lesson_batch.api import BatchApi, effective_base_url
from lesson_batch.batch_sync import cancel, problem_messages, refresh, watch
from lesson_batch.files import display_path
from lesson_batch.ledger import Ledger
from lesson_batch.states import ACTIVE_BATCH_STATUSES
from lesson_batch.status import StatusReport, WatchDisplay, flex_run_summary, lesson_counts, needs_attention, view
from lesson_batch.wording import Commands, plural
from lesson_batch.workdir import API_BASE_URL, OUTPUT_DIR, remembered_path, settle_ledger


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
            "  python check_batch_status.py --lessons       # also list lessons that are not saved yet\n\n"
            "exit codes: 0 success (with --watch: every batch finished and none failed), 1 a failure (API "
            "error, a batch failed, expired or was cancelled and some of its lessons are neither saved "
            "nor submitted again, or lessons need a person), "
            "2 usage error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("batch_ids", nargs="*", metavar="BATCH_ID", help="batches to show (default: all in the ledger)")
    cli.add_work_dir(parser)
    parser.add_argument("--watch", action="store_true", help="poll until every batch is finished, with a progress bar (off a terminal: a dated line per "
                             "change); Ctrl-C stops watching, the batches keep running")
    parser.add_argument("--interval", type=cli.positive_float, default=30.0, metavar="SECONDS",
                        help="with --watch: first polling interval, fractions allowed; it backs off to 5 minutes "
                             "while nothing changes (default: 30)")
    parser.add_argument("--cancel", action="store_true",
                        help="cancel the given batches (with no ids: every unfinished batch in the ledger)")
    parser.add_argument("--yes", "-y", action="store_true", help="with --cancel: do not ask for confirmation")
    parser.add_argument("--lessons", action="store_true", help="also list every lesson that is not saved, with its state")
    cli.add_json(parser, "the status")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    printer = cli.Printer(args.json)
    if not Ledger.exists(args.work_dir) and not args.batch_ids:
        return nothing_submitted(args).show(printer)
    # Batch ids given where no ledger exists are looked at without creating one.
    with cli.open_ledger(args.work_dir) if Ledger.exists(args.work_dir) else Ledger.in_memory() as ledger:
        return status(args, ledger, printer).show(printer)


def nothing_submitted(args: argparse.Namespace) -> cli.Outcome:
    return cli.Outcome(
        [f"No run ledger in {display_path(args.work_dir)}: nothing was submitted from there yet. "
         f"Submit with: {Commands(args.work_dir).generate}"],
        {"batches": [], "flex_runs": [], "lessons": {}},
    )


def status(args: argparse.Namespace, ledger: Ledger, printer: cli.Printer) -> cli.Outcome:
    """Show (or follow, or cancel) the batches; the outcome holds the report and the exit code."""
    commands = Commands(args.work_dir)
    batch_ids = list(args.batch_ids) or [record.batch_id for record in ledger.batches()]
    # Flex runs are shown from the ledger alone (nothing to ask the API once a run is over).
    flex_runs = [] if args.batch_ids else [flex_run_summary(ledger, run) for run in ledger.flex_runs()]
    if not batch_ids and (args.cancel or not flex_runs):
        return cli.Outcome(
            [f"No batches recorded in {ledger.path}. Submit with: {commands.generate}"],
            {"batches": [], "flex_runs": flex_runs, "lessons": lesson_counts(ledger)},
        )
    lessons_dir = None
    if ledger.path is not None:
        for note in settle_ledger(ledger, args.work_dir, {API_BASE_URL: effective_base_url()}).notes:
            printer.note(note)
        lessons_dir = remembered_path(ledger, OUTPUT_DIR)
    api = BatchApi.from_environment(on_retry=printer.note) if batch_ids else None
    if args.cancel:
        return _cancel(ledger, api, list(args.batch_ids), args.yes, printer, commands)
    if not batch_ids:
        records, problems = [], []
    elif args.watch:
        records, problems = _watch(ledger, api, batch_ids, args.interval, printer, commands), []
    else:
        records, problems = refresh(ledger, api, batch_ids)
    errors = problem_messages(problems)
    for message in errors:
        printer.error(message)
    stale = {problem.batch_id for problem in problems}
    views = [view(ledger, record, stale=record.batch_id in stale) for record in records]
    report = StatusReport(
        views, ledger, commands, lessons_dir, list_lessons=args.lessons, errors=errors, flex_runs=flex_runs
    )
    missing = [batch_id for batch_id in batch_ids if batch_id not in {record.batch_id for record in records}]
    failed = errors or missing or report.attention() or any(needs_attention(ledger, record) for record in records)
    return cli.Outcome(
        [] if args.json else report.lines(),
        report.as_json() if args.json else None,
        cli.EXIT_FAILURE if failed else cli.EXIT_OK,
    )


def _cancel(
    ledger: Ledger, api: BatchApi, given: list[str], yes: bool, printer: cli.Printer, commands: Commands
) -> cli.Outcome:
    targets = given or [record.batch_id for record in ledger.batches() if record.status in ACTIVE_BATCH_STATUSES]
    if not targets:
        return cli.Outcome(["No unfinished batch to cancel."])
    if not cli.confirm(f"Cancel {plural(len(targets), 'batch', 'batches')}: {', '.join(targets)}?", yes):
        return cli.Outcome(["Nothing was cancelled."], exit_code=cli.EXIT_FAILURE)
    for info in cancel(ledger, api, targets):  # each said as it happens
        printer.out(f"Batch {info.id}: {info.status}. Finished requests keep their results; "
                    f"process them with {commands.process} once it is cancelled.")
    return cli.Outcome()


def _watch(
    ledger: Ledger, api: BatchApi, batch_ids: list[str], interval: float, printer: cli.Printer, commands: Commands
) -> list:
    display = WatchDisplay(printer.out)
    try:
        records = watch(ledger, api, batch_ids, interval, on_poll=display)
    except KeyboardInterrupt:
        display.close()
        printer.out(f"Stopped watching. The batches keep running on the server; run {commands.status} again any time.")
        raise
    display.close()
    finished: dict[str, int] = {}
    for record in records:
        finished[record.status] = finished.get(record.status, 0) + 1
    printer.out("Summary: " + ", ".join(f"{count} {status}" for status, count in sorted(finished.items())))
    return records


if __name__ == "__main__":
    sys.exit(cli.run(main))
