#!/usr/bin/env python3
"""Plan and submit OpenAI Batch API requests, one per lesson of the curriculum.

Run with --dry-run first: it reads the curriculum, writes the request files into the work dir
and prints the plan with an estimated cost, without a key and without touching the network.

This is the entry point only: the options are ``generate_options``', the job is
``generate_job.generate``, and what it prints is ``text``'s (``run_json``'s under --json).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager, nullcontext

from lesson_batch import cli, run_json
from lesson_batch.api import BatchApi, effective_base_url
from lesson_batch.errors import Interrupted
from lesson_batch.files import check_folder
from lesson_batch.flex import FlexAbandoned
from lesson_batch.generate_job import DeclinedError, GenerateOutcome, course_guard, generate
from lesson_batch.generate_options import (
    build_parser,
    check_options,
    flex_settings,
    interval,
    plan_options,
    request_settings,
)
from lesson_batch.generate_wait import StoppedWaiting
from lesson_batch.ledger import Ledger
from lesson_batch.output import EventSink
from lesson_batch.settings import API_BASE_URL, CURRICULUM, OUTPUT_DIR, TEMPLATE, resolve_ledger_settings
from lesson_batch.text import ending as ending_text
from lesson_batch.text import events as events_text
from lesson_batch.text import plan as plan_text

COMMAND = "generate_datagov_lessons_batch"  # the envelope's ``command``


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_options(parser, args)
    printer = cli.Printer(args.json, command=COMMAND)
    settings = request_settings(args)  # checked first: a usage error is told before anything else
    check_folder(args.work_dir, "--work-dir")
    today = cli.today()
    if cli.today_note():
        printer.note(cli.today_note())
    events = EventSink(printer, events_text.RunWords())
    api = None
    if not args.dry_run:
        api = BatchApi.from_environment(on_retry=events, key_hint="Use --dry-run to plan without a key.")
    try:
        with _ledger(args, api, printer) as (ledger, place):
            outcome = generate(
                plan_options(args, place, settings), ledger, api,
                max_cost=args.max_cost,
                confirm=lambda plan: cli.confirm(plan_text.confirm_question(plan, args.via), args.yes),
                confirm_paying_again=lambda plan: sys.stdin.isatty() and cli.ask(plan_text.paying_again_question(plan)),
                wait=args.wait,
                interval=interval(args),
                events=events,
                via=args.via,
                flex=flex_settings(args),
                fallback_batch=args.fallback == "batch",
                today=today,
                today_overridden=cli.TODAY_ENV_VAR if cli.today_note() else None,
            )
            steps = ending_text.next_requests(outcome, args, ledger) if not args.dry_run else {}
    except DeclinedError as declined:  # the person answered no: not an error of the tool
        printer.out(str(declined))
        payload = None if declined.plan is None else result_of(GenerateOutcome(declined.plan, declined=True), args)
        return cli.Outcome(payload=payload, exit_code=cli.EXIT_FAILURE).show(printer)
    except (StoppedWaiting, FlexAbandoned) as stop:
        raise Interrupted(events_text.interrupted_message(stop)) from None
    finally:
        events.close()
    ending = ending_text.conclusion(outcome, args, steps)
    ending.payload = result_of(outcome, args)
    return ending.show(printer)


@contextmanager
def _ledger(args: argparse.Namespace, api: BatchApi | None, printer: cli.Printer):
    """The work dir's ledger (none for a dry run in a work dir without one), recovered first if it
    was lost, and the settings of the run (the given options, else what the work dir remembers)."""
    dry_run_without_ledger = args.dry_run and not Ledger.exists(args.work_dir)
    ledger_opened = nullcontext() if dry_run_without_ledger else cli.open_ledger(
        args.work_dir, curriculum=args.curriculum, template=args.prompt_template, output_dir=args.output_dir,
        read_only=args.dry_run, repair=not args.dry_run,
    )
    with ledger_opened as ledger:
        guard = course_guard(args.work_dir, ledger, args.curriculum, args.yes)
        if ledger is None:
            guard(None)
        elif api is not None:
            cli.recover_lost_ledger(ledger, api, printer, output_dir=args.output_dir, before_writing=guard)
        given = {CURRICULUM: args.curriculum, TEMPLATE: args.prompt_template, OUTPUT_DIR: args.output_dir}
        if api is not None:
            given[API_BASE_URL] = effective_base_url()
        place = resolve_ledger_settings(ledger, args.work_dir, given, record=not args.dry_run)
        for note in place.notes:
            printer.note(note)
        yield ledger, place


def result_of(outcome: GenerateOutcome, args: argparse.Namespace) -> dict:
    """The ``--json`` result: the plan, and what a real run submitted (``run_json.outcome_as_json``)."""
    return run_json.outcome_as_json(outcome, dry_run=args.dry_run, via=args.via, wait=args.wait)


if __name__ == "__main__":
    sys.exit(cli.run(main))
