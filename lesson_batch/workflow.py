"""The whole jobs the scripts run, put together from the other modules.

``generate``: plan (no network), then, unless it is a dry run, settle what an interrupted run
left, check the budget, ask for confirmation, and submit. With ``wait`` it then follows the
batches, processes each one as it finishes, and submits lessons that were waiting for room under
the enqueued-token cap (rolling submission), until nothing is left to wait for.

``process_ready``: bring the ledger up to date for unfinished batches and process every batch
whose results are ready.

Each step records itself in the ledger before moving on, so any of these can be interrupted and
simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Callable

from . import models
from .api import BatchApi
from .files import remove_stale_temporaries
from .ledger import PENDING, BatchRecord, Ledger
from .plan import History, Plan, PlanOptions, format_plan, make_plan
from .requests import RequestSettingsError
from .results import Report, format_report, process_batch
from .status import WatchDisplay, refresh, watch
from .submit import SubmitReport, new_run_id, recover_unfinished_shards, submit_plan

MAX_WAIT_ROUNDS = 1000
# Resubmitting lessons whose batch hit the enqueued-token limit helps only while batches finish
# and lessons get saved; after more rounds than this without a saved lesson, --wait stops.
MAX_ROUNDS_WITHOUT_PROGRESS = 2


class BudgetError(Exception):
    """The plan's estimate is above ``--max-cost`` (or cannot be checked against it)."""


class DeclinedError(Exception):
    """The user answered no at the confirmation prompt."""


class ModelUnavailableError(Exception):
    """The API does not serve the model, or shuts it down before a batch could finish."""


@dataclass
class GenerateOutcome:
    plan: Plan
    submitted: SubmitReport = field(default_factory=SubmitReport)
    reports: list[Report] = field(default_factory=list)
    unsaved_lessons: list[str] = field(default_factory=list)  # after --wait: lessons still not saved


def history_of(ledger: Ledger) -> History:
    return History(
        in_flight=ledger.in_flight_lessons(),
        retry_budgets=ledger.retry_budgets(),
        measured_output_tokens=ledger.measured_output_tokens(),
        attempts=ledger.attempts_of_unsaved(),
    )


def check_model_in_catalogue(model: str, today: date, warn: Callable[[str], None]) -> None:
    """A dry run's lifecycle check, from the model table alone: a model past its shutdown date
    is a usage error; one that shuts down within 30 days is warned about."""
    verdict = models.catalogue_lifecycle(model, today)
    if verdict.status == "shut_down":
        raise RequestSettingsError(f"{verdict.message} (model table of {models.CATALOGUE_DATE})")
    if verdict.message:
        warn(f"warning: {verdict.message} (model table of {models.CATALOGUE_DATE})")


def check_model_with_api(api: BatchApi, model: str, today: date, warn: Callable[[str], None]) -> None:
    """Before anything is uploaded: ask the API about the model. Its answer wins over the model
    table: a model it does not know, or that shuts down before a 24-hour batch could end, stops
    the run; one that shuts down within 30 days is warned about."""
    remote = api.retrieve_model(model)
    if remote is None:
        raise ModelUnavailableError(models.unknown_to_api_message(model))
    verdict = models.lifecycle(model, remote.shutdown_date, today)
    if verdict.status in ("shut_down", "too_late"):
        raise ModelUnavailableError(f"{verdict.message} (the API's shutdown_date); nothing was uploaded")
    if verdict.message:
        warn(f"warning: {verdict.message} (the API's shutdown_date)")


def check_budget(plan: Plan, max_cost: float | None) -> None:
    if max_cost is None or not plan.shards:
        return
    cost = plan.estimated_cost
    if cost is None:
        raise BudgetError(
            f"--max-cost {max_cost:g} cannot be checked: {plan.settings.model} has no known price. "
            "Drop --max-cost to submit anyway."
        )
    if cost > max_cost:
        raise BudgetError(
            f"the estimated cost {models.format_cost(cost)} is above --max-cost ${max_cost:,.2f}; nothing was submitted. "
            "Select fewer lessons (--modules, --lessons, --limit) or raise --max-cost."
        )


def generate(
    options: PlanOptions,
    ledger: Ledger | None,
    api: BatchApi | None,
    *,
    max_cost: float | None = None,
    confirm: Callable[[Plan], bool] = lambda plan: True,
    wait: bool = False,
    interval: float = 30.0,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
    display: WatchDisplay | None = None,
    today: date | None = None,
) -> GenerateOutcome:
    """Plan, and with an ``api`` (and a ``ledger``), submit (and with ``wait``, see it through)."""
    today = today or date.today()
    remove_stale_temporaries(options.work_dir)  # left by a run that was killed while writing
    if api is None:  # a dry run: read what the ledger knows, if there is one, and write nothing to it
        check_model_in_catalogue(options.settings.model, today, warn)
        plan = make_plan(options, history_of(ledger) if ledger is not None else History())
        _show_plan(plan, say, warn)
        return GenerateOutcome(plan)

    with ledger.submission_lock():
        api.check_access()
        check_model_with_api(api, options.settings.model, today, warn)
        recover_unfinished_shards(ledger, api, say)
        _refresh_unfinished(ledger, api, warn)
        plan = make_plan(options, history_of(ledger))
        _show_plan(plan, say, warn)
        ledger.set_max_attempts(options.max_attempts)
        ledger.hold_for_attention(plan.held_for_attention)
        check_budget(plan, max_cost)
        outcome = GenerateOutcome(plan)
        if not plan.shards:
            say("Nothing to submit.")
        else:
            if not confirm(plan):
                raise DeclinedError("nothing was submitted")
            ledger.note_pending(plan.to_request)
            outcome.submitted = submit_plan(
                plan, ledger, api, new_run_id(), options.limits.max_enqueued_tokens, options.force, say
            )
            _say_deferred(outcome.submitted, say)
    if wait:
        _wait_until_done(options, ledger, api, outcome, interval, say, warn, display or WatchDisplay(say))
    return outcome


def _refresh_unfinished(ledger: Ledger, api: BatchApi, warn: Callable[[str], None]) -> None:
    """Bring the ledger up to date on batches it last saw unfinished, before planning: a batch
    that failed meanwhile gives its lessons back, and one that finished frees room under the
    enqueued-token cap. A batch that cannot be read keeps its last known status (still counted)."""
    unfinished = [record.batch_id for record in ledger.batches() if not record.is_terminal]
    if unfinished:
        _records, problems = refresh(ledger, api, unfinished)
        for problem in problems:
            warn(f"warning: could not read batch {problem.batch_id} (its last known status is kept): {problem.message}")


def _show_plan(plan: Plan, say: Callable[[str], None], warn: Callable[[str], None]) -> None:
    for warning in plan.warnings:
        warn(f"warning: {warning}")
    say(format_plan(plan))


def _say_deferred(report: SubmitReport, say: Callable[[str], None]) -> None:
    if report.deferred_lessons:
        say(
            f"{len(report.deferred_lessons):,} lessons wait for room under the enqueued-token cap; "
            "they are submitted when earlier batches finish (run again later, or use --wait)."
        )


def _wait_until_done(
    options: PlanOptions,
    ledger: Ledger,
    api: BatchApi,
    outcome: GenerateOutcome,
    interval: float,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    display: WatchDisplay,
) -> None:
    deferred = list(outcome.submitted.deferred_lessons)
    rounds_without_progress = 0
    for _round in range(MAX_WAIT_ROUNDS):
        active = [record.batch_id for record in ledger.batches() if not record.is_terminal]
        if active:
            say(f"Waiting for {len(active)} batch(es): {', '.join(active)}")
            stop_early = (lambda records: any(r.is_terminal for r in records)) if deferred else None
            try:
                watch(ledger, api, active, interval, on_poll=display, stop_when=stop_early)
            finally:
                display.close()  # end the bar's line before anything else is printed
        reports, _not_ready = process_ready(ledger, api, options.output_dir, options.work_dir, say=say)
        outcome.reports.extend(reports)
        for report in reports:
            for line in format_report(report):
                say(line)
        requeued = _requeued_by_failed_batches(ledger, outcome.plan.to_request)
        waiting = sorted(set(deferred) | set(requeued))
        if not waiting:
            break
        saved = sum(len(report.saved) + len(report.replaced) for report in reports)
        rounds_without_progress = 0 if saved else rounds_without_progress + 1
        if rounds_without_progress > MAX_ROUNDS_WITHOUT_PROGRESS:
            warn(
                f"warning: {MAX_ROUNDS_WITHOUT_PROGRESS + 1} rounds in a row saved no lesson, so waiting "
                f"longer is not helping; {len(waiting)} lessons are pending: run the generate script again later."
            )
            break
        with ledger.submission_lock():
            plan = make_plan(replace(options, modules=(), lessons=tuple(waiting), limit=None), history_of(ledger))
            report = submit_plan(plan, ledger, api, new_run_id(), options.limits.max_enqueued_tokens, options.force, say)
        outcome.submitted.submitted.extend(report.submitted)
        deferred = list(report.deferred_lessons)
        _say_deferred(report, say)
    states = ledger.lessons(outcome.plan.to_request)
    outcome.unsaved_lessons = sorted(
        lesson_id for lesson_id in outcome.plan.to_request
        if lesson_id not in states or states[lesson_id].state != "succeeded"
    )


def _requeued_by_failed_batches(ledger: Ledger, lesson_ids: list[str]) -> list[str]:
    """Lessons of this run put back to pending by a batch that failed (e.g. token_limit_exceeded)."""
    states = ledger.lessons(lesson_ids)
    return [
        lesson_id for lesson_id, record in states.items()
        if record.state == PENDING and record.reason and "token_limit_exceeded" in record.reason
    ]


def process_ready(
    ledger: Ledger,
    api: BatchApi,
    output_dir,
    work_dir,
    batch_ids: list[str] | None = None,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> tuple[list[Report], list[BatchRecord]]:
    """Refresh unfinished batches, then process every one whose results are ready.

    Returns the reports and the batches that are not finished yet.
    """
    remove_stale_temporaries(work_dir)  # e.g. a download cut short by a killed run
    known = ledger.batches(batch_ids) if batch_ids else ledger.batches()
    unfinished = [record.batch_id for record in known if not record.is_terminal]
    if unfinished:
        _records, problems = refresh(ledger, api, unfinished)
        for problem in problems:
            say(f"Could not read batch {problem.batch_id}: {problem.message}")
    known = ledger.batches([record.batch_id for record in known])
    reports, not_ready = [], []
    for record in known:
        if record.awaits_processing:
            reports.append(process_batch(ledger, api, record, output_dir, work_dir, force, say))
        elif not record.is_terminal:
            not_ready.append(record)
    return reports, not_ready
