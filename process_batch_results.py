#!/usr/bin/env python3
"""Download finished batch results, check each lesson, and save the good ones as Markdown files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lesson_batch import cli
from lesson_batch.api import BatchApi, effective_base_url
from lesson_batch.files import display_path
from lesson_batch.ledger import Ledger
from lesson_batch.results import Report, format_report
from lesson_batch.batch_sync import problem_messages
from lesson_batch.status import describe, describe_attention, lessons_needing_attention, view
from lesson_batch.wording import Commands, plural
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
    out = cli.printer(args.json)
    commands = Commands(args.work_dir)
    if not Ledger.exists(args.work_dir):
        if args.results_file or args.batch_ids:
            cli.error(
                f"no run ledger in {display_path(args.work_dir)}: results can only be matched to lessons that "
                "were submitted from there (pass the --work-dir the generate script used)"
            )
            return cli.EXIT_FAILURE
        out(f"No run ledger in {display_path(args.work_dir)}: nothing was submitted from there yet, so there is "
            f"nothing to process. Submit with: {commands.generate}")
        if args.json:
            print(json.dumps({"batches": [], "total": None, "not_ready": []}, indent=2))
        return cli.EXIT_OK

    problems = []
    with cli.open_ledger(args.work_dir, output_dir=args.output_dir) as ledger:
        if args.results_file:
            paths = [args.results_file] + ([args.errors_file] if args.errors_file else [])
            for path in paths:
                if not path.is_file():
                    cli.error(f"{path}: file not found")
                    return cli.EXIT_FAILURE
            output_dir = _lessons_folder(ledger, args, None)
            reports = [process_files_given(ledger, paths, output_dir, args.work_dir, args.force)]
            not_ready = []
        else:
            unknown = [batch_id for batch_id in args.batch_ids if ledger.batch(batch_id) is None]
            if unknown:
                cli.error(f"not in the ledger {ledger.path}: {', '.join(unknown)}")
                return cli.EXIT_FAILURE
            if not ledger.batches():
                out(f"No batches recorded in {ledger.path}. Submit with: {commands.generate}")
                return cli.EXIT_OK
            api = BatchApi.from_environment(on_retry=cli.note)
            output_dir = _lessons_folder(ledger, args, api)
            reports, not_ready, problems = process_ready(
                ledger, api, output_dir, args.work_dir, list(args.batch_ids) or None, args.force, say=out
            )
        errors = problem_messages(problems)
        for message in errors:
            cli.error(message)
        stale = {problem.batch_id for problem in problems}
        not_ready_views = [view(ledger, record, stale=record.batch_id in stale) for record in not_ready]
        left = lessons_left(ledger)
        interrupted = lessons_in_unfinished_submissions(ledger)
        attention = lessons_needing_attention(
            ledger, among={i for report in reports for i in report.not_saved}, commands=commands
        )

    total = Report(label="total")
    for report in reports:
        total.merge(report)
        for line in format_report(report):
            out(line)
    if len(reports) > 1:
        for line in format_report(total):
            out(line)
    if not reports:
        out("No finished batch is waiting to be processed." if not errors else
            "Nothing was processed: the API could not tell which batches have finished (see the error above).")
    if not_ready_views:
        out("Not finished yet" + (" (as the ledger last saw them):" if errors else ":"))
        now = time.time()
        for batch in not_ready_views:
            for line in describe(batch, now, commands):
                out(line)
    if args.json:
        payload = {"batches": [r.as_json() for r in reports], "total": total.as_json(),
                   "not_ready": [batch.record.batch_id for batch in not_ready_views],
                   "needs_attention": [entry["lesson_id"] for entry in attention],
                   "lessons_folder": str(output_dir), "lessons_to_request_again": left,
                   "lessons_in_unfinished_submissions": interrupted}
        if errors:
            payload["error"] = "\n".join(errors)
        print(json.dumps(payload, indent=2))
    if left:
        shown = ", ".join(left[:10]) + (" ..." if len(left) > 10 else "")
        out(f"{plural(len(left), 'lesson')} {'is' if len(left) == 1 else 'are'} not saved and in no batch ({shown}); "
            f"run {commands.generate} to request {'it' if len(left) == 1 else 'them'} again.")
    if interrupted:
        shown = ", ".join(interrupted[:10]) + (" ..." if len(interrupted) > 10 else "")
        out(f"{plural(len(interrupted), 'lesson')} ({shown}) {'is' if len(interrupted) == 1 else 'are'} in a "
            "submission an interrupted run left unfinished (its batch may exist already); "
            f"run {commands.generate} to finish it: it adopts that batch rather than paying twice.")
    for line in describe_attention(attention, commands):
        out(line)
    if total.bad_lines:
        out(f"{plural(len(total.bad_lines), 'result line')} could not be used (listed above).")
    return cli.EXIT_FAILURE if left or attention or total.bad_lines or errors else cli.EXIT_OK


def _lessons_folder(ledger: Ledger, args: argparse.Namespace, api: BatchApi | None) -> Path:
    """The lessons folder the work dir remembers (or the one given, which it remembers from now on)."""
    given = {OUTPUT_DIR: args.output_dir}
    if api is not None:
        given[API_BASE_URL] = effective_base_url()
    place = settle_ledger(ledger, args.work_dir, given)
    for note in place.notes:
        cli.note(note)
    return place.path(OUTPUT_DIR)


if __name__ == "__main__":
    sys.exit(cli.run(main))
