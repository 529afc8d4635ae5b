"""The check_batch_status job: show, follow (``--watch``) or cancel the batches of a work dir, or
give up the ones the API does not know.

The script parses its options into a ``StatusRequest``; the job returns a result (``StatusReport``,
``CancelOutcome``, ``GiveUpOutcome`` or ``NothingRecorded``) and tells its progress as events
(``output.Events``); ``text.status`` words both. The syncing with the API is ``batch_sync``'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

from .api import ApiError, BatchApi, effective_base_url
from .batch_info import BatchInfo
from .batch_sync import cancel, problem_messages, refresh, watch
from .batch_view import (
    BatchView,
    UnsavedLesson,
    WaitingStep,
    flex_run_summary,
    in_flight_by_flex,
    lesson_counts,
    lessons_needing_attention,
    lessons_waiting,
    needs_attention,
    unsaved_lessons,
    view,
)
from .ledger import BatchRecord, Ledger
from .output import Events, Message
from .settings import API_BASE_URL, OUTPUT_DIR, remembered_path, resolve_ledger_settings
from .states import ACTIVE_BATCH_STATUSES
from .wording import Commands, given_up_reason


@dataclass(frozen=True)
class StatusRequest:
    """What the status script is asked: the batches to look at (none: every one in the ledger),
    and whether to follow them until they end, or cancel them (after ``confirm``, unless ``yes``)."""

    work_dir: Path
    batch_ids: tuple[str, ...] = ()
    cancel: bool = False
    yes: bool = False
    watch: bool = False
    interval: float = 30.0
    list_lessons: bool = False
    give_up: bool = False


# --- What the job returns ------------------------------------------------------------------------


@dataclass
class StatusReport:
    """The status: the batches, the flex runs, the lessons, and what the next steps are made of."""

    batches: list[BatchView]
    commands: Commands
    lessons: dict[str, int]  # lessons in each state
    attention: list[UnsavedLesson]  # lessons that need a person
    lessons_dir: Path | None = None  # the lessons folder the work dir remembers
    list_lessons: bool = False  # --lessons: every lesson not saved, with its state
    unsaved: list[UnsavedLesson] = field(default_factory=list)  # with --lessons
    errors: list[str] = field(default_factory=list)  # what the API said instead of answering
    flex_runs: list[dict] = field(default_factory=list)  # flex_run_summary of each run shown
    waiting: WaitingStep | None = None  # lessons the next generate run requests, and its command
    in_flight_by_flex: list[str] = field(default_factory=list)  # lessons a flex run that is over left in flight
    now: float = field(default_factory=time.time)
    failed: bool = False


@dataclass
class NothingRecorded:
    """No batch to show: nothing was submitted from the ledger's work dir (flex runs aside)."""

    ledger_path: Path | None
    commands: Commands
    flex_runs: list[dict]
    lessons: dict[str, int]
    failed: bool = False


@dataclass
class CancelOutcome:
    """What ``--cancel`` did: the batches asked about, the status each has after the cancel request
    (``cancelling`` until the API has finished), those the API does not know (404), and whether the
    whole job's cancel is recorded in the ledger (``--cancel`` without batch ids)."""

    commands: Commands
    batches: list[str]
    confirmed: bool = True
    whole_job: bool = False
    statuses: dict[str, str] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    submitting: bool = False  # a run was submitting when the whole job's cancel was recorded

    @property
    def failed(self) -> bool:
        return not self.confirmed or bool(self.not_found)


@dataclass
class GiveUpOutcome:
    """What ``--give-up`` did: the batches given up, with the lessons each gave back, and those
    that were not (given up already, known to the API, not in the ledger)."""

    commands: Commands
    batches: list[str]
    confirmed: bool = True
    given_up: dict[str, list[str]] = field(default_factory=dict)
    already_given_up: list[str] = field(default_factory=list)
    known_to_the_api: list[str] = field(default_factory=list)
    not_in_the_ledger: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return not self.confirmed or bool(self.known_to_the_api or self.not_in_the_ledger)


StatusResult = Union[StatusReport, NothingRecorded, CancelOutcome, GiveUpOutcome]


# --- What the job tells as it goes (``output.Events``) ---------------------------------------------


@dataclass(frozen=True)
class WatchStopped:
    """Ctrl-C during ``--watch``: watching stops, the batches keep running."""

    commands: Commands


@dataclass(frozen=True)
class WatchEnded:
    """Every watched batch has finished."""

    records: list[BatchRecord]


@dataclass(frozen=True)
class CancelAnswered:
    """The API took a batch's cancel request; ``status`` is the batch's status now."""

    batch_id: str
    status: str
    commands: Commands


@dataclass(frozen=True)
class CancelNotFound:
    """The API answered 404 for a batch to cancel."""

    batch_id: str
    commands: Commands


@dataclass(frozen=True)
class GiveUpRefused:
    """A batch not given up: given up already (``status`` None), or one the API still knows."""

    batch_id: str
    commands: Commands
    status: str | None = None


@dataclass(frozen=True)
class NotInLedger:
    """Batches given that the ledger does not record."""

    ledger_path: Path | None
    batch_ids: list[str]


# --- What the job asks before it acts (``confirm``: the script words the question) ------------------


@dataclass(frozen=True)
class CancelQuestion:
    """Whether to cancel ``batches`` (``folder``: the work dir, for the whole job's cancel)."""

    batches: list[str]
    folder: Path | None = None
    submitting: bool = False


@dataclass(frozen=True)
class GiveUpQuestion:
    batches: list[str]


Confirm = Callable[[Union[CancelQuestion, GiveUpQuestion]], bool]


def check_status(ledger: Ledger, request: StatusRequest, events: Events, confirm: Confirm) -> StatusResult:
    """Show (or follow, or cancel, or give up) the batches; what happens on the way goes to ``events``."""
    commands = Commands(request.work_dir)
    batch_ids = list(request.batch_ids) or [record.batch_id for record in ledger.batches()]
    # Flex runs are shown from the ledger alone (nothing to ask the API once a run is over).
    flex_runs = [] if request.batch_ids else [flex_run_summary(ledger, run) for run in ledger.flex_runs()]
    if request.cancel and not request.batch_ids and ledger.path is not None:
        # A cancel of the whole job is recorded even when no batch is recorded yet: a run may be
        # submitting its first one right now.
        return _cancel(ledger, None, [], events, commands, confirm)
    if not batch_ids and (request.cancel or not flex_runs):
        return NothingRecorded(ledger.path, commands, flex_runs, lesson_counts(ledger))
    lessons_dir = None
    if ledger.path is not None:
        for note in resolve_ledger_settings(ledger, request.work_dir, {API_BASE_URL: effective_base_url()}).notes:
            events(Message(note))
        lessons_dir = remembered_path(ledger, OUTPUT_DIR)
    api = _api(events) if batch_ids else None
    if request.cancel:
        return _cancel(ledger, api, list(request.batch_ids), events, commands, confirm)
    if request.give_up:
        return _give_up(ledger, api, list(request.batch_ids), events, commands, confirm)
    if not batch_ids:
        records, problems = [], []
    elif request.watch:
        records, problems = _watch(ledger, api, batch_ids, request.interval, events, commands), []
    else:
        records, problems = refresh(ledger, api, batch_ids)
    shown = {record.batch_id for record in records}
    lost = {problem.batch_id for problem in problems if problem.lost}
    # A lost batch of the ledger is told in its own lines, with the way on; the others as errors.
    errors = problem_messages(problem for problem in problems if not problem.lost or problem.batch_id not in shown)
    for message in errors:
        events(Message(message, "error"))
    stale = {problem.batch_id for problem in problems}
    views = [view(ledger, record, stale=record.batch_id in stale, lost=record.batch_id in lost) for record in records]
    report = StatusReport(
        views, commands, lesson_counts(ledger), lessons_needing_attention(ledger), lessons_dir,
        list_lessons=request.list_lessons, unsaved=unsaved_lessons(ledger) if request.list_lessons else [],
        errors=errors, flex_runs=flex_runs,
        waiting=lessons_waiting(ledger, commands) if ledger.path is not None else None,
        in_flight_by_flex=in_flight_by_flex(ledger) if ledger.path is not None else [],
    )
    missing = [batch_id for batch_id in batch_ids if batch_id not in shown]
    report.failed = bool(
        errors or missing or lost or report.attention or any(needs_attention(ledger, record) for record in records)
    )
    return report


def _api(events: Events) -> BatchApi:
    return BatchApi.from_environment(on_retry=events)


def _cancel(
    ledger: Ledger, api: BatchApi | None, given: list[str], events: Events, commands: Commands, confirm: Confirm
) -> CancelOutcome:
    """Cancel the batches given; with none given, the whole job: the cancel is recorded in the
    ledger first (every run submitting from the work dir, or waiting with --wait, then submits no
    more, and cancels a batch it is creating as soon as it exists), then every unfinished batch
    the ledger records is cancelled."""
    whole_job = not given and ledger.path is not None
    if whole_job:
        submitting = ledger.submission_in_progress()
        targets = _unfinished(ledger)
        question = CancelQuestion(targets, request_dir(ledger), submitting)
    else:
        submitting, targets = False, given
        question = CancelQuestion(targets)
    outcome = CancelOutcome(commands, targets, whole_job=whole_job, submitting=submitting)
    if not targets and not whole_job:
        return outcome
    if not confirm(question):
        outcome.confirmed = False
        return outcome
    if whole_job:
        ledger.request_cancel()
        # read again after the record: a batch recorded meanwhile is in it
        targets = outcome.batches = _unfinished(ledger)
    if targets and api is None:
        api = _api(events)

    def tell_lost(batch_id: str) -> None:
        outcome.not_found.append(batch_id)
        events(CancelNotFound(batch_id, commands))

    for info in cancel(ledger, api, targets, on_lost=tell_lost):  # each told as it happens
        outcome.statuses[info.id] = info.status
        events(CancelAnswered(info.id, info.status, commands))
    return outcome


def _give_up(
    ledger: Ledger, api: BatchApi, given: list[str], events: Events, commands: Commands, confirm: Confirm
) -> GiveUpOutcome:
    """Give up batches the API answers 404 for: their lessons may be requested again. A batch the
    API still knows is refused (giving it up would pay for its lessons twice)."""
    outcome = GiveUpOutcome(commands, given)
    outcome.not_in_the_ledger = [batch_id for batch_id in given if ledger.batch(batch_id) is None]
    if outcome.not_in_the_ledger:
        events(NotInLedger(ledger.path, outcome.not_in_the_ledger))
        return outcome
    targets = []
    for batch_id in given:
        if ledger.batch(batch_id).given_up_at is not None:
            events(GiveUpRefused(batch_id, commands))
            outcome.already_given_up.append(batch_id)
            continue
        info = _known(api, batch_id)
        if info is None:
            targets.append(batch_id)
            continue
        outcome.known_to_the_api.append(batch_id)
        events(GiveUpRefused(batch_id, commands, info.status))
    if not targets:
        return outcome
    if not confirm(GiveUpQuestion(targets)):
        outcome.confirmed = False
        return outcome
    for batch_id in targets:
        freed = ledger.give_up_batch(batch_id, given_up_reason(batch_id))
        outcome.given_up[batch_id] = list(freed)  # the lessons it gave back
    return outcome


def _known(api: BatchApi, batch_id: str) -> BatchInfo | None:
    """The API's view of a batch; None when it answers 404 (not found for this key and project)."""
    try:
        return api.get_batch(batch_id)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return None


def _unfinished(ledger: Ledger) -> list[str]:
    return [record.batch_id for record in ledger.batches() if record.status in ACTIVE_BATCH_STATUSES]


def request_dir(ledger: Ledger) -> Path:
    return ledger.path.parent


def _watch(
    ledger: Ledger, api: BatchApi, batch_ids: list[str], interval: float, events: Events, commands: Commands
) -> list[BatchRecord]:
    try:
        records = watch(ledger, api, batch_ids, interval, events=events)
    except KeyboardInterrupt:
        events(WatchStopped(commands))
        raise
    events(WatchEnded(records))
    return records
