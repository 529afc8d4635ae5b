#!/usr/bin/env python3
"""Download finished batch results, check each lesson, and save the good ones as Markdown files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lesson_batch import cli
from lesson_batch.api import BatchApi, effective_base_url
from lesson_batch.batch_sync import problem_messages
from lesson_batch.files import display_path
from lesson_batch.ledger import Ledger
from lesson_batch.status import ProcessingSummary, lessons_needing_attention, view
from lesson_batch.wording import Commands
from lesson_batch.workdir import API_BASE_URL, OUTPUT_DIR, settle_ledger
from lesson_batch.workflow import lessons_in_unfinished_submissions, lessons_left, process_files_given, process_ready


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=cli.paragraph(
            "Download the results of finished batches (kept in the work dir before anything else), match "
            "them to lessons by custom_id, clean and check each lesson, and save the good ones. Lessons "
            "that fail (errors, truncation, missing sections, expired or cancelled requests) are reported "
            "and requested again by the next run of generate_datagov_lessons_batch.py. Safe to run again."
        ),
        epilog=(
            "examples:\n"
            "  python process_batch_results.py                       # every finished batch not yet processed\n"
            "  python process_batch_results.py batch_abc123\n"
            "  python process_batch_results.py --results-file batch_api/datagov_lessons_results_batch_abc123.jsonl\n\n"
            "exit codes: 0 every lesson is saved or still on its way, and every result line was usable; 1 some\n"
            "lessons are not saved and in no batch (run the generate script to request them again), some need a\n"
            "person (tried --max-attempts times), some result lines could not be used, or an error (the API, a\n"
            "folder that cannot be written); 2 usage error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("batch_ids", nargs="*", metavar="BATCH_ID",
                        help="batches to process (default: every finished batch in the ledger not yet processed)")
    parser.add_argument("--results-file", type=Path, metavar="FILE",
                        help="process an output file already downloaded, without API access")
    parser.add_argument("--errors-file", type=Path, metavar="FILE",
                        help="with --results-file: the batch's error file too")
    cli.add_output_dir(parser)
    cli.add_work_dir(parser)
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing lesson files (the old version is kept under the work dir's replaced/)")
    cli.add_json(parser, "a summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.errors_file and not args.results_file:
        parser.error("--errors-file goes with --results-file")
    if args.results_file and args.batch_ids:
        parser.error("give batch ids or --results-file, not both")
    printer = cli.Printer(args.json)
    if not Ledger.exists(args.work_dir):
        return no_ledger(args).show(printer)
    with cli.open_ledger(args.work_dir, output_dir=args.output_dir) as ledger:
        outcome = process(args, ledger, printer)
    return outcome.show(printer)


def no_ledger(args: argparse.Namespace) -> cli.Outcome:
    if args.results_file or args.batch_ids:
        return failure(
            f"no run ledger in {display_path(args.work_dir)}: results can only be matched to lessons that "
            "were submitted from there (pass the --work-dir the generate script used)"
        )
    return cli.Outcome(
        [f"No run ledger in {display_path(args.work_dir)}: nothing was submitted from there yet, so there is "
         f"nothing to process. Submit with: {Commands(args.work_dir).generate}"],
        {"batches": [], "total": None, "not_ready": []},
    )


def failure(message: str) -> cli.Outcome:
    outcome = cli.Outcome(exit_code=cli.EXIT_FAILURE)
    outcome.error(message)
    return outcome


def process(args: argparse.Namespace, ledger: Ledger, printer: cli.Printer) -> cli.Outcome:
    """Process the results files given, or the batches ready; the outcome holds the summary."""
    commands = Commands(args.work_dir)
    problems = []
    if args.results_file:
        paths = [args.results_file] + ([args.errors_file] if args.errors_file else [])
        for path in paths:
            if not path.is_file():
                return failure(f"{path}: file not found")
        output_dir = _lessons_folder(ledger, args, None, printer)
        reports = [process_files_given(ledger, paths, output_dir, args.work_dir, args.force)]
        not_ready = []
    else:
        unknown = [batch_id for batch_id in args.batch_ids if ledger.batch(batch_id) is None]
        if unknown:
            return failure(f"not in the ledger {ledger.path}: {', '.join(unknown)}")
        if not ledger.batches():
            return cli.Outcome([f"No batches recorded in {ledger.path}. Submit with: {commands.generate}"])
        api = BatchApi.from_environment(on_retry=printer.note)
        output_dir = _lessons_folder(ledger, args, api, printer)
        reports, not_ready, problems = process_ready(
            ledger, api, output_dir, args.work_dir, list(args.batch_ids) or None, args.force, say=printer.out
        )
    errors = problem_messages(problems)
    for message in errors:
        printer.error(message)
    stale = {problem.batch_id for problem in problems}
    summary = ProcessingSummary(
        reports, output_dir, commands,
        not_ready=[view(ledger, record, stale=record.batch_id in stale) for record in not_ready],
        errors=errors,
        left=lessons_left(ledger),
        interrupted=lessons_in_unfinished_submissions(ledger),
        attention=lessons_needing_attention(
            ledger, among={i for report in reports for i in report.not_saved}, commands=commands
        ),
    )
    return cli.Outcome(summary.lines(), summary.as_json(), cli.EXIT_FAILURE if summary.failed else cli.EXIT_OK)


def _lessons_folder(ledger: Ledger, args: argparse.Namespace, api: BatchApi | None, printer: cli.Printer) -> Path:
    """The lessons folder the work dir remembers (or the one given, which it remembers from now on)."""
    given = {OUTPUT_DIR: args.output_dir}
    if api is not None:
        given[API_BASE_URL] = effective_base_url()
    place = settle_ledger(ledger, args.work_dir, given)
    for note in place.notes:
        printer.note(note)
    return place.path(OUTPUT_DIR)


if __name__ == "__main__":
    sys.exit(cli.run(main))
