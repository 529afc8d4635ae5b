"""``generate --wait``: follow the batches a run submitted until nothing is left to wait for.

Each round watches the batches still running (``batch_sync.watch``), processes every one that
finished (``process_job.process_ready``), and submits again the lessons that were waiting for room
under the enqueued-token cap, or that a batch over the organisation's enqueued-token limit gave
back (rolling submission). It stops when nothing waits, when a whole-job cancel was recorded (the
batches still ending are seen through), or when rounds go by without a lesson saved.

The wait words nothing: it tells its progress as the events below (``text`` words them); a
Ctrl-C while it waits is a ``StoppedWaiting``, which names the batches that keep running (and
are billed) on the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .api import BatchApi
from .batch_sync import RefreshProblem, hit_token_limit, watch
from .errors import Interrupted
from .ledger import Ledger
from .next_steps import request_step
from .output import Events, Message, Printer
from .plan import PlanOptions, history_of, make_plan
from .process_job import process_ready
from .report import Report
from .saving import Processing
from .states import PENDING, SUCCEEDED
from .submit import cancelled_since, new_run_id, submit_plan
from .wording import Commands

MAX_WAIT_ROUNDS = 1000
# Resubmitting lessons whose batch hit the enqueued-token limit helps only while batches finish
# and lessons get saved; after more rounds than this without a saved lesson, --wait stops.
MAX_ROUNDS_WITHOUT_PROGRESS = 2


# --------------------------------------------------------------------------- events (worded by text.events)


@dataclass(frozen=True)
class Deferred:
    """Lessons waiting for room under the enqueued-token cap."""

    lessons: tuple[str, ...]


@dataclass(frozen=True)
class WaitingFor:
    batch_ids: tuple[str, ...]


@dataclass(frozen=True)
class WatchPaused:
    """The watch of this round is over (a progress bar's line ends)."""


@dataclass(frozen=True)
class Processed:
    report: Report


@dataclass(frozen=True)
class ProcessProblems:
    """Batches whose results could not be fetched this round."""

    problems: tuple[RefreshProblem, ...]


@dataclass(frozen=True)
class CancelSeen:
    """A whole-job cancel was recorded: nothing more is submitted; ``waiting`` lessons were not."""

    waiting: int


@dataclass(frozen=True)
class NoProgress:
    """Rounds went by without a saved lesson: the wait gives up on ``waiting`` lessons."""

    rounds: int
    waiting: int
    command: str  # the command that requests them later


class StoppedWaiting(Interrupted):
    """A Ctrl-C under ``--wait`` (or after batches were created): ``running`` batches of the work
    dir go on, and are billed, on the server (``text`` words it)."""

    def __init__(self, running: list[str], work_dir: Path):
        super().__init__(f"Interrupted while {len(running)} batches run on.")
        self.running, self.work_dir = running, work_dir

    @classmethod
    def of(cls, ledger: Ledger, work_dir: Path) -> StoppedWaiting:
        return cls([record.batch_id for record in ledger.batches() if not record.is_terminal], work_dir)


def printer_of(events: Events) -> Printer:
    """A printer into ``events``, for a module that still words its own lines (``process_job``,
    ``saving``, ``submit``): its lines pass as they are (``Message``)."""
    return Printer(out=lambda text: events(Message(text, "out")), note=lambda text: events(Message(text)))


# --------------------------------------------------------------------------- the wait


def wait_until_done(
    options: PlanOptions,
    ledger: Ledger,
    api: BatchApi,
    outcome,  # the run's ``generate_job.GenerateOutcome``, which this adds to
    interval: float,
    events: Events,
    cancels_at_start: int | None = None,
) -> None:
    """See the run's batches through (``outcome``: the ``GenerateOutcome`` this adds to)."""
    wait = _Wait(options, ledger, api, outcome, interval, events, cancels_at_start)
    wait.run()
    outcome.unsaved_lessons = wait.unsaved()


@dataclass
class _Wait:
    options: PlanOptions
    ledger: Ledger
    api: BatchApi
    outcome: object  # the GenerateOutcome
    interval: float
    events: Events
    cancels_at_start: int | None = None
    deferred: list[str] = field(default_factory=list)
    cancel_said: bool = False
    processed_before: set[str] = field(default_factory=set)
    job: set[str] = field(default_factory=set)
    rounds_without_progress: int = 0

    def __post_init__(self) -> None:
        submitted = self.outcome.submitted
        self.deferred = list(submitted.deferred_lessons)
        self.cancel_said = submitted.cancel_seen
        self.processed_before = {record.batch_id for record in self.ledger.batches() if record.processed_at is not None}
        self.job = _job_lessons(self.ledger, self.outcome)

    def run(self) -> None:
        ledger = self.ledger
        for _round in range(MAX_WAIT_ROUNDS):
            self._watch_active()
            reports = self._process_finished()
            waiting = sorted(set(self.deferred) | set(_requeued_by_failed_batches(ledger, sorted(self.job))))
            if not waiting:
                return
            if cancelled_since(ledger, self.cancels_at_start):
                # The job was cancelled: nothing more is submitted; the batches still ending are seen through.
                if not self.cancel_said:
                    self.events(CancelSeen(len(waiting)))
                    self.cancel_said = True
                if not any(not record.is_terminal for record in ledger.batches()):
                    return
                self.deferred = []
                continue
            saved = sum(len(report.saved) + len(report.replaced) for report in reports)
            self.rounds_without_progress = 0 if saved else self.rounds_without_progress + 1
            if self.rounds_without_progress > MAX_ROUNDS_WITHOUT_PROGRESS:
                self._give_up(waiting)
                return
            self._submit_again(waiting)

    def _watch_active(self) -> None:
        active = [record.batch_id for record in self.ledger.batches() if not record.is_terminal]
        if not active:
            return
        self.events(WaitingFor(tuple(active)))
        stop_early = (lambda records: any(r.is_terminal for r in records)) if self.deferred else None
        try:
            watch(
                self.ledger, self.api, active, self.interval, stop_when=stop_early,
                events=self.events,
            )
        finally:
            self.events(WatchPaused())  # end the bar's line before anything else is printed

    def _process_finished(self) -> list[Report]:
        options = self.options
        processing = Processing.of(self.ledger, options.output_dir, options.work_dir, printer=printer_of(self.events))
        reports, _not_ready, problems = process_ready(processing, self.api, None, self.events)
        if problems:
            self.events(ProcessProblems(tuple(problems)))
        self.outcome.reports.extend(reports)
        for report in reports:
            self.events(Processed(report))
        return reports

    def _give_up(self, waiting: list[str]) -> None:
        commands = Commands(self.options.work_dir)
        again = request_step(self.ledger, waiting, commands, self.options.output_dir)
        command = again.command if again else commands.generate
        self.events(NoProgress(MAX_ROUNDS_WITHOUT_PROGRESS + 1, len(waiting), command))

    def _submit_again(self, waiting: list[str]) -> None:
        options, ledger = self.options, self.ledger
        with ledger.submission_lock():
            plan = make_plan(replace(options, modules=(), lessons=tuple(waiting), limit=None), history_of(ledger))
            report = submit_plan(
                plan, ledger, self.api, new_run_id(), options.limits.max_enqueued_tokens, options.force,
                self.events, self.cancels_at_start,
            )
        self.outcome.submitted.submitted.extend(report.submitted)
        self.cancel_said = self.cancel_said or report.cancel_seen
        self.deferred = list(report.deferred_lessons)
        if report.deferred_lessons:
            self.events(Deferred(tuple(report.deferred_lessons)))

    def unsaved(self) -> list[str]:
        """The whole job's lessons not saved: besides this run's own lessons, those of every batch it
        saw through, including batches adopted from or left unprocessed by earlier runs."""
        ledger = self.ledger
        for record in ledger.batches():
            if record.batch_id not in self.processed_before:
                self.job.update(ledger.batch_requests(record.batch_id))
        states = ledger.lessons(self.job)
        return sorted(
            lesson_id for lesson_id in self.job if lesson_id not in states or states[lesson_id].state != SUCCEEDED
        )


def _job_lessons(ledger: Ledger, outcome) -> set[str]:
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
