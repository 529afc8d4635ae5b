#!/usr/bin/env python3
"""Download finished batch results, check each lesson, and save the good ones as Markdown files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lesson_batch import cli
from lesson_batch.api import BatchApi
from lesson_batch.files import display_path
from lesson_batch.ledger import Ledger
from lesson_batch.results import Report, format_report, process_files
from lesson_batch.status import describe, describe_attention, lessons_needing_attention
from lesson_batch.workflow import process_ready


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
            "  python process_batch_results.py --results-file batch_api/datagov_lessons_results.jsonl\n\n"
            "exit codes: 0 every lesson processed was saved, 1 some lessons were not saved (run the generate "
            "script again to retry them), some result lines could not be used, or an error; 2 usage error"
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
    out = (lambda line: print(line, file=sys.stderr)) if args.json else print
    if not Ledger.exists(args.work_dir):
        cli.error(
            f"no run ledger in {display_path(args.work_dir)}: results can only be matched to lessons that "
            "were submitted from there (pass the --work-dir the generate script used)"
        )
        return cli.EXIT_FAILURE

    with cli.open_ledger(args.work_dir, output_dir=args.output_dir) as ledger:
        if args.results_file:
            paths = [args.results_file] + ([args.errors_file] if args.errors_file else [])
            for path in paths:
                if not path.is_file():
                    cli.error(f"{path}: file not found")
                    return cli.EXIT_FAILURE
            reports = [process_files(ledger, paths, args.output_dir, args.work_dir, args.force)]
            not_ready = []
        else:
            unknown = [batch_id for batch_id in args.batch_ids if ledger.batch(batch_id) is None]
            if unknown:
                cli.error(f"not in the ledger {ledger.path}: {', '.join(unknown)}")
                return cli.EXIT_FAILURE
            if not ledger.batches():
                out(f"No batches recorded in {ledger.path}. Submit with: python generate_datagov_lessons_batch.py")
                return cli.EXIT_OK
            api = BatchApi.from_environment()
            reports, not_ready = process_ready(
                ledger, api, args.output_dir, args.work_dir, list(args.batch_ids) or None, args.force, say=out
            )
        attention = lessons_needing_attention(ledger, among={i for report in reports for i in report.not_saved})

    total = Report(label="total")
    for report in reports:
        total.merge(report)
        for line in format_report(report):
            out(line)
    if len(reports) > 1:
        for line in format_report(total):
            out(line)
    if not reports:
        out("No finished batch is waiting to be processed.")
    if not_ready:
        out("Not finished yet:")
        now = time.time()
        for record in not_ready:
            for line in describe(record, now):
                out(line)
    if args.json:
        print(json.dumps({"batches": [r.as_json() for r in reports], "total": total.as_json(),
                          "not_ready": [r.batch_id for r in not_ready],
                          "needs_attention": [entry["lesson_id"] for entry in attention]}, indent=2))
    unsaved = total.failed_count + len(total.missing)
    if unsaved - len(attention):
        out(f"{unsaved - len(attention)} lessons were not saved; run python generate_datagov_lessons_batch.py "
            "to request them again.")
    for line in describe_attention(attention):
        out(line)
    if total.bad_lines:
        out(f"{len(total.bad_lines)} result lines could not be used (listed above).")
    return cli.EXIT_FAILURE if unsaved or total.bad_lines else cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli.run(main))
