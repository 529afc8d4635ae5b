"""The generate script's job, put together from the other modules (the processing script's is
``process_job``).

``generate``: plan (no network), then, unless it is a dry run, settle what an interrupted flex
run left, check the budget, ask for confirmation, and submit. With ``wait`` it then follows the
batches (``generate_wait``), processes each one as it finishes, and submits lessons that were
waiting for room under the enqueued-token cap (rolling submission), until nothing is left to wait for.

With ``via="flex"`` it sends the plan through flex instead (``flex.run_flex``), the answers saved
as they arrive; ``fallback_batch`` then submits, as an ordinary batch, whatever flex could not
take (a model without flex, capacity that did not come back).

The job words nothing but its errors: it returns a ``GenerateOutcome`` and tells its progress as
events (the dataclasses below, and those of ``flex`` and ``generate_wait``) to the ``Events`` it
is handed; ``text`` words them.

Each step records itself in the ledger before moving on, so any of these can be interrupted and
simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable

from . import models, recovery
from .api import ApiError, BatchApi
from .batch_sync import refresh
from .defaults import DEFAULT_CURRICULUM
from .errors import Interrupted, LessonBatchError
from .files import check_folder, display_path, remove_stale_temporaries
from .flex import FALLBACK_STOPS, FlexReport, FlexSettings, FlexStoppedError, run_flex
from .flex.answers import settle_interrupted_flex
from .folder_users import in_flight_elsewhere
from .generate_wait import Deferred, StoppedWaiting, printer_of, wait_until_done
from .ledger import Ledger
from .output import Events, Message, no_events
from .plan import History, Plan, PlanOptions, history_of, make_plan, saved_before_sentence
from .process_job import saving_into
from .report import Report
from .requests import RequestSettingsError
from .saving import Processing
from .settings import CURRICULUM
from .submit import SubmitReport, new_run_id, recover_unfinished_shards, submit_plan
from .wording import Commands, cost_format, plural, quoted
from .workspace import Workspace


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
    """What a generate run did: the plan, what it submitted, what flex did, what ``--wait`` saw through."""

    plan: Plan
    submitted: SubmitReport = field(default_factory=SubmitReport)
    reports: list[Report] = field(default_factory=list)
    unsaved_lessons: list[str] = field(default_factory=list)  # after --wait: lessons still not saved
    flex: FlexReport | None = None
    declined: bool = False  # the person answered no at the confirmation prompt


# --------------------------------------------------------------------------- events (worded by text.events)


@dataclass(frozen=True)
class ModelWarning:
    """The model shuts down within 30 days: ``message`` (the model table's words), and on whose word."""

    message: str
    from_api: bool = False  # the API's shutdown_date (else: the model table)
    today: date | None = None
    today_overridden: str | None = None  # what set ``today``, when it is not the machine's date


@dataclass(frozen=True)
class PlanMade:
    plan: Plan


@dataclass(frozen=True)
class SharedFolder:
    """Lessons of the plan are in flight from ``other``, a work dir on the same lessons folder."""

    output_dir: Path
    other: Path
    lessons: tuple[str, ...]


@dataclass(frozen=True)
class ViaFlex:
    """The plan goes through flex (said before it is sent, and by a dry run)."""

    plan: Plan
    flex: FlexSettings


@dataclass(frozen=True)
class OverBudget:
    """A dry run's plan that the same command without --dry-run would refuse for its cost."""

    plan: Plan
    max_cost: float


@dataclass(frozen=True)
class BatchUnreadable:
    """A batch the ledger last saw unfinished could not be read (its last known status is kept)."""

    batch_id: str
    message: str


@dataclass(frozen=True)
class NothingToDo:
    via: str  # "batch": nothing to submit; "flex": nothing to send


@dataclass(frozen=True)
class FlexDone:
    report: FlexReport
    settings: FlexSettings


@dataclass(frozen=True)
class FallingBack:
    """The lessons flex did not take go into an ordinary batch (--fallback batch), with this plan."""

    lessons: tuple[str, ...]
    plan: Plan


# --------------------------------------------------------------------------- checks


def check_model_in_catalogue(model: str, today: date, events: Events = no_events) -> None:
    """A dry run's lifecycle check, from the model table alone: a model past its shutdown date
    is a usage error; one that shuts down within 30 days is warned about."""
    verdict = models.catalogue_lifecycle(model, today)
    if verdict.status == "shut_down":
        raise RequestSettingsError(f"{verdict.message} (model table of {models.CATALOGUE_DATE})")
    if verdict.message:
        events(ModelWarning(verdict.message))


def check_model_with_api(
    api: BatchApi, model: str, today: date, events: Events = no_events, today_overridden: str | None = None
) -> None:
    """Before anything is uploaded: ask the API about the model. Its answer wins over the model
    table: a model it does not know, or that shuts down before a 24-hour batch could end, stops
    the run; one that shuts down within 30 days is warned about. ``today_overridden`` names what
    set ``today`` when it is not the machine's date (the verdict is then said to rest on it)."""
    remote = api.retrieve_model(model)
    if remote is None:
        raise ModelUnavailableError(models.unknown_to_api_message(model, today))
    verdict = models.lifecycle(model, remote.shutdown_date, today)
    if verdict.status in ("shut_down", "too_late"):
        source = "the API's shutdown_date"
        if today_overridden:
            source += (
                f", judged against {today.isoformat()}, the date {today_overridden} sets; "
                "the API still lists the model"
            )
        raise ModelUnavailableError(f"{verdict.message} ({source}); nothing was uploaded")
    if verdict.message:
        events(ModelWarning(verdict.message, from_api=True, today=today, today_overridden=today_overridden))


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


def course_guard(work_dir: Path, ledger: Ledger | None, curriculum: Path | None, yes: bool):
    """No default course for a work dir that served another: where the ledger is gone (lost, or
    none in a dry run) and the run names no --curriculum, a work dir whose batches or request
    files show another course than the bundled one is refused (called with the course the
    API's batches name, before the ledger is rebuilt)."""
    def guard(course: str | None) -> None:
        if curriculum is not None:
            return
        if ledger is None and not Workspace(work_dir).shows_earlier_use():
            return
        if ledger is not None and (ledger.lost is None or CURRICULUM in ledger.meta()):
            return  # a ledger in use (or restored from its backup) remembers its course
        reason = recovery.other_course_shown(work_dir, DEFAULT_CURRICULUM, course)
        if reason is not None:
            commands = Commands(work_dir)
            raise recovery.refuse_default_course(
                work_dir, DEFAULT_CURRICULUM, reason, course,
                lambda option: f"{commands.generate} {option}" + (" --yes" if yes else ""),
            )
    return guard


# --------------------------------------------------------------------------- the job


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
    events: Events = no_events,
    via: str = "batch",
    flex: FlexSettings | None = None,
    fallback_batch: bool = False,
    today: date | None = None,
    today_overridden: str | None = None,  # what set ``today`` (LESSON_BATCH_TODAY), if not the machine's date
) -> GenerateOutcome:
    """Plan, and with an ``api`` (and a ``ledger``), submit (and with ``wait``, see it through);
    with ``via="flex"``, send the requests through flex.

    The folders are checked first, so a run never pays for lessons it could not save. Its
    progress goes to ``events``: the plan, the steps, warnings.
    """
    today = today or date.today()
    _first_checks(options, api is not None, today, events)
    job = _Job(options, ledger, api, events, max_cost, flex or FlexSettings(max_cost=max_cost), confirm)
    if api is None:  # a dry run: read what the ledger knows, if there is one, and write nothing to it
        return job.dry_run(via, today)
    batches_before, flex_runs_before = len(ledger.batches()), len(ledger.flex_runs())
    job.cancels_at_start = ledger.cancel_requests()  # a cancel recorded from now on stops this run's submitting
    try:
        with ledger.submission_lock():
            api.check_access()
            check_model_with_api(api, options.settings.model, today, events, today_overridden)
            plan = job.prepare(confirm_paying_again)
            outcome = job.send_flex(plan, fallback_batch) if via == "flex" else job.submit_batches(plan)
            outcome.submitted.adopted.extend(job.recovered.adopted)
        if wait and (via != "flex" or outcome.submitted.submitted):
            try:
                wait_until_done(options, ledger, api, outcome, interval, events, job.cancels_at_start)
            except KeyboardInterrupt as exc:
                if isinstance(exc, Interrupted):
                    raise
                raise StoppedWaiting.of(ledger, options.work_dir) from None
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) or len(ledger.batches()) == batches_before:
            raise
        # Batches this run created keep running (and are billed) whatever happens to this process.
        raise StoppedWaiting.of(ledger, options.work_dir) from None
    except ApiError as exc:
        made = len(ledger.batches()) - batches_before
        sent = len(ledger.flex_runs()) - flex_runs_before
        raise ApiError(f"{exc}\n{_what_was_done(made, sent)}", exc.status, exc.transient) from None
    return outcome


def _first_checks(options: PlanOptions, writing: bool, today: date, events: Events) -> None:
    """Before anything else: the model table's age, and folders a run can use (never pay for a
    lesson that could not be saved)."""
    age_note = models.catalogue_age_note(today)
    if age_note:
        events(Message(age_note))
    check_folder(options.work_dir, "--work-dir")
    check_folder(options.output_dir, "--output-dir", create=writing)
    remove_stale_temporaries(options.work_dir)  # left by a run that was killed while writing


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


@dataclass
class _Job:
    """One generate run's steps, sharing what the run was given."""

    options: PlanOptions
    ledger: Ledger | None
    api: BatchApi | None
    events: Events
    max_cost: float | None
    flex: FlexSettings
    confirm: Callable[[Plan], bool]
    recovered: SubmitReport = field(default_factory=SubmitReport)
    cancels_at_start: int | None = None  # a cancel recorded from now on stops this run's submitting

    def dry_run(self, via: str, today: date) -> GenerateOutcome:
        check_model_in_catalogue(self.options.settings.model, today, self.events)
        plan = make_plan(self.options, history_of(self.ledger) if self.ledger is not None else History())
        self._show_plan(plan)
        if via == "flex":
            self.events(ViaFlex(plan, self.flex))
        else:
            try:
                check_budget(plan, self.max_cost)
            except BudgetError:
                self.events(OverBudget(plan, self.max_cost))
        return GenerateOutcome(plan)

    def prepare(self, confirm_paying_again: Callable[[Plan], bool]) -> Plan:
        """Under the submission lock: finish what earlier runs left, then plan."""
        ledger, options = self.ledger, self.options
        self.recovered = recover_unfinished_shards(ledger, self.api, self.events)
        self._refresh_unfinished()
        self.events(settle_interrupted_flex(ledger, options.output_dir))
        plan = make_plan(options, history_of(ledger))
        self._show_plan(plan)
        _check_paying_again(plan, options, confirm_paying_again)
        ledger.set_max_attempts(options.max_attempts)
        ledger.hold_for_attention(plan.held_for_attention)
        return plan

    def _show_plan(self, plan: Plan) -> None:
        self.events(PlanMade(plan))
        for other, lesson_ids in in_flight_elsewhere(
            self.options.output_dir, self.options.work_dir, plan.to_request
        ).items():
            self.events(SharedFolder(self.options.output_dir, other, tuple(lesson_ids)))

    def _refresh_unfinished(self) -> None:
        """Bring the ledger up to date on batches it last saw unfinished, before planning: a batch
        that failed meanwhile gives its lessons back, and one that finished frees room under the
        enqueued-token cap. A batch that cannot be read keeps its last known status (still counted)."""
        unfinished = [record.batch_id for record in self.ledger.batches() if not record.is_terminal]
        if unfinished:
            _records, problems = refresh(self.ledger, self.api, unfinished)
            for problem in problems:
                self.events(BatchUnreadable(problem.batch_id, problem.message))

    def submit_batches(self, plan: Plan) -> GenerateOutcome:
        """The submitting part of ``generate`` (called holding the submission lock)."""
        check_budget(plan, self.max_cost)
        outcome = GenerateOutcome(plan)
        if not plan.shards:
            self.events(NothingToDo("batch"))
            return outcome
        if not self.confirm(plan):
            raise DeclinedError(
                "Not submitted: you answered no. Nothing was uploaded and nothing is charged; "
                "run the same command again to submit.", plan
            )
        self.ledger.note_pending(plan.to_request)
        outcome.submitted = self._submit(plan)
        return outcome

    def _submit(self, plan: Plan) -> SubmitReport:
        options = self.options
        report = submit_plan(
            plan, self.ledger, self.api, new_run_id(), options.limits.max_enqueued_tokens, options.force, self.events,
            self.cancels_at_start,
        )
        if report.deferred_lessons:
            self.events(Deferred(tuple(report.deferred_lessons)))
        return report

    def send_flex(self, plan: Plan, fallback_batch: bool) -> GenerateOutcome:
        """The flex part of ``generate`` (called holding the submission lock)."""
        self.events(ViaFlex(plan, self.flex))
        check_budget(plan, self.flex.max_cost, running=True)
        outcome = GenerateOutcome(plan)
        if not plan.to_request:
            self.events(NothingToDo("flex"))
            return outcome
        unsupported = models.supports_flex(plan.settings.model) is False
        if unsupported and not fallback_batch:
            raise FlexUnavailableError(
                f"{plan.settings.model} does not take flex processing (per the model catalogue in "
                "lesson_batch/model_catalogue.py); nothing was sent. Choose a model that does (--model), "
                "submit a batch (leave out --via flex), or add --fallback batch."
            )
        if not self.confirm(plan):
            raise DeclinedError(
                "Not sent: you answered no. No request was sent and nothing is charged; "
                "run the same command again to send them.", plan
            )
        self.ledger.note_pending(plan.to_request)
        left = list(plan.to_request) if unsupported else self._run_flex(plan, outcome)
        if fallback_batch and left:
            outcome.submitted = self._fall_back(left, outcome.flex)
        return outcome

    def _run_flex(self, plan: Plan, outcome: GenerateOutcome) -> list[str]:
        """Send the plan through flex; returns the lessons left for a batch (--fallback batch)."""
        options = self.options
        with saving_into(options.output_dir, None, "flex stopped; the next run requests the lessons not saved again"):
            processing = Processing.of(
                self.ledger, options.output_dir, options.work_dir, options.force, printer_of(self.events)
            )
            outcome.flex = run_flex(plan, processing, self.api, self.flex, events=self.events)
        self.events(FlexDone(outcome.flex, self.flex))
        if outcome.flex.write_failure:
            raise FlexStoppedError(outcome.flex.write_failure)
        return outcome.flex.not_sent if outcome.flex.stop_reason in FALLBACK_STOPS else []

    def _fall_back(self, left: list[str], report: FlexReport | None) -> SubmitReport:
        """Submit the lessons flex did not take as an ordinary batch, within what is left of --max-cost."""
        spent = report.cost if report else 0.0
        options = replace(self.options, modules=(), lessons=tuple(left), limit=None)
        fallback = make_plan(options, history_of(self.ledger))
        self.events(FallingBack(tuple(left), fallback))
        check_budget(fallback, None if self.flex.max_cost is None else max(0.0, self.flex.max_cost - (spent or 0.0)))
        return self._submit(fallback)



def _check_paying_again(plan: Plan, options: PlanOptions, confirm_paying_again: Callable[[Plan], bool]) -> None:
    """Lessons the ledger records as saved are not bought again silently: it takes ``--force``, or
    a yes to ``confirm_paying_again`` (the question at a terminal, which ``--yes`` does not answer)."""
    if not plan.saved_before or options.force or confirm_paying_again(plan):
        return
    folders = sorted({folder for folder in plan.saved_before.values() if folder})
    use = (
        f"--output-dir {quoted(display_path(Path(folders[0])))}" if len(folders) == 1
        else "--output-dir with their folder"
    )
    raise SavedBeforeError(
        f"{saved_before_sentence(plan)}. Nothing was submitted. To use the lessons saved there, run with {use}; "
        "to pay for them again, add --force (or answer yes when asked, at a terminal)."
    )
