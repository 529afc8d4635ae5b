"""Flex: the planned requests sent straight to the API, at Batch prices, in minutes.

The requests go to the plan's endpoint: Chat Completions, or the Responses API
(``--endpoint responses``, ``responses.create`` with ``service_tier: "flex"``); either answer is
read by the same result-line reader.

``run_flex`` takes a plan and sends each of its requests (``flex.send``: the very bodies of its
input files, plus ``service_tier: "flex"``) a few at a time on worker threads. Everything else
happens on the calling thread, one answer at a time as it arrives: the answer is kept on disk
(``flex.answers``), recorded as received (paid), then read as the batch result line that would
hold it and put through the results path (clean, check, atomic save, ledger), so lessons appear
in the folder one by one, with the truncation ladder and the checks of the batch path. An
exception on a worker thread is a bug: it is raised again on the calling thread.

Crash safety, on the same ledger as batches: a lesson is marked ``flex`` (in flight) before its
request goes out, and gets its outcome after. A lesson in a batch, or already in flight, is never
sent (``Ledger.flex_sending`` refuses it); a lesson in flight by flex is never planned into a
batch. A run that dies leaves its in-flight lessons ``flex``; the next run settles them
(``flex.answers.settle_interrupted_flex``).

The run stops sending when capacity refusals go on for ``patience_seconds`` (``flex.send``), at
once when the model does not take flex (only one request is in flight until the first answer, so
that costs one refused request), before ``max_cost`` could be passed (``flex.cost``), and on
Ctrl-C (those in flight get ``grace_seconds`` to finish and are recorded). It tells its progress
as events to the ``Events`` it is handed (``output``); ``text`` words them, and its report.

Facts used: OpenAI's flex guide (developers.openai.com/api/docs/guides/flex-processing): Batch
prices, 15-minute timeout, "occasional resource unavailability", limited models; an unsupported
model answers 400 ``invalid_request_error`` with no fallback to standard (Azure's flex page;
"Unsupported service_tier: flex" as quoted in openai/codex issue #15099).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .. import crashpoints, ids
from ..api import BatchApi, ChatReply
from ..errors import Interrupted, LessonBatchError
from ..files import DurableLog, disk_full_message, display_path, is_disk_full
from ..ledger import DEFAULT_MAX_ATTEMPTS, FlexAnswerRecord, NotSaved
from ..output import Events, no_events
from ..plan import Plan
from ..report import Report
from ..result_files import BadLine, result_of_response
from ..saving import AnswerRecorder, Expected, Processing
from ..states import FLEX, INVALID
from ..submit import new_run_id
from ..wording import first_ids
from .answers import answer_line
from .cost import CostCap
from .send import (
    ANSWER,
    FATAL,
    LESSON_ERROR,
    NO_ANSWER,
    NOT_SENT,
    REFUSED,
    SERVER_ERROR,
    UNSUPPORTED,
    CapacityGate,
    FlexRequest,
    Outcome,
    error_message,
    read_requests,
    send,
)

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
GRACE_SECONDS = 30.0  # after Ctrl-C, how long requests in flight may take to finish
PATIENCE_SECONDS = 15 * 60.0  # capacity refusals with no answer served for this long: stop
MIN_REFUSALS = 10  # ... and at least this many refusals in a row
POLL_SECONDS = 0.2
# The ledger learns of answers (and their lessons' outcomes) a group at a time: at least this
# often, and whenever the answers pause. A lesson answered but not yet recorded stays ``flex``,
# which a re-run after a crash settles (its file is on disk, or it may have been paid).
FLUSH_SECONDS = 1.0

# Why a run stopped before sending everything.
STOP_UNSUPPORTED, STOP_CAPACITY, STOP_MAX_COST, STOP_INTERRUPTED, STOP_API = (
    "unsupported", "capacity", "max_cost", "interrupted", "api_error",
)
STOP_WRITE = "write_failed"  # a lesson file or the ledger could not be written (a full disk)
# Stops after which the lessons left can go into an ordinary batch (--fallback batch).
FALLBACK_STOPS = (STOP_UNSUPPORTED, STOP_CAPACITY)


@dataclass(frozen=True)
class FlexSettings:
    concurrency: int = DEFAULT_CONCURRENCY
    max_cost: float | None = None
    grace_seconds: float = GRACE_SECONDS
    patience_seconds: float = PATIENCE_SECONDS
    min_refusals: int = MIN_REFUSALS


@dataclass
class FlexReport:
    run_id: str
    model: str
    requested: int
    results: Report
    estimated_cost: float | None = None
    cost: float | None = 0.0  # at the tier each answer was served at; None: unknown price
    other_tier: list[tuple[str, str, float | None]] = field(default_factory=list)  # lesson, tier, extra cost
    refusals: int = 0
    not_sent: list[str] = field(default_factory=list)  # pending again: never ran, not paid
    no_answer: list[str] = field(default_factory=list)  # pending again, but may have been paid
    still_running: list[str] = field(default_factory=list)  # after the grace period: left ``flex``
    already_in_flight: list[str] = field(default_factory=list)  # in a batch or another run: not sent
    stop_reason: str | None = None
    stop_detail: str = ""
    # A write failed (a full disk): what to tell, with what was kept; the run then ends with it.
    write_failure: str | None = None

    @property
    def saved(self) -> int:
        return len(self.results.saved) + len(self.results.replaced)

    def add_cost(self, cost: float | None) -> None:
        self.cost = None if cost is None or self.cost is None else self.cost + cost


class FlexStoppedError(LessonBatchError):
    """A flex run stopped because a file or the ledger could not be written; what it received is kept."""


# --------------------------------------------------------------------------- events (worded by text.events)


@dataclass(frozen=True)
class FlexStarted:
    requested: int
    model: str
    concurrency: int


@dataclass(frozen=True)
class FlexProgress:
    """An answer (or a lesson given up) came back: ``done`` of ``total``."""

    done: int
    total: int
    saved: int
    refusals: int  # capacity refusals waited out so far


@dataclass(frozen=True)
class FlexStopping:
    """The run stops sending, and waits up to ``grace_seconds`` for the requests in flight."""

    write_failed: bool  # a write failed (else: Ctrl-C)
    grace_seconds: float
    in_flight: int


@dataclass(frozen=True)
class FlexStillWaiting:
    """A second Ctrl-C while requests are in flight: the run keeps waiting for their paid answers."""

    lessons: tuple[str, ...]


class FlexAbandoned(Interrupted):
    """A third Ctrl-C: the run quits with ``lessons`` in flight abandoned (``text`` words it)."""

    def __init__(self, lessons: list[str]):
        super().__init__(f"Quit with {len(lessons)} requests in flight abandoned.")
        self.lessons = sorted(lessons, key=ids.sort_key)


# --------------------------------------------------------------------------- the run


@contextmanager
def _interrupt_sets(
    stop: threading.Event, in_flight: Callable[[], list[str]] = list, events: Events = no_events
) -> Iterator[None]:
    """While flex runs, the first Ctrl-C only sets ``stop`` (the run winds down and records
    everything). Requests in flight are billed whether or not their answers are kept, so a second
    one does not drop them: it says so (``FlexStillWaiting``), and the run keeps waiting for them;
    only a third quits (``FlexAbandoned``: the abandoned requests are billed, and the next run asks
    for them again). With nothing in flight, a second Ctrl-C quits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    presses = 0

    def handler(signum, frame):
        nonlocal presses
        presses += 1
        if presses == 1:
            stop.set()
            return
        lessons = in_flight()
        if not lessons:
            raise KeyboardInterrupt
        if presses == 2:
            events(FlexStillWaiting(tuple(lessons)))
            return
        raise FlexAbandoned(lessons)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_flex(
    plan: Plan,
    processing: Processing,
    api: BatchApi,
    settings: FlexSettings = FlexSettings(),
    stop: threading.Event | None = None,
    rng: random.Random | None = None,
    events: Events = no_events,
) -> FlexReport:
    """Send every request of ``plan`` through flex and process each answer as it arrives (into
    ``processing``'s lessons folder and ledger), telling ``events`` how it goes."""
    runner = _Run(plan, processing, api, settings, stop or threading.Event(), rng or random.Random(), events)
    return runner.run()


class _Run:
    def __init__(self, plan, processing: Processing, api, settings, stop, rng, events: Events):
        self.plan, self.ledger, self.api, self.settings = plan, processing.ledger, api, settings
        self.stop, self.rng, self.force, self.events = stop, rng, processing.force, events
        self.halt = threading.Event()  # set once the run stops sending, for whatever reason
        self.model = plan.settings.model
        self.endpoint = plan.settings.endpoint_path
        self.run_id = "flex-" + new_run_id()
        self.report = FlexReport(
            run_id=self.run_id, model=self.model, requested=len(plan.to_request),
            results=Report(label=f"flex run {self.run_id}", estimated_cost=plan.estimated_cost),
            estimated_cost=plan.estimated_cost,
        )
        self.recorder = AnswerRecorder(processing, self.report.results)
        self.gate = CapacityGate(settings.patience_seconds, settings.min_refusals)
        self.cap = CostCap(self.model, settings.max_cost, self.report)
        self.replies: queue.Queue[Outcome] = queue.Queue()
        self.in_flight: dict[str, FlexRequest] = {}
        self.answered_once = False
        self.sections = tuple(plan.template.required_sections)
        self.done = 0
        self.answers: list[FlexAnswerRecord] = []  # received, for the ledger's next group
        self.flushed_at = time.monotonic()
        self.requests: Iterator[FlexRequest] = iter(())
        self.waiting: FlexRequest | None = None  # read, and not sent yet (the cost cap, a failed write)
        self.grace_ends: float | None = None
        # Each answer is kept on disk before its lesson is written; a write that fails (a full
        # disk, the ledger) stops the run, which still keeps what arrives (see ``_guarded``).
        self.answer_log = DurableLog(processing.workspace.flex_answers(self.run_id))
        self.failure: BaseException | None = None
        self.kept: list[str] = []  # lessons whose answer is in the answers file
        self.lost: list[str] = []  # lessons whose answer arrived but could not be kept

    # -- sending

    def _send_or_crash(self, request: FlexRequest) -> Outcome:
        """``send`` on the worker thread; an exception there is a bug, handed to the main thread
        (which raises it) instead of leaving the run waiting forever for an answer."""
        try:
            return send(self.api, request, self.halt, self.gate, self.rng, self.endpoint)
        except BaseException as exc:  # any exception: it must reach the main thread
            return Outcome(request, NO_ANSWER, detail=repr(exc), crash=exc)

    def _start(self, request: FlexRequest) -> None:
        """Put the lesson in flight and send its request on a worker thread; a lesson the ledger
        will not put in flight (in a batch, or in another run) is only reported."""
        if not self.ledger.flex_sending(self.run_id, request.lesson_id, self.force):
            self.report.already_in_flight.append(request.lesson_id)
            self.done += 1
            return
        crashpoints.reached("flex_sent")
        self.in_flight[request.lesson_id] = request
        worker = threading.Thread(
            target=lambda: self.replies.put(self._send_or_crash(request)),
            name=f"flex-{request.lesson_id}",
            daemon=True,  # one still running after the grace period must not keep the process alive
        )
        worker.start()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set() or self.report.stop_reason is not None

    def run(self) -> FlexReport:
        report = self.report
        self.ledger.flex_run_started(self.run_id, self.model, report.requested)
        self.events(FlexStarted(report.requested, self.model, self.settings.concurrency))
        self.requests = read_requests(self.plan)
        try:
            with _interrupt_sets(self.stop, lambda: list(self.in_flight), self.events):
                self._loop()
        finally:
            self._wind_up()
        if self.failure is not None:
            report.write_failure = self._failure_message()
        return report

    def _loop(self) -> None:
        """Send while there is room, take the answers as they come, until nothing is in flight
        (or the grace period after a stop is over)."""
        while True:
            self._send_more()
            self._begin_grace_when_stopped()
            if not self.in_flight:
                return
            try:
                outcome = self.replies.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self._guarded(self._flush)  # a pause: bring the ledger up to date
                if self.grace_ends is not None and time.monotonic() >= self.grace_ends:
                    return
                continue
            self._handle(outcome)
            if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
                self._guarded(self._flush)

    def _send_more(self) -> None:
        # One request at a time until the first answer: a model that does not take flex is then
        # told by one refused request, not by a whole round of them.
        limit = self.settings.concurrency if self.answered_once else 1
        while not self.stopping and len(self.in_flight) < limit:
            request = self.waiting or next(self.requests, None)
            self.waiting = None
            if request is None:
                return
            if not self.cap.affords(request, self.in_flight.values()):
                self.waiting = request
                if not self.in_flight:
                    self.report.stop_reason = STOP_MAX_COST
                return
            if not self._guarded(self._start, request):
                self.waiting = request  # not sent: the ledger could not record it
                return

    def _begin_grace_when_stopped(self) -> None:
        """After Ctrl-C or a failed write: no new requests; those in flight get the grace period."""
        if self.grace_ends is not None or not (self.stop.is_set() or self.failure is not None):
            return
        self.grace_ends = time.monotonic() + self.settings.grace_seconds
        write_failed = not self.stop.is_set()
        if not write_failed:
            self.report.stop_reason = self.report.stop_reason or STOP_INTERRUPTED
            self.halt.set()
        self.events(FlexStopping(write_failed, self.settings.grace_seconds, len(self.in_flight)))

    def _wind_up(self) -> None:
        """Whatever ended the run: the ledger brought up to date, and the report told what is left."""
        report = self.report
        self._guarded(self._flush)
        rest = ([self.waiting] if self.waiting else []) + list(self.requests)
        report.not_sent.extend(request.lesson_id for request in rest)
        self.requests.close()
        self.halt.set()
        report.still_running.extend(self.in_flight)  # after the grace period: they stay ``flex``
        report.refusals = self.gate.total
        self._guarded(self.ledger.flex_run_finished, self.run_id, report.stop_reason)
        self.answer_log.close()

    # -- a write that failed

    def _guarded(self, step: Callable, *args) -> bool:
        """Run a step that writes; a failure (a full disk, a folder that cannot be written, the
        ledger that cannot be) stops the run instead of ending it: no new request, and the answers
        of those in flight are still kept. False when the step failed."""
        try:
            step(*args)
        except (OSError, LessonBatchError) as exc:
            if self.failure is None:
                self.failure = exc
                shown = display_path(Path(os.fsdecode(exc.filename))) if getattr(exc, "filename", None) else ""
                detail = f"{exc.strerror or exc}: {shown}" if isinstance(exc, OSError) and shown else str(exc)
                self._stop_for(STOP_WRITE, detail)
            return False
        return True

    def _failure_message(self) -> str:
        exc = self.failure
        # Only lessons still in flight are left for the next run: an answer that could not be kept
        # may still have been saved (or recorded as failed), and then it is not requested again.
        try:
            states = self.ledger.lessons([*self.kept, *self.lost])
            unsaved, lost = (
                [lesson_id for lesson_id in lessons if lesson_id in states and states[lesson_id].state == FLEX]
                for lessons in (self.kept, self.lost)
            )
        except (sqlite3.Error, LessonBatchError):  # the ledger cannot be read either: say what the file holds
            unsaved, lost = list(self.kept), list(self.lost)
        kept = (
            f"flex stopped sending; {len(unsaved)} answers received and not saved are kept in "
            f"{display_path(self.answer_log.path)}, and the next run saves them without asking the API again"
        )
        if lost:
            kept += (
                f"; {len(lost)} answers could not be kept ({first_ids(lost)}): they may have been "
                "paid, and the next run requests them again"
            )
        if is_disk_full(exc):
            return disk_full_message(exc, kept)
        if isinstance(exc, OSError):
            shown = display_path(Path(os.fsdecode(exc.filename))) if exc.filename else "a file"
            return f"cannot write {shown} ({exc.strerror or exc}); {kept}. Fix that, then run the same command again."
        return f"{exc}\nAlso: {kept}."

    # -- answers

    def _flush(self) -> None:
        if self.answers:
            self.ledger.flex_answers_received(self.answers)
            self.answers = []
        self.recorder.flush()
        self.flushed_at = time.monotonic()

    def _handle(self, outcome: Outcome) -> None:
        if outcome.crash is not None:
            raise outcome.crash
        request = outcome.request
        lesson_id = request.lesson_id
        del self.in_flight[lesson_id]
        kind = outcome.kind
        if kind in (ANSWER, LESSON_ERROR, SERVER_ERROR):
            self.answered_once = True
            if kind == ANSWER:
                self._keep(request, outcome.reply)  # on disk before its lesson is written
            self._guarded(self._record, request, outcome.reply)
        elif kind == NO_ANSWER:
            self._guarded(self._no_answer, lesson_id, outcome)
        else:
            self._guarded(self._not_sent, lesson_id, kind, outcome)
        self.done += 1
        self.events(FlexProgress(self.done, self.report.requested, self.report.saved, self.gate.total))

    def _keep(self, request: FlexRequest, reply: ChatReply) -> None:
        line = answer_line(self.run_id, self.model, request, reply, self.sections, self.force, self.endpoint)
        if self._guarded(self.answer_log.append, line):
            self.kept.append(request.lesson_id)
        else:
            self.lost.append(request.lesson_id)

    def _not_sent(self, lesson_id: str, kind: str, outcome: Outcome) -> None:
        report = self.report
        reasons = {
            UNSUPPORTED: (STOP_UNSUPPORTED, "the model does not take flex"),
            REFUSED: (STOP_CAPACITY, "flex had no capacity"),
            FATAL: (STOP_API, "the API refused the request"),
            NOT_SENT: (None, "the run stopped before it was sent"),
        }
        stop_reason, why = reasons[kind]
        if stop_reason:
            self._stop_for(stop_reason, error_message(outcome.reply) or outcome.detail)
        self.ledger.flex_not_sent(self.run_id, [lesson_id], f"flex request not run: {why}")
        report.not_sent.append(lesson_id)

    def _no_answer(self, lesson_id: str, outcome: Outcome) -> None:
        """No HTTP answer: timed out (the run goes on) or the API is out of reach (the run stops).
        The request may have run and been paid for; the lesson is pending again, and says so."""
        if not outcome.timed_out:
            self._stop_for(STOP_API, outcome.detail)
        self.ledger.release_flex_lessons(
            [lesson_id], f"flex request got no answer ({outcome.detail}): it may have been paid already"
        )
        self.report.no_answer.append(lesson_id)

    def _stop_for(self, reason: str, detail: str) -> None:
        if self.report.stop_reason in (None, STOP_INTERRUPTED, STOP_MAX_COST):
            self.report.stop_reason, self.report.stop_detail = reason, detail
        self.halt.set()  # workers waiting to retry give up at once

    def _record(self, request: FlexRequest, reply: ChatReply) -> None:
        lesson_id = request.lesson_id
        item = result_of_response(lesson_id, reply.status, reply.body)
        if reply.status == 200:
            # An answer that cannot be read was billed all the same: the tokens it reports count.
            usage, tier = (item.usage, None) if isinstance(item, BadLine) else (item.usage, item.service_tier)
            self.answers.append(FlexAnswerRecord(
                self.run_id, lesson_id, tier, usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens,
                usage.reasoning_tokens, time.time(), usage.cache_write_tokens, request.effort,
            ))
            crashpoints.reached("flex_answer")
            self.cap.count(lesson_id, usage, tier)
        if isinstance(item, BadLine):
            self.report.results.bad_lines.append(f"flex answer for {lesson_id}: {item.reason}")
            self.report.results.fail("unreadable answer", lesson_id)
            self.report.results.usage = self.report.results.usage + item.usage
            self.report.results.models_used[self.model] += 1
            self.ledger.lessons_not_saved(
                [NotSaved(lesson_id, self.run_id, INVALID, f"unreadable answer: {item.reason}")],
                self.ledger.max_attempts(DEFAULT_MAX_ATTEMPTS),
            )
            return
        wanted = Expected(
            batch_id=self.run_id, model=self.model, budget=request.budget, effort=request.effort,
            required_sections=self.sections, force=self.force, endpoint=self.endpoint,
        )
        self.recorder.apply(item, wanted)
