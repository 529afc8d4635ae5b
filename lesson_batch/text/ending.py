"""How a generate run ends, in words: the flex report, then the last words and the exit code
(``conclusion``), with the commands that request exactly what the run left (``next_requests``)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from .. import models
from ..errors import EXIT_FAILURE
from ..flex import (
    FALLBACK_STOPS,
    STOP_API,
    STOP_CAPACITY,
    STOP_INTERRUPTED,
    STOP_MAX_COST,
    STOP_UNSUPPORTED,
    STOP_WRITE,
    FlexReport,
    FlexSettings,
)
from ..generate_job import GenerateOutcome
from ..next_steps import RequestStep, request_step
from ..output import Outcome
from ..wording import Commands, first_ids, plural, the_lessons, them
from .processing import format_report

# --------------------------------------------------------------------------- the flex report


STOP_MESSAGES = {
    STOP_UNSUPPORTED: "{model} does not take flex processing (the API said: {detail})",
    STOP_CAPACITY: "flex had no capacity: refusals went on for {patience} with no answer served",
    STOP_MAX_COST: (
        "--max-cost ${max_cost:,.2f}: the next request, counted at its whole output budget, could have passed it "
        "(spent so far: {cost})"
    ),
    STOP_INTERRUPTED: "interrupted (Ctrl-C)",
    STOP_API: "the API could not serve the requests ({detail})",
    STOP_WRITE: "a write failed ({detail})",
}


def stop_message(report: FlexReport, settings: FlexSettings) -> str:
    minutes = settings.patience_seconds / 60
    return STOP_MESSAGES[report.stop_reason].format(
        model=report.model,
        detail=report.stop_detail or "no details",
        patience=f"{minutes:g} minutes" if minutes >= 1 else f"{settings.patience_seconds:g} seconds",
        max_cost=settings.max_cost or 0.0,
        cost=models.format_cost(report.cost),
    )


def flex_report_lines(report: FlexReport, settings: FlexSettings) -> list[str]:
    """What a flex run did: the processing report of its answers, then what it cost at other tiers,
    the capacity refusals, the lessons it left, and why it stopped."""
    # Tiers other than flex are told below, with what they cost (a batch result's "default" tier
    # is at Batch rates; a flex request's is not).
    lines = format_report(replace(report.results, other_tiers={}))
    if report.other_tier:
        extra = [cost for _lesson, _tier, cost in report.other_tier]
        more = models.format_cost(None if None in extra else sum(extra))
        tiers = ", ".join(sorted({tier for _lesson, tier, _cost in report.other_tier}))
        lines.append(
            f"  served at another tier than flex ({tiers}), and billed at its price: {len(report.other_tier)}: "
            f"{first_ids([lesson for lesson, _tier, _cost in report.other_tier])} ({more} more than at flex prices)"
        )
        lines.append(f"  cost of this run: {models.format_cost(report.cost)}")
    if report.refusals:
        lines.append(f"  capacity refusals (429, not billed) waited out: {report.refusals:,}")
    left = (
        ("not sent, already in a batch or another flex run", report.already_in_flight),
        ("no answer (they may have been paid; pending, requested again by the next run)", report.no_answer),
        ("still running when the run ended (they may be paid; the next run requests them again)",
         report.still_running),
    )
    lines.extend(f"  {label}: {len(ids_):,}: {first_ids(ids_)}" for label, ids_ in left if ids_)
    if report.stop_reason:
        lines.append(f"  stopped: {stop_message(report, settings)}")
    if report.not_sent:
        lines.append(f"  not sent (pending, nothing paid): {len(report.not_sent):,}: {first_ids(report.not_sent)}")
    return lines


# --------------------------------------------------------------------------- the last words and the exit code


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
    count = len(step.lessons)
    return f"run {step.command} " + what.format(count=the_lessons(count), them=them(count))


def _upper(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _not_saved(count: int, step: RequestStep | None) -> str:
    was = "was" if count == 1 else "were"
    return f"{plural(count, 'lesson')} {was} not saved; {_run(step, 'to request {them} again')}"


def conclusion(
    outcome: GenerateOutcome, args: argparse.Namespace, steps: dict[str, RequestStep | None] | None = None
) -> Outcome:
    """The last words and the exit code of a run (the plan and the steps are already printed)."""
    result = _conclusion(outcome, args, steps or {})
    blocked = outcome.plan.blocked_paths
    if blocked and not args.dry_run:
        # Never counted as generated, never requested: each waits for a person to move it away.
        result.error(
            f"{plural(len(blocked), 'lesson')} not requested, {'its' if len(blocked) == 1 else 'their'} path "
            "not a regular file: " + "; ".join(f"{lesson_id}: {problem}" for lesson_id, problem in blocked.items())
        )
        result.exit_code = EXIT_FAILURE
    return result


def _conclusion(
    outcome: GenerateOutcome, args: argparse.Namespace, steps: dict[str, RequestStep | None]
) -> Outcome:
    commands = Commands(args.work_dir)
    if args.dry_run:
        if not outcome.plan.shards:
            return Outcome(["Dry run: nothing was uploaded, and there is nothing to request."])
        return Outcome(["Dry run: nothing was uploaded. The request files are listed above."])
    if args.via == "flex":
        return flex_conclusion(outcome, args, commands, steps)
    if args.wait and outcome.unsaved_lessons:
        count = len(outcome.unsaved_lessons)
        them = "it" if count == 1 else "them"
        return Outcome(
            [f"{_not_saved(count, steps.get('wait'))} ({commands.status} --lessons lists {them})."],
            exit_code=EXIT_FAILURE,
        )
    if args.wait:
        return Outcome(["All requested lessons are saved."])
    if outcome.submitted.submitted:
        return Outcome([f"Next: {commands.status} --watch, then {commands.process}"])
    return Outcome()


def flex_conclusion(
    outcome: GenerateOutcome, args: argparse.Namespace, commands: Commands, steps: dict[str, RequestStep | None]
) -> Outcome:
    """The last words and the exit code of a --via flex run (its report is already printed)."""
    report = outcome.flex
    result = Outcome()
    batched = bool(outcome.submitted.submitted)
    if batched and not args.wait:
        result.say(f"Next: {commands.status} --watch, then {commands.process}")
    if report is None:
        return result
    if report.stop_reason == STOP_INTERRUPTED:
        result.note(_flex_interrupted(report, steps))
        result.exit_code = EXIT_FAILURE
        return result
    left = len(report.not_sent) if not (batched and report.stop_reason in FALLBACK_STOPS) else 0
    if left:
        result.error(_not_sent(left, report, steps.get("not_sent")))
    unsaved = report.results.failed_count + len(report.no_answer) + len(report.still_running)
    if unsaved:
        result.say(f"{_not_saved(unsaved, steps.get('unsaved'))}.")
    if left or unsaved:
        result.exit_code = EXIT_FAILURE
    elif batched and args.wait:
        if outcome.unsaved_lessons:
            result.say(f"{_not_saved(len(outcome.unsaved_lessons), steps.get('wait'))}.")
            result.exit_code = EXIT_FAILURE
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


def _flex_interrupted(report: FlexReport, steps: dict[str, RequestStep | None]) -> str:
    abandoned = len(report.still_running)
    rest = _run(steps.get("left"), "to request {count} not saved yet")
    if not abandoned:
        return f"Interrupted. Every answer that arrived is saved and recorded; {rest}."
    return (
        f"Interrupted. {plural(abandoned, 'request')} still in flight after the wait "
        f"{'was' if abandoned == 1 else 'were'} abandoned: OpenAI bills {'it' if abandoned == 1 else 'them'} "
        "although the answers are lost, and requesting those lessons again pays again. Every answer that "
        f"arrived is kept; {rest}."
    )


def _not_sent(left: int, report: FlexReport, not_sent: RequestStep | None) -> str:
    why = {
        STOP_UNSUPPORTED: f"{report.model} does not take flex: choose another --model, leave out --via flex "
                          "to submit a batch, or add --fallback batch.",
        STOP_CAPACITY: _upper(_run(not_sent, "later to send {them}"))
                       + ", or add --fallback batch to submit them as a batch.",
        STOP_MAX_COST: _upper(_run(not_sent, "with a higher --max-cost to send {them}")) + ".",
    }.get(report.stop_reason, _upper(_run(not_sent, "to send {them}")) + ".")
    return f"{plural(left, 'lesson')} {'was' if left == 1 else 'were'} not sent. " + why
