#!/usr/bin/env python3
"""Download finished batch results, check each lesson, and save the good ones as Markdown files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lesson_batch import cli
from lesson_batch.api import BatchApi
from lesson_batch.errors import LessonBatchError
from lesson_batch.ledger import Ledger, LostLedger
from lesson_batch.output import EventSink
from lesson_batch.process_job import ProcessRequest, process_results
from lesson_batch.text import processing as processing_text
from lesson_batch.text import status as status_text
from lesson_batch.workspace import Workspace


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
    printer = cli.Printer(args.json, command="process_batch_results")
    # A work dir whose ledger is gone but that shows earlier use (its request files, results, lock),
    # or batch ids given: the ledger is rebuilt from the API's batches and processing goes on.
    rebuild_for_named = bool(args.batch_ids) and not Ledger.exists(args.work_dir)
    if not Ledger.exists(args.work_dir) and (
        args.results_file or not (Workspace(args.work_dir).shows_earlier_use() or args.batch_ids)
    ):
        if args.results_file or args.batch_ids:
            raise LessonBatchError(status_text.no_ledger_to_match(args.work_dir))
        return cli.Outcome(status_text.no_ledger_lines(args.work_dir, process=True), dict(NOTHING_PROCESSED)).show(
            printer)
    request = ProcessRequest(
        args.work_dir, tuple(args.batch_ids), args.results_file, args.errors_file, args.output_dir, args.force
    )
    events = EventSink(printer, status_text.StatusWords())
    with cli.open_ledger(args.work_dir, output_dir=args.output_dir, repair=True) as ledger:
        if rebuild_for_named and ledger.lost is None:
            ledger.lost = LostLedger("missing")
        if ledger.lost is not None and not args.results_file:
            api = BatchApi.from_environment(on_retry=events)
            cli.recover_lost_ledger(ledger, api, printer, output_dir=args.output_dir, named=tuple(args.batch_ids))
        summary = process_results(ledger, request, events)
        if summary is None:
            return cli.Outcome(status_text.nothing_recorded_lines(ledger.path, args.work_dir),
                               dict(NOTHING_PROCESSED)).show(printer)
    return cli.Outcome(
        processing_text.processing_lines(summary),
        summary.as_json(),
        cli.EXIT_FAILURE if summary.failed else cli.EXIT_OK,
    ).show(printer)


NOTHING_PROCESSED = {"batches": [], "total": None, "not_ready": []}  # the result when nothing was submitted


if __name__ == "__main__":
    sys.exit(cli.run(main))
