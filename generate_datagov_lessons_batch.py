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

from lesson_batch import cli, models
from lesson_batch.api import BatchApi
from lesson_batch.ledger import Ledger
from lesson_batch.plan import Plan, PlanOptions
from lesson_batch.requests import RequestSettings
from lesson_batch.status import WatchDisplay
from lesson_batch.shards import MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE, ShardLimits
from lesson_batch.ledger import DEFAULT_MAX_ATTEMPTS
from lesson_batch.workflow import BudgetError, DeclinedError, ModelUnavailableError, generate


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
            "or all at once: python generate_datagov_lessons_batch.py --wait\n\n"
            "API key: OPENAI_API_KEY, else a .env file, else openaiapikey.txt. OPENAI_BASE_URL is honoured.\n"
            + cli.EXIT_CODES_HELP
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    paths = parser.add_argument_group("files")
    paths.add_argument("--curriculum", type=Path, default=cli.DEFAULT_CURRICULUM, metavar="FILE",
                       help="the curriculum Markdown file (default: the bundled Data Governance curriculum)")
    paths.add_argument("--prompt-template", type=Path, default=cli.DEFAULT_TEMPLATE, metavar="FILE",
                       help="the prompt template (default: prompts/lesson_generation_prompt.md)")
    cli.add_output_dir(paths)
    cli.add_work_dir(paths)

    select = parser.add_argument_group("which lessons")
    select.add_argument("--modules", type=cli.comma_list, default=(), metavar="M0,M3",
                        help="only these modules")
    select.add_argument("--lessons", type=cli.comma_list, default=(), metavar="M0-L001,M2-L040",
                        help="only these lessons")
    select.add_argument("--limit", type=cli.positive_int, default=None, metavar="N",
                        help="only the first N selected lessons still to generate (a small test batch)")
    select.add_argument("--force", action="store_true",
                        help="also regenerate lessons whose file exists (the old file is kept under the work dir's "
                             "replaced/ folder); lessons in an unprocessed batch are never submitted twice")

    model = parser.add_argument_group("model (checked against the model table in lesson_batch/models.py)")
    model.add_argument("--model", default=models.DEFAULT_MODEL,
                       help=f"model for every request (default: {models.DEFAULT_MODEL}; cheaper: {models.CHEAPER_MODEL})")
    model.add_argument("--max-completion-tokens", type=cli.positive_int, default=None, metavar="N",
                       help=f"output budget per lesson, reasoning included (default: {models.DEFAULT_BUDGET_REASONING:,} "
                            f"for reasoning models, {models.DEFAULT_BUDGET_PLAIN:,} for others; at most the model's "
                            "maximum output)")
    model.add_argument("--reasoning-effort", choices=models.EFFORTS, default=None, metavar="EFFORT",
                       help=f"one of {', '.join(models.EFFORTS)}, as far as the model accepts it; reasoning models "
                            "only; default: the model's own")
    model.add_argument("--temperature", type=float, default=None,
                       help="models that are not reasoning models, or newer ones (gpt-5.1 and later) with "
                            "--reasoning-effort none; default: the model's own")
    model.add_argument("--max-attempts", type=cli.positive_int, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                       help="a lesson whose request has run N times without a usable lesson needs a person: no run "
                            f"requests it again unless named with --lessons ... --force (default: {DEFAULT_MAX_ATTEMPTS})")

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
    run.add_argument("--dry-run", action="store_true",
                     help="plan only: write the request files and print the plan; no key, no network")
    run.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation before submitting")
    run.add_argument("--wait", action="store_true",
                     help="after submitting, follow the batches and process each as it finishes (the whole job)")
    run.add_argument("--interval", type=cli.positive_float, default=30.0, metavar="SECONDS",
                     help="with --wait: first polling interval; it backs off up to 5 minutes (default: 30)")
    return parser


def confirm_on_terminal(plan: Plan) -> bool:
    if not sys.stdin.isatty():
        return True  # never wait for an answer nobody can give (scripts, CI, pipes)
    cost = models.format_cost(plan.estimated_cost)
    answer = input(f"Submit {len(plan.to_request):,} requests in {len(plan.shards)} batch(es), estimated {cost}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = RequestSettings(
        model=args.model,
        max_completion_tokens=args.max_completion_tokens,
        reasoning_effort=args.reasoning_effort,
        temperature=args.temperature,
    )
    options = PlanOptions(
        curriculum_path=args.curriculum,
        template_path=args.prompt_template,
        output_dir=args.output_dir,
        work_dir=args.work_dir,
        settings=settings,
        limits=ShardLimits(args.max_requests_per_batch, args.max_file_bytes, args.max_enqueued_tokens),
        modules=args.modules,
        lessons=args.lessons,
        limit=args.limit,
        force=args.force,
        max_attempts=args.max_attempts,
    )
    today = cli.today()
    api = None if args.dry_run else BatchApi.from_environment()
    display = WatchDisplay(lambda message: print(message, file=sys.stderr))
    dry_run_without_ledger = args.dry_run and not Ledger.exists(args.work_dir)
    ledger_opened = nullcontext() if dry_run_without_ledger else cli.open_ledger(
        args.work_dir, curriculum=args.curriculum, template=args.prompt_template, output_dir=args.output_dir,
        read_only=args.dry_run,
    )
    with ledger_opened as ledger:
        try:
            outcome = generate(
                options, ledger, api,
                max_cost=args.max_cost,
                confirm=(lambda plan: True) if args.yes else confirm_on_terminal,
                wait=args.wait,
                interval=args.interval,
                warn=lambda message: print(message, file=sys.stderr),
                display=display,
                today=today,
            )
        except (BudgetError, DeclinedError, ModelUnavailableError) as exc:
            cli.error(str(exc))
            return cli.EXIT_FAILURE
    if args.dry_run:
        print("Dry run: nothing was uploaded. The request files are listed above.")
        return cli.EXIT_OK
    if args.wait:
        if outcome.unsaved_lessons:
            print(f"{len(outcome.unsaved_lessons)} lessons were not saved; run this command again to retry them.")
            return cli.EXIT_FAILURE
        print("All requested lessons are saved.")
    elif outcome.submitted.submitted:
        print("Next: python check_batch_status.py --watch, then python process_batch_results.py")
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli.run(main))
