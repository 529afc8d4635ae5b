#!/usr/bin/env python3
"""Show, follow or cancel the batches recorded in the run ledger (or the batch ids given)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from lesson_batch import cli
from lesson_batch.api import BatchApi
from lesson_batch.files import display_path
from lesson_batch.ledger import ACTIVE_BATCH_STATUSES, Ledger
from lesson_batch.status import (
    WatchDisplay,
    as_json,
    cancel,
    describe,
    describe_attention,
    lesson_counts,
    lessons_needing_attention,
    needs_attention,
    refresh,
    unsaved_lessons,
    watch,
)

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=cli.paragraph(
            "Show the status of your batches: what each status means, request counts, times, errors "
            "and the next step. With no batch ids, every batch in the run ledger. Updates the ledger, "
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
    parser.add_argument("--watch", action="store_true", help="poll until every batch is finished, with a progress bar")
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
    out = (lambda line: print(line, file=sys.stderr)) if args.json else print
    if not args.batch_ids and not Ledger.exists(args.work_dir):
        out(f"No run ledger in {display_path(args.work_dir)}: nothing was submitted from there yet. "
            "Submit with: python generate_datagov_lessons_batch.py")
        if args.json:
            print(json.dumps({"batches": [], "lessons": {}}, indent=2))
        return cli.EXIT_OK
    with cli.open_ledger(args.work_dir) as ledger:
        batch_ids = list(args.batch_ids) or [record.batch_id for record in ledger.batches()]
        if not batch_ids:
            out(f"No batches recorded in {ledger.path}. Submit with: python generate_datagov_lessons_batch.py")
            if args.json:
                print(json.dumps({"batches": [], "lessons": lesson_counts(ledger)}, indent=2))
            return cli.EXIT_OK
        api = BatchApi.from_environment()

        if args.cancel:
            targets = list(args.batch_ids) or [
                record.batch_id for record in ledger.batches() if record.status in ACTIVE_BATCH_STATUSES
            ]
            if not targets:
                out("No unfinished batch to cancel.")
                return cli.EXIT_OK
            if not args.yes and sys.stdin.isatty():
                answer = input(f"Cancel {len(targets)} batch(es): {', '.join(targets)}? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    out("Nothing was cancelled.")
                    return cli.EXIT_FAILURE
            for info in cancel(ledger, api, targets):
                out(f"Batch {info.id}: {info.status}. Finished requests keep their results; "
                    "process them with process_batch_results.py once it is cancelled.")
            return cli.EXIT_OK

        if args.watch:
            records = _watch(ledger, api, batch_ids, args.interval, out)
        else:
            records, problems = refresh(ledger, api, batch_ids)
            for problem in problems:
                cli.error(problem.message)
            if problems and not records:
                return cli.EXIT_FAILURE

        now = time.time()
        attention = lessons_needing_attention(ledger)
        if args.json:
            payload = {"batches": [as_json(record, now) for record in records], "lessons": lesson_counts(ledger),
                       "needs_attention": attention}
            if args.lessons:
                payload["unsaved_lessons"] = unsaved_lessons(ledger)
            print(json.dumps(payload, indent=2))
        else:
            for record in records:
                for line in describe(record, now):
                    print(line)
            counts = {state: count for state, count in lesson_counts(ledger).items() if count}
            if counts:
                print("Lessons: " + ", ".join(f"{count} {state}" for state, count in counts.items()))
            for line in describe_attention(attention):
                print(line)
            if args.lessons:
                for lesson in unsaved_lessons(ledger):
                    print(f"  {lesson['lesson_id']}: {lesson['state']}" + (f" ({lesson['reason']})" if lesson["reason"] else ""))
                    if "what_to_do" in lesson:
                        print(f"    tried {lesson['attempts']} times; what to do: {lesson['what_to_do']}")

        missing = [batch_id for batch_id in batch_ids if batch_id not in {record.batch_id for record in records}]
        failed = missing or attention or any(needs_attention(ledger, record) for record in records)
        return cli.EXIT_FAILURE if failed else cli.EXIT_OK


def _watch(ledger: Ledger, api: BatchApi, batch_ids: list[str], interval: float, out) -> list:
    display = WatchDisplay(out)
    try:
        records = watch(ledger, api, batch_ids, interval, on_poll=display)
    except KeyboardInterrupt:
        display.close()
        out("Stopped watching. The batches keep running on the server; run check_batch_status.py again any time.")
        raise
    display.close()
    finished: dict[str, int] = {}
    for record in records:
        finished[record.status] = finished.get(record.status, 0) + 1
    out("Summary: " + ", ".join(f"{count} {status}" for status, count in sorted(finished.items())))
    return records


if __name__ == "__main__":
    sys.exit(cli.run(main))
