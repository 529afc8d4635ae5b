#!/usr/bin/env python3
"""Plan and submit OpenAI Batch API requests, one per lesson of the curriculum.

Run with --dry-run first: it reads the curriculum, writes the request files into the work dir
and prints the plan with an estimated cost, without a key and without touching the network.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

from lesson_batch import cli, models, recovery
from lesson_batch.api import BatchApi, effective_base_url
from lesson_batch.defaults import DEFAULT_CURRICULUM
from lesson_batch.files import check_folder
from lesson_batch.flex import (
    DEFAULT_CONCURRENCY,
    FALLBACK_STOPS,
    MAX_CONCURRENCY,
    STOP_CAPACITY,
    STOP_INTERRUPTED,
    STOP_MAX_COST,
    STOP_UNSUPPORTED,
    FlexSettings,
)
from lesson_batch.generate_job import DeclinedError, GenerateOutcome, generate
from lesson_batch.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from lesson_batch.next_steps import RequestStep, request_step
from lesson_batch.plan import Plan, PlanOptions, saved_before_sentence
from lesson_batch.requests import RequestSettings, parse_efforts
from lesson_batch.settings import API_BASE_URL, CURRICULUM, OUTPUT_DIR, TEMPLATE, Settings, resolve_ledger_settings
from lesson_batch.shards import MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE, ShardLimits
from lesson_batch.status_text import WatchDisplay
from lesson_batch.wording import Commands, plural, the_lessons, them
from lesson_batch.workspace import Workspace

DEFAULT_INTERVAL = 30.0


def efforts_option(text: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    try:
        return parse_efforts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--reasoning-effort: ").removeprefix("--reasoning-effort ")) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=cli.paragraph(
            "Turn the curriculum into one OpenAI Batch API request per lesson, show the plan and its "
            "estimated cost, and submit it (50% cheaper than the regular API; results within 24 hours). "
            "Lessons that already have a file, or are in a batch not yet processed, are skipped, so "
            "running this again submits exactly what is still missing."
        ),
        epilog=(
            "Typical session:\n"
            "  python generate_datagov_lessons_batch.py --dry-run     # plan and cost, no key needed\n"
            "  python generate_datagov_lessons_batch.py               # submit\n"
            "  python check_batch_status.py --watch                   # follow the batches\n"
            "  python process_batch_results.py                        # save the lessons\n"
            "  python generate_datagov_lessons_batch.py               # resubmit whatever failed\n"
            "or all at once: python generate_datagov_lessons_batch.py --wait\n"
            "or in minutes at the same price, through flex: python generate_datagov_lessons_batch.py --via flex\n"
            "try the prompt first: python generate_datagov_lessons_batch.py --lessons M0-L001,M0-L002,M0-L003 --via flex\n\n"
            "The work dir belongs to one API and one curriculum: it remembers them, and the template and\n"
            "lessons folder, from its first submitting run, so the other scripts need no options. Use\n"
            "another --work-dir for another course or another API (e.g. a local test server).\n\n"
            "API key: OPENAI_API_KEY, else a .env file, else openaiapikey.txt. OPENAI_BASE_URL is honoured.\n"
            + cli.EXIT_CODES_HELP
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    paths = parser.add_argument_group("files")
    paths.add_argument("--curriculum", type=Path, default=None, metavar="FILE",
                       help="the curriculum Markdown file (default: the one the work dir remembers, else the bundled "
                            "Data Governance curriculum); one work dir per curriculum")
    paths.add_argument("--prompt-template", type=Path, default=None, metavar="FILE",
                       help="the prompt template (default: the one the work dir remembers, else "
                            "prompts/lesson_generation_prompt.md)")
    cli.add_output_dir(paths)
    cli.add_work_dir(paths)

    select = parser.add_argument_group("which lessons")
    select.add_argument("--modules", type=cli.comma_list, default=(), metavar="M0,M3",
                        help="only these modules")
    select.add_argument("--lessons", type=cli.comma_list, default=(), metavar="M0-L001,M2-L040",
                        help="only these lessons")
    select.add_argument("--limit", type=cli.positive_int, default=None, metavar="N",
                        help="only the first N selected lessons still to generate (a small test batch); lessons in "
                             "a batch not yet processed count towards N, so running it again continues the same "
                             "lessons, and once they are saved it takes the next N")
    select.add_argument("--force", action="store_true",
                        help="also regenerate lessons whose file exists (the old file is kept under the work dir's "
                             "replaced/ folder), and lessons the ledger records as saved in another lessons folder "
                             "(or moved or deleted; without --force they are refused, unless you answer yes when "
                             "asked); lessons in an unprocessed batch are never submitted twice")

    model = parser.add_argument_group("model (checked against the model table in lesson_batch/models.py)")
    model.add_argument("--model", default=models.DEFAULT_MODEL,
                       help=f"model for every request (default: {models.DEFAULT_MODEL}; cheaper: {models.CHEAPER_MODEL})")
    model.add_argument("--max-completion-tokens", type=cli.positive_int, default=None, metavar="N",
                       help=f"output budget per lesson, reasoning included (default: {models.DEFAULT_BUDGET_REASONING:,} "
                            f"for reasoning models, {models.DEFAULT_BUDGET_PLAIN:,} for others; at most the model's "
                            "maximum output)")
    model.add_argument("--reasoning-effort", type=efforts_option, default=(None, ()), metavar="EFFORT",
                       help=f"one of {', '.join(models.EFFORTS)}, as far as the model accepts it, or one per "
                            "complexity tag of the curriculum, like F=low,I=medium,A=high (a plain value added "
                            "to the list is for lessons without those tags); reasoning models only; default: "
                            "the model's own")
    model.add_argument("--temperature", type=float, default=None,
                       help="models that are not reasoning models, or newer ones (gpt-5.1 and later) with "
                            "--reasoning-effort none; default: the model's own")
    model.add_argument("--endpoint", choices=("chat", "responses"), default=None,
                       help="the API the requests go to, for batches and flex alike: chat (/v1/chat/completions) or "
                            "responses (/v1/responses); default: chat, or responses for a model offered only there")
    model.add_argument("--max-attempts", type=cli.positive_int, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                       help="a lesson whose request has run N times without a usable lesson needs a person: no run "
                            f"requests it again unless named with --lessons ... --force (default: {DEFAULT_MAX_ATTEMPTS}); "
                            "one whose request failed with HTTP 400 needs a person at once (the same request would fail "
                            "again)")

    limits = parser.add_argument_group("limits and budget")
    limits.add_argument("--max-requests-per-batch", type=cli.positive_int, default=MAX_REQUESTS_PER_FILE, metavar="N",
                        help=f"split into several batches above this (default and API maximum: {MAX_REQUESTS_PER_FILE:,})")
    limits.add_argument("--max-file-bytes", type=cli.positive_int, default=MAX_BYTES_PER_FILE, metavar="N",
                        help=f"split above this input file size (default and API maximum: {MAX_BYTES_PER_FILE:,})")
    limits.add_argument("--max-enqueued-tokens", type=cli.positive_int, default=None, metavar="N",
                        help="your organisation's enqueued-token limit for the model: batches are sized under it "
                             "and submitted one after another as earlier ones finish")
    limits.add_argument("--max-cost", type=cli.positive_float, default=None, metavar="USD",
                        help="refuse to submit if the estimated cost is above this")

    run = parser.add_argument_group("running")
    run.add_argument("--via", choices=("batch", "flex"), default="batch",
                     help="batch (default): the Batch API, results within 24 hours; flex: each request sent now "
                          "with service_tier flex, at the same Batch price, lessons saved as they arrive")
    run.add_argument("--concurrency", type=cli.positive_int, default=None, metavar="N",
                     help=f"with --via flex: requests in flight at once (default {DEFAULT_CONCURRENCY}, "
                          f"at most {MAX_CONCURRENCY})")
    run.add_argument("--fallback", choices=("batch",), default=None,
                     help="with --via flex: when flex cannot serve (a model without flex, capacity that does not "
                          "come back), submit the lessons left as an ordinary batch in the same run")
    run.add_argument("--dry-run", action="store_true",
                     help="plan only: write the request files and print the plan; no key, no network")
    run.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation before submitting")
    run.add_argument("--wait", action="store_true",
                     help="after submitting, follow the batches and process each as it finishes (the whole job)")
    run.add_argument("--interval", type=cli.positive_float, default=None, metavar="SECONDS",
                     help=f"with --wait: first polling interval; it backs off up to 5 minutes (default: {DEFAULT_INTERVAL:g})")
    cli.add_json(run, "the plan and what was submitted",
                 "; at a terminal, the question before submitting is still asked, on stderr (--yes skips it)")
    return parser


def confirm_question(plan: Plan, via: str = "batch") -> str:
    cost = models.format_cost(plan.estimated_cost)
    what = (
        f"Send {plural(len(plan.to_request), 'request')} through flex"
        if via == "flex"
        else f"Submit {plural(len(plan.to_request), 'request')} in {plural(len(plan.shards), 'batch', 'batches')}"
    )
    return f"{what}, estimated {cost}?"


def next_requests(outcome: GenerateOutcome, args: argparse.Namespace, ledger) -> dict[str, RequestStep | None]:
    """The commands that request what this run left (``next_steps``: exactly those lessons, by the
    route they took), computed while the ledger is open: ``not_sent`` and ``unsaved`` of a flex
    run, ``left`` for both together, ``wait`` for the lessons a --wait run could not save."""
    commands = Commands(args.work_dir)
    steps: dict[str, RequestStep | None] = {}
    if ledger is None:
        return steps
    steps["wait"] = request_step(ledger, outcome.unsaved_lessons, commands)
    report = outcome.flex
    if report is not None:
        failed = [lesson_id for lesson_ids in report.results.failed.values() for lesson_id in lesson_ids]
        unsaved = [*failed, *report.no_answer, *report.still_running]
        settling = report.still_running
        steps["not_sent"] = request_step(ledger, report.not_sent, commands, via="flex")
        steps["unsaved"] = request_step(ledger, unsaved, commands, via="flex", settling=settling)
        steps["left"] = request_step(ledger, [*report.not_sent, *unsaved], commands, via="flex", settling=settling)
    return steps


def _run(step: RequestStep | None, what: str = "to request {count}") -> str:
    """``run <command> to request the 3 lessons``, or a plain word when no command requests any."""
    if step is None:
        return "no plain run requests them (see check_batch_status.py --lessons)"
    return f"run {step.command} " + what.format(count=the_lessons(len(step.lessons)), them=them(len(step.lessons)))


def _upper(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def flex_conclusion(
    outcome: GenerateOutcome, args: argparse.Namespace, commands: Commands, steps: dict[str, RequestStep | None]
) -> cli.Outcome:
    """The last words and the exit code of a --via flex run (its report is already printed)."""
    report = outcome.flex
    result = cli.Outcome()
    batched = bool(outcome.submitted.submitted)
    if batched and not args.wait:
        result.say(f"Next: {commands.status} --watch, then {commands.process}")
    if report is None:
        return result
    if report.stop_reason == STOP_INTERRUPTED:
        abandoned = len(report.still_running)
        rest = _run(steps.get("left"), "to request {count} not saved yet")
        if abandoned:
            result.note(
                f"Interrupted. {plural(abandoned, 'request')} still in flight after the wait "
                f"{'was' if abandoned == 1 else 'were'} abandoned: OpenAI bills {'it' if abandoned == 1 else 'them'} "
                "although the answers are lost, and requesting those lessons again pays again. Every answer that "
                f"arrived is kept; {rest}."
            )
        else:
            result.note(f"Interrupted. Every answer that arrived is saved and recorded; {rest}.")
        result.exit_code = cli.EXIT_FAILURE
        return result
    left = len(report.not_sent) if not (batched and report.stop_reason in FALLBACK_STOPS) else 0
    if left:
        not_sent = steps.get("not_sent")
        result.error(f"{plural(left, 'lesson')} {'was' if left == 1 else 'were'} not sent. " + {
            STOP_UNSUPPORTED: f"{report.model} does not take flex: choose another --model, leave out --via flex "
                              "to submit a batch, or add --fallback batch.",
            STOP_CAPACITY: _upper(_run(not_sent, "later to send {them}"))
                           + ", or add --fallback batch to submit them as a batch.",
            STOP_MAX_COST: _upper(_run(not_sent, "with a higher --max-cost to send {them}")) + ".",
        }.get(report.stop_reason, _upper(_run(not_sent, "to send {them}")) + "."))
    unsaved = report.results.failed_count + len(report.no_answer) + len(report.still_running)
    if unsaved:
        result.say(f"{plural(unsaved, 'lesson')} {'was' if unsaved == 1 else 'were'} not saved; "
                   f"{_run(steps.get('unsaved'), 'to request {them} again')}.")
    if left or unsaved:
        result.exit_code = cli.EXIT_FAILURE
    elif batched and args.wait:
        if outcome.unsaved_lessons:
            count = len(outcome.unsaved_lessons)
            result.say(f"{plural(count, 'lesson')} {'was' if count == 1 else 'were'} not saved; "
                       f"{_run(steps.get('wait'), 'to request {them} again')}.")
            result.exit_code = cli.EXIT_FAILURE
        else:
            result.say("All requested lessons are saved.")
    elif batched:
        result.say(f"{plural(report.saved, 'lesson')} saved through flex; the other {len(report.not_sent):,} "
                   f"{'is' if len(report.not_sent) == 1 else 'are'} in a batch.")
    elif report.saved == 1:
        result.say("The lesson requested is saved.")
    else:
        result.say(f"All {plural(report.saved, 'lesson')} requested are saved.")
    return result


def conclusion(
    outcome: GenerateOutcome, args: argparse.Namespace, steps: dict[str, RequestStep | None] | None = None
) -> cli.Outcome:
    """The last words and the exit code of a run (the plan and the steps are already printed)."""
    result = _conclusion(outcome, args, steps or {})
    blocked = outcome.plan.blocked_paths
    if blocked and not args.dry_run:
        # Never counted as generated, never requested: each waits for a person to move it away.
        result.error(
            f"{plural(len(blocked), 'lesson')} not requested, {'its' if len(blocked) == 1 else 'their'} path "
            "not a regular file: " + "; ".join(f"{lesson_id}: {problem}" for lesson_id, problem in blocked.items())
        )
        result.exit_code = cli.EXIT_FAILURE
    return result


def _conclusion(outcome: GenerateOutcome, args: argparse.Namespace, steps: dict[str, RequestStep | None]) -> cli.Outcome:
    commands = Commands(args.work_dir)
    if args.dry_run:
        if not outcome.plan.shards:
            return cli.Outcome(["Dry run: nothing was uploaded, and there is nothing to request."])
        return cli.Outcome(["Dry run: nothing was uploaded. The request files are listed above."])
    if args.via == "flex":
        return flex_conclusion(outcome, args, commands, steps)
    if args.wait and outcome.unsaved_lessons:
        count = len(outcome.unsaved_lessons)
        them = "it" if count == 1 else "them"
        return cli.Outcome(
            [f"{plural(count, 'lesson')} {'was' if count == 1 else 'were'} not saved; "
             f"{_run(steps.get('wait'), 'to request {them} again')} ({commands.status} --lessons lists {them})."],
            exit_code=cli.EXIT_FAILURE,
        )
    if args.wait:
        return cli.Outcome(["All requested lessons are saved."])
    if outcome.submitted.submitted:
        return cli.Outcome([f"Next: {commands.status} --watch, then {commands.process}"])
    return cli.Outcome()


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.interval is not None and not args.wait:
        parser.error("--interval goes with --wait")  # it is the polling interval of --wait, and nothing else
    if args.via != "flex":
        for given, option in ((args.concurrency, "--concurrency"), (args.fallback, "--fallback")):
            if given is not None:
                parser.error(f"{option} goes with --via flex")
    elif args.concurrency is not None and args.concurrency > MAX_CONCURRENCY:
        parser.error(f"--concurrency is at most {MAX_CONCURRENCY}")


def plan_options(args: argparse.Namespace, place: Settings, settings: RequestSettings) -> PlanOptions:
    return PlanOptions(
        curriculum_path=place.path(CURRICULUM),
        template_path=place.path(TEMPLATE),
        output_dir=place.path(OUTPUT_DIR),
        work_dir=args.work_dir,
        settings=settings,
        limits=ShardLimits(args.max_requests_per_batch, args.max_file_bytes, args.max_enqueued_tokens),
        modules=args.modules,
        lessons=args.lessons,
        limit=args.limit,
        force=args.force,
        max_attempts=args.max_attempts,
    )


def course_guard(args: argparse.Namespace, ledger: Ledger | None):
    """No default course for a work dir that served another: where the ledger is gone (lost, or
    none in a dry run) and the run names no --curriculum, a work dir whose batches or request
    files show another course than the bundled one is refused (called with the course the
    API's batches name, before the ledger is rebuilt)."""
    def guard(course: str | None) -> None:
        if args.curriculum is not None:
            return
        if ledger is None and not Workspace(args.work_dir).shows_earlier_use():
            return
        if ledger is not None and (ledger.lost is None or CURRICULUM in ledger.meta()):
            return  # a ledger in use (or restored from its backup) remembers its course
        reason = recovery.other_course_shown(args.work_dir, DEFAULT_CURRICULUM, course)
        if reason is not None:
            commands = Commands(args.work_dir)
            raise recovery.refuse_default_course(
                args.work_dir, DEFAULT_CURRICULUM, reason, course,
                lambda option: f"{commands.generate} {option}" + (" --yes" if args.yes else ""),
            )
    return guard


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_options(parser, args)
    printer = cli.Printer(args.json, command=COMMAND)
    settings = RequestSettings(  # checked first: a usage error is told before anything else
        model=args.model,
        max_completion_tokens=args.max_completion_tokens,
        reasoning_effort=args.reasoning_effort[0],
        temperature=args.temperature,
        efforts_by_complexity=args.reasoning_effort[1],
        endpoint=args.endpoint,
    )
    check_folder(args.work_dir, "--work-dir")
    today = cli.today()
    if cli.today_note():
        printer.note(cli.today_note())
    api = None
    if not args.dry_run:
        api = BatchApi.from_environment(on_retry=printer.note, key_hint="Use --dry-run to plan without a key.")
    dry_run_without_ledger = args.dry_run and not Ledger.exists(args.work_dir)
    ledger_opened = nullcontext() if dry_run_without_ledger else cli.open_ledger(
        args.work_dir, curriculum=args.curriculum, template=args.prompt_template, output_dir=args.output_dir,
        read_only=args.dry_run, repair=not args.dry_run,
    )
    with ledger_opened as ledger:
        guard = course_guard(args, ledger)
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
        try:
            outcome = generate(
                plan_options(args, place, settings), ledger, api,
                max_cost=args.max_cost,
                confirm=lambda plan: cli.confirm(confirm_question(plan, args.via), args.yes),
                confirm_paying_again=lambda plan: sys.stdin.isatty() and cli.ask(
                    f"{saved_before_sentence(plan)}. Pay for {'it' if len(plan.saved_before) == 1 else 'them'} again?"
                ),
                wait=args.wait,
                interval=args.interval if args.interval is not None else DEFAULT_INTERVAL,
                printer=printer,
                display=WatchDisplay(printer.note),
                via=args.via,
                flex=FlexSettings(concurrency=args.concurrency or DEFAULT_CONCURRENCY, max_cost=args.max_cost),
                fallback_batch=args.fallback == "batch",
                today=today,
                today_overridden=cli.TODAY_ENV_VAR if cli.today_note() else None,
            )
        except DeclinedError as declined:  # the person answered no: not an error of the tool
            printer.out(str(declined))
            if declined.plan is None:
                return cli.Outcome(exit_code=cli.EXIT_FAILURE).show(printer)
            outcome = GenerateOutcome(declined.plan, declined=True)
            return cli.Outcome(payload=result_of(outcome, args), exit_code=cli.EXIT_FAILURE).show(printer)
        steps = next_requests(outcome, args, ledger) if not args.dry_run else {}
    ending = conclusion(outcome, args, steps)
    ending.payload = result_of(outcome, args)
    return ending.show(printer)


COMMAND = "generate_datagov_lessons_batch"  # the envelope's ``command``


def result_of(outcome: GenerateOutcome, args: argparse.Namespace) -> dict:
    """The ``--json`` result: the plan, and what a real run submitted (``GenerateOutcome.as_json``)."""
    return outcome.as_json(dry_run=args.dry_run, via=args.via, wait=args.wait)


if __name__ == "__main__":
    sys.exit(cli.run(main))
