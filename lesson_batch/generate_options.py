"""The generate script's options: the parser, the checks argparse cannot make, and what the
options become (the request settings, the plan's options, the flex settings)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import cli, models
from .flex import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, FlexSettings
from .ledger import DEFAULT_MAX_ATTEMPTS
from .plan import PlanOptions
from .requests import RequestSettings, parse_efforts
from .settings import CURRICULUM, OUTPUT_DIR, TEMPLATE, Settings
from .shards import MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE, ShardLimits

DEFAULT_INTERVAL = 30.0

EPILOG = (
    "Typical session:\n"
    "  python generate_datagov_lessons_batch.py --dry-run     # plan and cost, no key needed\n"
    "  python generate_datagov_lessons_batch.py               # submit\n"
    "  python check_batch_status.py --watch                   # follow the batches\n"
    "  python process_batch_results.py                        # save the lessons\n"
    "  python generate_datagov_lessons_batch.py               # resubmit whatever failed\n"
    "or all at once: python generate_datagov_lessons_batch.py --wait\n"
    "or in minutes at the same price, through flex: python generate_datagov_lessons_batch.py --via flex\n"
    "try the prompt first: "
    "python generate_datagov_lessons_batch.py --lessons M0-L001,M0-L002,M0-L003 --via flex\n\n"
    "The work dir belongs to one API and one curriculum: it remembers them, and the template and\n"
    "lessons folder, from its first submitting run, so the other scripts need no options. Use\n"
    "another --work-dir for another course or another API (e.g. a local test server).\n\n"
    "API key: OPENAI_API_KEY, else a .env file, else openaiapikey.txt. OPENAI_BASE_URL is honoured.\n"
    + cli.EXIT_CODES_HELP
)


def efforts_option(text: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    try:
        return parse_efforts(text)
    except ValueError as exc:
        message = str(exc).removeprefix("--reasoning-effort: ").removeprefix("--reasoning-effort ")
        raise argparse.ArgumentTypeError(message) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=cli.paragraph(
            "Turn the curriculum into one OpenAI Batch API request per lesson, show the plan and its "
            "estimated cost, and submit it (50% cheaper than the regular API; results within 24 hours). "
            "Lessons that already have a file, or are in a batch not yet processed, are skipped, so "
            "running this again submits exactly what is still missing."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_files(parser.add_argument_group("files"))
    _add_selection(parser.add_argument_group("which lessons"))
    _add_model(parser.add_argument_group("model (checked against the model table in lesson_batch/model_catalogue.py)"))
    _add_limits(parser.add_argument_group("limits and budget"))
    _add_running(parser.add_argument_group("running"))
    return parser


def _add_files(paths) -> None:
    paths.add_argument("--curriculum", type=Path, default=None, metavar="FILE",
                       help="the curriculum Markdown file (default: the one the work dir remembers, else the bundled "
                            "Data Governance curriculum); one work dir per curriculum")
    paths.add_argument("--prompt-template", type=Path, default=None, metavar="FILE",
                       help="the prompt template (default: the one the work dir remembers, else "
                            "prompts/lesson_generation_prompt.md)")
    cli.add_output_dir(paths)
    cli.add_work_dir(paths)


def _add_selection(select) -> None:
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


def _add_model(model) -> None:
    model.add_argument("--model", default=models.DEFAULT_MODEL,
                       help=f"model for every request (default: {models.DEFAULT_MODEL}; "
                            f"cheaper: {models.CHEAPER_MODEL})")
    model.add_argument("--max-completion-tokens", type=cli.positive_int, default=None, metavar="N",
                       help=f"output budget per lesson, reasoning included (default: "
                            f"{models.DEFAULT_BUDGET_REASONING:,} for reasoning models, "
                            f"{models.DEFAULT_BUDGET_PLAIN:,} for others; at most the model's maximum output)")
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
                            "requests it again unless named with --lessons ... --force "
                            f"(default: {DEFAULT_MAX_ATTEMPTS}); one whose request failed with HTTP 400 needs a "
                            "person at once (the same request would fail again)")


def _add_limits(limits) -> None:
    limits.add_argument("--max-requests-per-batch", type=cli.positive_int, default=MAX_REQUESTS_PER_FILE,
                        metavar="N",
                        help=f"split into several batches above this (default and API maximum: "
                             f"{MAX_REQUESTS_PER_FILE:,})")
    limits.add_argument("--max-file-bytes", type=cli.positive_int, default=MAX_BYTES_PER_FILE, metavar="N",
                        help=f"split above this input file size (default and API maximum: {MAX_BYTES_PER_FILE:,})")
    limits.add_argument("--max-enqueued-tokens", type=cli.positive_int, default=None, metavar="N",
                        help="your organisation's enqueued-token limit for the model: batches are sized under it "
                             "and submitted one after another as earlier ones finish")
    limits.add_argument("--max-cost", type=cli.positive_float, default=None, metavar="USD",
                        help="refuse to submit if the estimated cost is above this")


def _add_running(run) -> None:
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
                     help="with --wait: first polling interval; it backs off up to 5 minutes "
                          f"(default: {DEFAULT_INTERVAL:g})")
    cli.add_json(run, "the plan and what was submitted",
                 "; at a terminal, the question before submitting is still asked, on stderr (--yes skips it)")


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.interval is not None and not args.wait:
        parser.error("--interval goes with --wait")  # it is the polling interval of --wait, and nothing else
    if args.via != "flex":
        for given, option in ((args.concurrency, "--concurrency"), (args.fallback, "--fallback")):
            if given is not None:
                parser.error(f"{option} goes with --via flex")
    elif args.concurrency is not None and args.concurrency > MAX_CONCURRENCY:
        parser.error(f"--concurrency is at most {MAX_CONCURRENCY}")


def request_settings(args: argparse.Namespace) -> RequestSettings:
    """The requests' settings (checked as they are made: a usage error is told before anything else)."""
    return RequestSettings(
        model=args.model,
        max_completion_tokens=args.max_completion_tokens,
        reasoning_effort=args.reasoning_effort[0],
        temperature=args.temperature,
        efforts_by_complexity=args.reasoning_effort[1],
        endpoint=args.endpoint,
    )


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


def flex_settings(args: argparse.Namespace) -> FlexSettings:
    return FlexSettings(concurrency=args.concurrency or DEFAULT_CONCURRENCY, max_cost=args.max_cost)


def interval(args: argparse.Namespace) -> float:
    return args.interval if args.interval is not None else DEFAULT_INTERVAL
