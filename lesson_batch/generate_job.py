"""The generate script's job, put together from the other modules (the processing script's is
``process_job``).

``generate``: plan (no network), then, unless it is a dry run, settle what an interrupted run
left, check the budget, ask for confirmation, and submit. With ``wait`` it then follows the
batches, processes each one as it finishes, and submits lessons that were waiting for room under
the enqueued-token cap (rolling submission), until nothing is left to wait for.

With ``via="flex"`` it sends the plan through flex instead (``flex.run_flex``), the answers saved
as they arrive; ``fallback_batch`` then submits, as an ordinary batch, whatever flex could not
take (a model without flex, capacity that did not come back).

With ``wait``, finished batches are processed by ``processing.process_ready``.

Each step records itself in the ledger before moving on, so any of these can be interrupted and
simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable

from . import models
from .api import ApiError, BatchApi
from .batch_info import BatchInfo
from .batch_sync import hit_token_limit, problem_messages, refresh, watch
from .errors import Interrupted, LessonBatchError
from .files import check_folder, display_path, remove_stale_temporaries
from .flex import (
    FALLBACK_STOPS,
    FlexReport,
    FlexSettings,
    FlexStoppedError,
    flex_report_as_json,
    format_flex_report,
    run_flex,
    settle_interrupted_flex,
)
from .folder_users import in_flight_elsewhere
from .ledger import Ledger
from .next_steps import request_step
from .output import EventSink, Printer
from .plan import History, Plan, PlanOptions, format_plan, history_of, make_plan, plan_as_json, saved_before_sentence
from .process_job import process_ready, saving_into
from .report import Report
from .requests import RequestSettingsError
from .saving import Processing
from .states import PENDING, SUCCEEDED
from .status_text import StatusWords, WatchDisplay, format_report
from .submit import SubmitReport, cancelled_since, new_run_id, recover_unfinished_shards, submit_plan
from .wording import Commands, first_ids, plural, quoted

MAX_WAIT_ROUNDS = 1000
# Resubmitting lessons whose batch hit the enqueued-token limit helps only while batches finish
# and lessons get saved; after more rounds than this without a saved lesson, --wait stops.
MAX_ROUNDS_WITHOUT_PROGRESS = 2


class BudgetError(LessonBatchError):
    """The plan's estimate is above ``--max-cost`` (or cannot be checked against it)."""


class DeclinedError(LessonBatchError):
    """The user answered no at the confirmation prompt (``plan``: the plan they declined)."""

    def __init__(self, message: str, plan: Plan | None = None):
        super().__init__(message)
        self.plan = plan


class SavedBeforeError(LessonBatchError):
    """The plan would pay again for lessons the ledger records as saved (in another folder, or
    moved or deleted), and neither ``--force`` nor a yes at the prompt allowed it."""


class FlexUnavailableError(LessonBatchError):
    """The model does not take flex (per the model catalogue), and no fallback was asked for."""


class ModelUnavailableError(LessonBatchError):
    """The API does not serve the model, or shuts it down before a batch could finish."""


@dataclass
class GenerateOutcome:
    plan: Plan
    submitted: SubmitReport = field(default_factory=SubmitReport)
    reports: list[Report] = field(default_factory=list)
    unsaved_lessons: list[str] = field(default_factory=list)  # after --wait: lessons still not saved
    flex: FlexReport | None = None
    declined: bool = False  # the person answered no at the confirmation prompt

    def as_json(self, *, dry_run: bool, via: str, wait: bool) -> dict:
        """The generate script's ``--json`` result: the plan, and for a real run what was submitted
        (batches), the flex run's report, and what ``--wait`` processed and left."""
        submitted = self.submitted
        return {
            "dry_run": dry_run,
            "via": via,
            "plan": plan_as_json(self.plan),
            "declined": self.declined,
            "submitted": None if dry_run else {
                "batches": [_batch_json(info) for info in submitted.submitted],
                "adopted": [_batch_json(info) for info in submitted.adopted],
                "abandoned_shards": list(submitted.abandoned_shards),
                "waiting_for_room": list(submitted.deferred_lessons),
            },
            "flex": None if self.flex is None else flex_report_as_json(self.flex),
            "wait": {
                "processed": [report.as_json() for report in self.reports],
                "unsaved_lessons": list(self.unsaved_lessons),
            } if wait and not dry_run else None,
        }


def _batch_json(info: BatchInfo) -> dict:
    return {
        "batch_id": info.id, "status": info.status, "input_file_id": info.input_file_id,
        "endpoint": info.endpoint,
    }


def check_model_in_catalogue(model: str, today: date, warn: Callable[[str], None]) -> None:
    """A dry run's lifecycle check, from the model table alone: a model past its shutdown date
    is a usage error; one that shuts down within 30 days is warned about."""
    verdict = models.catalogue_lifecycle(model, today)
    if verdict.status == "shut_down":
        raise RequestSettingsError(f"{verdict.message} (model table of {models.CATALOGUE_DATE})")
    if verdict.message:
        warn(f"warning: {verdict.message} (model table of {models.CATALOGUE_DATE})")


def check_model_with_api(
    api: BatchApi, model: str, today: date, warn: Callable[[str], None], today_overridden: str | None = None
) -> None:
    """Before anything is uploaded: ask the API about the model. Its answer wins over the model
    table: a model it does not know, or that shuts down before a 24-hour batch could end, stops
    the run; one that shuts down within 30 days is warned about. ``today_overridden`` names what
    set ``today`` when it is not the machine's date (the verdict is then said to rest on it)."""
    remote = api.retrieve_model(model)
    if remote is None:
        raise ModelUnavailableError(models.unknown_to_api_message(model, today))
    verdict = models.lifecycle(model, remote.shutdown_date, today)
    source = "the API's shutdown_date"
    if today_overridden:
        source += (
            f", judged against {today.isoformat()}, the date {today_overridden} sets; "
            "the API still lists the model"
        )
    if verdict.status in ("shut_down", "too_late"):
        raise ModelUnavailableError(f"{verdict.message} ({source}); nothing was uploaded")
    if verdict.message:
        warn(f"warning: {verdict.message} ({source})")


def check_budget(plan: Plan, max_cost: float | None, running: bool = False) -> None:
    """Refuse a plan whose estimate is above ``max_cost``; with ``running`` (flex, which stops
    before the cost could pass it) only one whose cost cannot be known."""
    if max_cost is None or not plan.shards:
        return
    cost = plan.estimated_cost
    if cost is None:
        raise BudgetError(
            f"--max-cost {max_cost:g} cannot be checked: {plan.settings.model} has no known price. "
            "Drop --max-cost to submit anyway."
        )
    if cost > max_cost and not running:
        shown = cost_format(cost, max_cost)
        raise BudgetError(
            f"the estimated cost {shown(cost)} is above --max-cost {shown(max_cost)}; nothing was submitted. "
            "Select fewer lessons (--modules, --lessons, --limit) or raise --max-cost."
        )


def _warn_over_budget(plan: Plan, max_cost: float | None, warn: Callable[[str], None]) -> None:
    """A dry run with ``--max-cost`` says when the run it rehearses would be refused for its cost."""
    try:
        check_budget(plan, max_cost)
    except BudgetError:
        cost = plan.estimated_cost
        if cost is None:
            warn(f"warning: --max-cost {max_cost:g} cannot be checked: {plan.settings.model} has no known price; "
                 "the same command without --dry-run would refuse to submit.")
            return
        shown = cost_format(cost, max_cost)
        warn(f"warning: the estimated cost {shown(cost)} is above --max-cost {shown(max_cost)}: the same command "
             "without --dry-run would refuse to submit. Select fewer lessons (--modules, --lessons, --limit) or "
             "raise --max-cost.")


def cost_format(cost: float, limit: float) -> Callable[[float], str]:
    """How to show a cost next to a limit: in cents unless they would hide the difference
    (--max-cost 0.001 is not "$0.00")."""
    precise = round(limit, 2) != limit or round(cost, 2) <= limit
    return (lambda value: f"${value:,.6g}") if precise else models.format_cost


def generate(
    options: PlanOptions,
    ledger: Ledger | None,
    api: BatchApi | None,
    *,
    max_cost: float | None = None,
    confirm: Callable[[Plan], bool] = lambda plan: True,
    confirm_paying_again: Callable[[Plan], bool] = lambda plan: False,
    wait: bool = False,
    interval: float = 30.0,
    printer: Printer | None = None,
    display: WatchDisplay | None = None,
    via: str = "batch",
    flex: FlexSettings | None = None,
    fallback_batch: bool = False,
    today: date | None = None,
    today_overridden: str | None = None,  # what set ``today`` (LESSON_BATCH_TODAY), if not the machine's date
) -> GenerateOutcome:
    """Plan, and with an ``api`` (and a ``ledger``), submit (and with ``wait``, see it through);
    with ``via="flex"``, send the requests through flex.

    The folders are checked first, so a run never pays for lessons it could not save. What it
    says goes to ``printer``: the plan and the steps as its output, warnings as notes.
    """
    printer = printer or Printer()
    say, warn = printer.out, printer.note
    today = today or date.today()
    age_note = models.catalogue_age_note(today)
    if age_note:
        warn(age_note)
    check_folder(options.work_dir, "--work-dir")
    check_folder(options.output_dir, "--output-dir", create=api is not None)
    remove_stale_temporaries(options.work_dir)  # left by a run that was killed while writing
    flex = flex or FlexSettings(max_cost=max_cost)
    if api is None:  # a dry run: read what the ledger knows, if there is one, and write nothing to it
        check_model_in_catalogue(options.settings.model, today, warn)
        plan = make_plan(options, history_of(ledger) if ledger is not None else History())
        _show_plan(plan, say, warn)
        _warn_shared_folder(plan, options, warn)
        if via == "flex":
            say(_flex_line(plan, flex))
        else:
            _warn_over_budget(plan, max_cost, warn)
        return GenerateOutcome(plan)

    batches_before, flex_runs_before = len(ledger.batches()), len(ledger.flex_runs())
    cancels_at_start = ledger.cancel_requests()  # a cancel recorded from now on stops this run's submitting
    try:
        with ledger.submission_lock():
            api.check_access()
            check_model_with_api(api, options.settings.model, today, warn, today_overridden)
            recovered = recover_unfinished_shards(ledger, api, say)
            _refresh_unfinished(ledger, api, warn)
            settle_interrupted_flex(ledger, options.output_dir, say)
            plan = make_plan(options, history_of(ledger))
            _show_plan(plan, say, warn)
            _warn_shared_folder(plan, options, warn)
            _check_paying_again(plan, options, confirm_paying_again)
            ledger.set_max_attempts(options.max_attempts)
            ledger.hold_for_attention(plan.held_for_attention)
            if via == "flex":
                outcome = _generate_flex(options, ledger, api, plan, flex, fallback_batch, confirm, say, cancels_at_start)
            else:
                outcome = _generate_batches(options, ledger, api, plan, max_cost, confirm, say, cancels_at_start)
            outcome.submitted.adopted.extend(recovered.adopted)
        if wait and (via != "flex" or outcome.submitted.submitted):
            try:
                _wait_until_done(
                    options, ledger, api, outcome, interval, say, warn, display or WatchDisplay(say), cancels_at_start
                )
            except KeyboardInterrupt as exc:
                if isinstance(exc, Interrupted):
                    raise
                raise Interrupted(_wait_interrupted(ledger, options.work_dir)) from None
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) or len(ledger.batches()) == batches_before:
            raise
        # Batches this run created keep running (and are billed) whatever happens to this process.
        raise Interrupted(_wait_interrupted(ledger, options.work_dir)) from None
    except ApiError as exc:
        made = len(ledger.batches()) - batches_before
        sent = len(ledger.flex_runs()) - flex_runs_before
        raise ApiError(f"{exc}\n{_what_was_done(made, sent)}", exc.status, exc.transient) from None
    return outcome


def _wait_interrupted(ledger: Ledger, work_dir) -> str:
    """What a Ctrl-C under ``--wait`` leaves: the batches run on, and are billed, on the server."""
    commands = Commands(work_dir)
    running = [record.batch_id for record in ledger.batches() if not record.is_terminal]
    if not running:
        return (
            "Interrupted while waiting. No batch is running; the ledger records every step: run "
            f"{commands.process} to save what finished, then {commands.status} for what is left."
        )
    shown = first_ids(running)
    return (
        f"Interrupted: this run stopped, but {plural(len(running), 'batch', 'batches')} of this work dir "
        f"({shown}) keep running on the server and are billed for every request they run. Follow them with "
        f"{commands.status} --watch and save the lessons with {commands.process}; or cancel them with "
        f"{commands.status} --cancel (requests already finished are still billed; their results are kept)."
    )


def _warn_shared_folder(plan: Plan, options: PlanOptions, warn: Callable[[str], None]) -> None:
    """Warn when lessons to request are in flight from another work dir on the same lessons folder."""
    for other, lesson_ids in in_flight_elsewhere(options.output_dir, options.work_dir, plan.to_request).items():
        shown = first_ids(lesson_ids)
        warn(
            f"warning: the lessons folder {display_path(options.output_dir)} is also used by the work dir "
            f"{display_path(other)}, where {plural(len(lesson_ids), 'lesson')} of this plan "
            f"{'is' if len(lesson_ids) == 1 else 'are'} in flight ({shown}): requesting them here pays for them "
            f"twice. Follow that work dir instead ({Commands(other).status} --watch), or leave them out."
        )


def _check_paying_again(plan: Plan, options: PlanOptions, confirm_paying_again: Callable[[Plan], bool]) -> None:
    """Lessons the ledger records as saved are not bought again silently: it takes ``--force``, or
    a yes to ``confirm_paying_again`` (the question at a terminal, which ``--yes`` does not answer)."""
    if not plan.saved_before or options.force or confirm_paying_again(plan):
        return
    folders = sorted({folder for folder in plan.saved_before.values() if folder})
    use = f"--output-dir {quoted(display_path(Path(folders[0])))}" if len(folders) == 1 else "--output-dir with their folder"
    raise SavedBeforeError(
        f"{saved_before_sentence(plan)}. Nothing was submitted. To use the lessons saved there, run with {use}; "
        "to pay for them again, add --force (or answer yes when asked, at a terminal)."
    )


def _what_was_done(batches_made: int, flex_runs: int) -> str:
    """What a run that ends with an API error did before it, recorded in the ledger."""
    done = []
    if batches_made > 0:
        done.append(f"created {plural(batches_made, 'batch', 'batches')}")
    if flex_runs > 0:
        done.append("sent lessons through flex")
    if not done:
        return "Nothing was submitted by this run."
    return (
        f"This run {' and '.join(done)} before the error (recorded in the ledger); "
        "run the same command again to continue."
    )


def _generate_batches(
    options: PlanOptions,
    ledger: Ledger,
    api: BatchApi,
    plan: Plan,
    max_cost: float | None,
    confirm: Callable[[Plan], bool],
    say: Callable[[str], None],
    cancels_at_start: int | None = None,
) -> GenerateOutcome:
    """The submitting part of ``generate`` (called holding the submission lock)."""
    check_budget(plan, max_cost)
    outcome = GenerateOutcome(plan)
    if not plan.shards:
        say("Nothing to submit.")
        return outcome
    if not confirm(plan):
        raise DeclinedError(
            "Not submitted: you answered no. Nothing was uploaded and nothing is charged; "
            "run the same command again to submit.", plan
        )
    ledger.note_pending(plan.to_request)
    outcome.submitted = submit_plan(
        plan, ledger, api, new_run_id(), options.limits.max_enqueued_tokens, options.force, say, cancels_at_start
    )
    _say_deferred(outcome.submitted, say)
    return outcome


_API_NAMES = {"chat": "Chat Completions", "responses": "the Responses API"}


def _flex_line(plan: Plan, flex: FlexSettings) -> str:
    support = models.supports_flex(plan.settings.model)
    note = {
        True: "",
        None: " (the model catalogue does not say whether this model takes flex: the first request tells)",
        False: " (the model catalogue says this model does not take flex)",
    }[support]
    line = (
        f"Via flex: {_API_NAMES[plan.settings.api]} with service_tier \"flex\", up to {flex.concurrency} requests at a time, "
        f"billed at Batch prices{note}"
    )
    if flex.max_cost is not None and plan.estimated_cost is not None and plan.estimated_cost > flex.max_cost:
        line += (
            f"\nThe estimate is above --max-cost {cost_format(plan.estimated_cost, flex.max_cost)(flex.max_cost)}: "
            "flex stops sending before the cost could pass it."
        )
    return line


def _generate_flex(
    options: PlanOptions,
    ledger: Ledger,
    api: BatchApi,
    plan: Plan,
    flex: FlexSettings,
    fallback_batch: bool,
    confirm: Callable[[Plan], bool],
    say: Callable[[str], None],
    cancels_at_start: int | None = None,
) -> GenerateOutcome:
    """The flex part of ``generate`` (called holding the submission lock)."""
    say(_flex_line(plan, flex))
    check_budget(plan, flex.max_cost, running=True)
    outcome = GenerateOutcome(plan)
    if not plan.to_request:
        say("Nothing to send.")
        return outcome
    unsupported = models.supports_flex(plan.settings.model) is False
    if unsupported and not fallback_batch:
        raise FlexUnavailableError(
            f"{plan.settings.model} does not take flex processing (per the model catalogue in lesson_batch/models.py); "
            "nothing was sent. Choose a model that does (--model), submit a batch (leave out --via flex), "
            "or add --fallback batch."
        )
    if not confirm(plan):
        raise DeclinedError(
            "Not sent: you answered no. No request was sent and nothing is charged; "
            "run the same command again to send them.", plan
        )
    ledger.note_pending(plan.to_request)
    if unsupported:
        left = list(plan.to_request)
    else:
        with saving_into(options.output_dir, None, "flex stopped; the next run requests the lessons not saved again"):
            processing = Processing.of(ledger, options.output_dir, options.work_dir, options.force, Printer(out=say))
            outcome.flex = run_flex(plan, processing, api, flex)
        for line in format_flex_report(outcome.flex, flex):
            say(line)
        if outcome.flex.write_failure:
            raise FlexStoppedError(outcome.flex.write_failure)
        left = outcome.flex.not_sent if outcome.flex.stop_reason in FALLBACK_STOPS else []
    if fallback_batch and left:
        spent = outcome.flex.cost if outcome.flex else 0.0
        say(f"Submitting the {plural(len(left), 'lesson')} flex did not take as an ordinary batch (--fallback batch).")
        fallback = make_plan(replace(options, modules=(), lessons=tuple(left), limit=None), history_of(ledger))
        say(f"Batch plan: {plural(len(fallback.to_request), 'request')} in {plural(len(fallback.shards), 'input file')}, "
            f"estimated {models.format_cost(fallback.estimated_cost)} (at Batch API prices)")
        check_budget(fallback, None if flex.max_cost is None else max(0.0, flex.max_cost - (spent or 0.0)))
        outcome.submitted = submit_plan(
            fallback, ledger, api, new_run_id(), options.limits.max_enqueued_tokens, options.force, say,
            cancels_at_start,
        )
        _say_deferred(outcome.submitted, say)
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
    if plan.saved_before:
        warn(f"warning: {saved_before_sentence(plan)} (it takes --force, or a yes when asked, to pay for them again).")


def _say_deferred(report: SubmitReport, say: Callable[[str], None]) -> None:
    if report.deferred_lessons:
        count = len(report.deferred_lessons)
        say(
            f"{plural(count, 'lesson')} {'waits' if count == 1 else 'wait'} for room under the enqueued-token cap; "
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
    cancels_at_start: int | None = None,
) -> None:
    deferred = list(outcome.submitted.deferred_lessons)
    cancel_said = outcome.submitted.cancel_seen
    processed_before = {record.batch_id for record in ledger.batches() if record.processed_at is not None}
    job = _job_lessons(ledger, outcome)
    rounds_without_progress = 0
    for _round in range(MAX_WAIT_ROUNDS):
        active = [record.batch_id for record in ledger.batches() if not record.is_terminal]
        if active:
            say(f"Waiting for {plural(len(active), 'batch', 'batches')}: {', '.join(active)}")
            stop_early = (lambda records: any(r.is_terminal for r in records)) if deferred else None
            try:
                watch(ledger, api, active, interval, on_poll=display, stop_when=stop_early)
            finally:
                display.close()  # end the bar's line before anything else is printed
        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=say, note=warn))
        events = EventSink(processing.printer, StatusWords())
        reports, _not_ready, problems = process_ready(processing, api, None, events)
        for message in problem_messages(problems):
            warn(f"warning: {message}")
        outcome.reports.extend(reports)
        for report in reports:
            for line in format_report(report):
                say(line)
        requeued = _requeued_by_failed_batches(ledger, sorted(job))
        waiting = sorted(set(deferred) | set(requeued))
        if not waiting:
            break
        if cancelled_since(ledger, cancels_at_start):
            # The job was cancelled: nothing more is submitted; the batches still ending are seen through.
            if not cancel_said:
                say(f"A cancel was recorded (check_batch_status.py --cancel): no more batches are submitted; "
                    f"{plural(len(waiting), 'lesson')} of this job {'was' if len(waiting) == 1 else 'were'} not submitted.")
                cancel_said = True
            if not any(not record.is_terminal for record in ledger.batches()):
                break
            deferred = []
            continue
        saved = sum(len(report.saved) + len(report.replaced) for report in reports)
        rounds_without_progress = 0 if saved else rounds_without_progress + 1
        if rounds_without_progress > MAX_ROUNDS_WITHOUT_PROGRESS:
            again = request_step(ledger, waiting, Commands(options.work_dir), options.output_dir)
            warn(
                f"warning: {MAX_ROUNDS_WITHOUT_PROGRESS + 1} rounds in a row saved no lesson, so waiting "
                f"longer is not helping; {plural(len(waiting), 'lesson')} pending: run "
                f"{again.command if again else Commands(options.work_dir).generate} later."
            )
            break
        with ledger.submission_lock():
            plan = make_plan(replace(options, modules=(), lessons=tuple(waiting), limit=None), history_of(ledger))
            report = submit_plan(
                plan, ledger, api, new_run_id(), options.limits.max_enqueued_tokens, options.force, say, cancels_at_start
            )
        outcome.submitted.submitted.extend(report.submitted)
        cancel_said = cancel_said or report.cancel_seen
        deferred = list(report.deferred_lessons)
        _say_deferred(report, say)
    # The whole job: besides this run's own lessons, those of every batch it saw through, including
    # batches adopted from or left unprocessed by earlier runs.
    for record in ledger.batches():
        if record.batch_id not in processed_before:
            job.update(ledger.batch_requests(record.batch_id))
    states = ledger.lessons(job)
    outcome.unsaved_lessons = sorted(
        lesson_id for lesson_id in job if lesson_id not in states or states[lesson_id].state != SUCCEEDED
    )


def _job_lessons(ledger: Ledger, outcome: GenerateOutcome) -> set[str]:
    """The lessons a ``--wait`` run answers for: those it requests, those of its selection still in
    a batch from an earlier run, and those of the batches it adopted."""
    job = set(outcome.plan.to_request) | set(outcome.plan.skipped_in_flight)
    for batch in outcome.submitted.adopted:
        job.update(ledger.batch_requests(batch.id))
    return job


def _requeued_by_failed_batches(ledger: Ledger, lesson_ids: list[str]) -> list[str]:
    """Lessons of this run put back to pending by a batch over the enqueued-token limit: the
    ledger's record of that batch's errors says so (the lesson still names the batch)."""
    over_limit = {record.batch_id for record in ledger.batches() if hit_token_limit(record)}
    return [
        lesson_id for lesson_id, record in ledger.lessons(lesson_ids).items()
        if record.state == PENDING and record.batch_id in over_limit
    ]
