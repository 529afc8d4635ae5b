"""Flex: the planned requests sent straight to the API, at Batch prices, in minutes.

The requests go to the plan's endpoint: Chat Completions, or the Responses API
(``--endpoint responses``, ``responses.create`` with ``service_tier: "flex"``); either answer is
read by the same result-line reader.

``run_flex`` takes a plan and sends each of its requests (the very bodies of its input files,
plus ``service_tier: "flex"``) through ``api.flex_completion``, a few at a time on worker
threads. Everything else happens on the calling thread, one answer at a time as it arrives:
the answer is recorded as received (paid), then read as the batch result line that would hold
it and put through the results path (clean, check, atomic save, ledger), so lessons appear in
the folder one by one, with the truncation ladder and the checks of the batch path.

Crash safety, on the same ledger as batches: a lesson is marked ``flex`` (in flight) before its
request goes out, and gets its outcome after. A lesson in a batch, or already in flight, is never
sent (``Ledger.flex_sending`` refuses it); a lesson in flight by flex is never planned into a
batch. A run that dies leaves its in-flight lessons ``flex``; the next run (under the submission
lock, so no flex run is going) settles them with ``settle_interrupted_flex``: saved if their
file was written, else pending again, and says they may have been paid already.

When flex cannot serve:

- capacity refusals (429, not billed) are retried after the server's ``retry-after``, else an
  exponential backoff, with jitter; when they go on with no answer served for
  ``patience_seconds`` (and at least ``min_refusals`` of them), the run stops and says what is left;
- a 400 naming ``service_tier`` means the model does not take flex: the run stops at once. Only
  one request is in flight until the first answer comes back, so that costs one refused request;
- ``max_cost``: no request is sent when the cost so far, plus the worst case of the requests in
  flight and of the next one (its whole ``max_completion_tokens``), could pass it;
- Ctrl-C: no new request; those in flight get ``grace_seconds`` to finish and are recorded.

Facts used: OpenAI's flex guide (developers.openai.com/api/docs/guides/flex-processing): Batch
prices, 15-minute timeout, "occasional resource unavailability", limited models; an unsupported
model answers 400 ``invalid_request_error`` with no fallback to standard (Azure's flex page;
"Unsupported service_tier: flex" as quoted in openai/codex issue #15099).
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from . import crashpoints, ids, models
from .api import BatchApi, ChatReply, NoAnswerError
from .batch_info import CHAT_ENDPOINT
from .errors import Interrupted, LessonBatchError
from .files import DurableLog, disk_full_message, display_path, is_disk_full
from .ledger import DEFAULT_MAX_ATTEMPTS, FlexAnswerRecord, Ledger, NotSaved
from .output import note
from .plan import Plan
from .progress import ProgressBar
from .report import Report
from .requests import body_prompt_tokens
from .result_files import BadLine, TokenUsage, result_of_response
from .saving import AnswerRecorder, Expected, Processing
from .states import FLEX, INVALID
from .status_text import format_report
from .submit import new_run_id
from .wording import first_ids, plural
from .workspace import Workspace

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
GRACE_SECONDS = 30.0  # after Ctrl-C, how long requests in flight may take to finish
PATIENCE_SECONDS = 15 * 60.0  # capacity refusals with no answer served for this long: stop
MIN_REFUSALS = 10  # ... and at least this many refusals in a row
MAX_SERVER_ERRORS = 3  # retries of one request after a 5xx or a lost connection
BACKOFF_BASE = 1.0
BACKOFF_CAP = 120.0
MAX_RETRY_AFTER = 600.0  # a longer hint is not believed: the backoff is used instead
JITTER = 0.25
POLL_SECONDS = 0.2
# The ledger learns of answers (and their lessons' outcomes) a group at a time: at least this
# often, and whenever the answers pause. A lesson answered but not yet recorded stays ``flex``,
# which a re-run after a crash settles (its file is on disk, or it may have been paid).
FLUSH_SECONDS = 1.0

# What one request came to (see ``classify`` and ``_send``).
ANSWER = "answer"  # 200: an answer, billed
LESSON_ERROR = "lesson_error"  # a 4xx about this request: recorded as a failed lesson
SERVER_ERROR = "server_error"  # 5xx, still failing after retries: recorded as a failed lesson
UNSUPPORTED = "unsupported"  # 400 naming service_tier: the model does not take flex
FATAL = "fatal"  # 401, 403, 404, insufficient_quota: no request can succeed
CAPACITY = "capacity"  # 429: no capacity now (retried)
REFUSED = "refused"  # capacity refusals went on too long: the run gave up on flex
NOT_SENT = "not_sent"  # the run stopped while the request waited to be retried
NO_ANSWER = "no_answer"  # timed out (it may have run and been paid) or unreachable

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


@dataclass(frozen=True)
class FlexRequest:
    lesson_id: str
    body: dict
    budget: int
    effort: str | None
    prompt_tokens: int  # estimated


@dataclass(frozen=True)
class Outcome:
    request: FlexRequest
    kind: str
    reply: ChatReply | None = None
    refusals: int = 0
    detail: str = ""
    timed_out: bool = False  # NO_ANSWER: sent, and no answer in time (the run goes on)
    crash: BaseException | None = None  # a bug on the worker thread, raised again on the main one


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


# --------------------------------------------------------------------------- pure parts


def classify(reply: ChatReply) -> str:
    """What an HTTP answer to a flex request means for the run."""
    if reply.status == 200:
        return ANSWER
    error = reply.body.get("error") if isinstance(reply.body.get("error"), dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or "").lower()
    if reply.status == 429:
        return FATAL if code == "insufficient_quota" else CAPACITY
    if reply.status == 400 and (error.get("param") == "service_tier" or "service_tier" in message):
        return UNSUPPORTED
    if reply.status in (401, 403, 404):
        return FATAL
    if reply.status >= 500 or reply.status in (408, 409):
        return SERVER_ERROR
    return LESSON_ERROR


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before retry number ``attempt`` (1, 2, ...): the server's ``retry-after`` when it
    gives a believable one, else an exponential backoff; jittered so that requests refused
    together do not all come back together."""
    if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
        return retry_after * (1 + JITTER * rng.random())
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt - 1, 16))
    return ceiling * (1 - JITTER * rng.random())


def worst_case_cost(model: str, request: FlexRequest) -> float | None:
    """The most one request can cost at flex prices: its prompt (all of it written to the prompt
    cache, for a model that bills cache writes) and its whole output budget."""
    return models.batch_cost(model, request.prompt_tokens, request.budget, cache_write_tokens=request.prompt_tokens)


def read_requests(plan: Plan) -> Iterator[FlexRequest]:
    """The plan's requests, read back from its input files one line at a time."""
    for shard in plan.shards:
        with open(shard.path, "rb") as handle:
            for line, (budget, effort) in zip(handle, shard.budgets, strict=True):
                record = json.loads(line)
                body = record["body"]
                yield FlexRequest(record["custom_id"], body, budget, effort, body_prompt_tokens(body))


class CapacityGate:
    """Capacity refusals across all requests of a run; says when to give up on flex."""

    def __init__(self, patience: float, min_refusals: int, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.patience = patience
        self.min_refusals = min_refusals
        self.in_a_row = 0
        self.total = 0
        self.last_served = clock()
        self.gave_up = False

    def served(self) -> None:
        with self._lock:
            self.in_a_row = 0
            self.last_served = self._clock()

    def refused(self) -> bool:
        """Count a refusal; True once the run should stop trying."""
        with self._lock:
            self.in_a_row += 1
            self.total += 1
            if self.in_a_row >= self.min_refusals and self._clock() - self.last_served >= self.patience:
                self.gave_up = True
            return self.gave_up


def _send(
    api: BatchApi, request: FlexRequest, halt: threading.Event, gate: CapacityGate, rng: random.Random, endpoint: str
) -> Outcome:
    """One lesson's request, retried after capacity refusals and server errors (on a worker thread);
    ``halt`` ends a wait to retry (the request is then not sent again)."""
    refusals = failures = 0
    while True:
        if gate.gave_up:
            return Outcome(request, REFUSED, refusals=refusals)
        try:
            reply = api.flex_completion(request.body, endpoint)
        except NoAnswerError as exc:
            if exc.timed_out or failures >= MAX_SERVER_ERRORS:
                return Outcome(request, NO_ANSWER, refusals=refusals, detail=str(exc), timed_out=exc.timed_out)
            failures += 1
            delay = backoff_delay(failures, None, rng)
        else:
            kind = classify(reply)
            if kind == ANSWER:
                gate.served()
            if kind == CAPACITY:
                refusals += 1
                if gate.refused():
                    return Outcome(request, REFUSED, reply, refusals)
                delay = backoff_delay(refusals, reply.retry_after, rng)
            elif kind == SERVER_ERROR and failures < MAX_SERVER_ERRORS:
                failures += 1
                delay = backoff_delay(failures, reply.retry_after, rng)
            else:
                return Outcome(request, kind, reply, refusals)
        if halt.wait(delay):
            return Outcome(request, NOT_SENT, refusals=refusals)


def _error_message(reply: ChatReply | None) -> str:
    if reply is None:
        return ""
    error = reply.body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return f"{reply.status} {message or ''}".strip()


# --------------------------------------------------------------------------- the run


def settle_interrupted_flex(ledger: Ledger, output_dir, say: Callable[[str], None] = print) -> list[str]:
    """Lessons a dead flex run left in flight (call it holding the submission lock, so no flex run
    is going): saved when their file was written (a lesson asked for without --force had no file
    when it was sent), else pending again. Returns them: they may have been paid already."""
    left = sorted(ledger.in_flight_lessons(FLEX), key=ids.sort_key)
    for run in ledger.flex_runs():
        if run.finished_at is None:
            ledger.flex_run_finished(run.run_id, "stopped before finishing")
    if not left:
        return []
    settled = _save_kept_answers(ledger, output_dir, left, say)
    left = [lesson_id for lesson_id in left if lesson_id not in settled]
    if not left:
        return []
    records = ledger.lessons(left)
    saved = [
        lesson_id for lesson_id in left
        if not records[lesson_id].force and os.path.exists(ids.lesson_file(output_dir, lesson_id))
    ]
    runs = ", ".join(sorted({records[lesson_id].batch_id or "?" for lesson_id in left}))
    ledger.release_flex_lessons(
        left, f"in flight by {runs} when it stopped: its request may have been paid already", saved
    )
    say(
        f"{len(left)} lessons were in flight by flex when an earlier run stopped ({runs}): they may have been "
        f"paid for already. {len(saved)} of them had been saved; the other {len(left) - len(saved)} are "
        "pending and requested again."
    )
    return left


class FlexStoppedError(LessonBatchError):
    """A flex run stopped because a file or the ledger could not be written; what it received is kept."""


def _answer_line(
    run_id: str, model: str, request: FlexRequest, reply: ChatReply, sections, force: bool, endpoint: str
) -> bytes:
    """A received answer as a line of the run's answers file: the batch output line that would hold
    it, plus how its lesson was requested (what processing it needs, on a later run too)."""
    record = {
        "custom_id": request.lesson_id, "run_id": run_id, "model": model, "budget": request.budget,
        "effort": request.effort, "required_sections": list(sections), "force": force, "endpoint": endpoint,
        "response": {"status_code": reply.status, "body": reply.body},
    }
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def kept_answers(workspace: Workspace, run_ids: set[str], lesson_ids: set[str]) -> dict[str, dict]:
    """The answers ``run_ids`` kept on disk for ``lesson_ids`` (the last one of each lesson); a
    line cut short by a crash is skipped."""
    found: dict[str, dict] = {}
    for run_id in sorted(run_ids):
        path = workspace.flex_answers(run_id)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            continue
        with handle:
            for raw in handle:
                try:
                    record = json.loads(raw)
                    lesson_id = record["custom_id"]
                    record["response"]["body"]
                except (ValueError, KeyError, TypeError):
                    continue
                if lesson_id in lesson_ids and record.get("run_id") == run_id:
                    found[lesson_id] = record
    return found


def _save_kept_answers(ledger: Ledger, output_dir, left: list[str], say: Callable[[str], None]) -> set[str]:
    """Lessons left in flight whose answer the run kept on disk: processed now from that answer
    (saved, or marked with why not), never asked for again. Returns them."""
    if ledger.workspace is None:
        return set()
    records = ledger.lessons(left)
    kept = kept_answers(ledger.workspace, {records[lesson_id].batch_id or "" for lesson_id in left}, set(left))
    if not kept:
        return set()
    report = Report(label="answers kept by an earlier flex run")
    recorder = AnswerRecorder(Processing.of(ledger, output_dir, ledger.workspace.root), report)
    for lesson_id in sorted(kept, key=ids.sort_key):
        record = kept[lesson_id]
        item = result_of_response(lesson_id, record["response"]["status_code"], record["response"]["body"])
        if isinstance(item, BadLine):
            report.fail("unreadable answer", lesson_id)
            recorder.flush()
            ledger.lessons_not_saved(
                [NotSaved(lesson_id, record["run_id"], INVALID, f"unreadable answer: {item.reason}")],
                ledger.max_attempts(DEFAULT_MAX_ATTEMPTS),
            )
            continue
        recorder.apply(item, Expected(
            batch_id=record["run_id"], model=record["model"], budget=record["budget"], effort=record["effort"],
            required_sections=tuple(record["required_sections"]), force=bool(record["force"]),
            endpoint=record.get("endpoint", CHAT_ENDPOINT),
        ))
    recorder.flush()
    say(
        f"{len(kept)} answers an earlier flex run received (and paid for) were kept in the work dir: "
        "processed now, without asking the API again."
    )
    for line in format_report(report):
        say(line)
    return set(kept)


@contextmanager
def _interrupt_sets(
    stop: threading.Event,
    in_flight: Callable[[], list[str]] = list,
    tell: Callable[[str], None] = lambda line: None,
) -> Iterator[None]:
    """While flex runs, the first Ctrl-C only sets ``stop`` (the run winds down and records
    everything). Requests in flight are billed whether or not their answers are kept, so a second
    one does not drop them: it says so, and the run keeps waiting for them; only a third quits,
    saying how many requests it abandoned, that OpenAI bills them, and that the next run asks for
    them again. With nothing in flight, a second Ctrl-C quits at once."""
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
        many = len(lessons) != 1
        if presses == 2:
            tell(
                f"Still waiting for the {plural(len(lessons), 'request')} in flight: OpenAI bills "
                f"{'them' if many else 'it'} whether or not the answer{'s' if many else ''} arrive{'' if many else 's'}, "
                "so quitting now would throw away paid answers, and the next run would ask (and pay) for "
                f"{'those lessons' if many else 'that lesson'} again. Press Ctrl-C once more to quit anyway."
            )
            return
        raise Interrupted(
            f"Quit with {plural(len(lessons), 'request')} in flight abandoned ({', '.join(sorted(lessons, key=ids.sort_key))}): "
            f"OpenAI bills {'them' if many else 'it'} although the answer{'s are' if many else ' is'} lost. Running the "
            f"same command again asks for {'those lessons' if many else 'that lesson'} again, and pays again; "
            "every answer that arrived before is kept."
        )

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
) -> FlexReport:
    """Send every request of ``plan`` through flex and process each answer as it arrives (into
    ``process_job``'s lessons folder and ledger; its printer's ``out`` tells the steps)."""
    runner = _Run(plan, processing, api, settings, stop or threading.Event(), rng or random.Random())
    return runner.run()


class _Run:
    def __init__(self, plan, processing: Processing, api, settings, stop, rng):
        ledger = processing.ledger
        self.plan, self.ledger, self.api, self.settings, self.say = plan, ledger, api, settings, processing.printer.out
        self.stop, self.rng, self.force = stop, rng, processing.force
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
        self.replies: queue.Queue[Outcome] = queue.Queue()
        self.in_flight: dict[str, FlexRequest] = {}
        self.answered_once = False
        self.sections = tuple(plan.template.required_sections)
        self.bar = ProgressBar("Flex", len(plan.to_request))
        self.done = 0
        self.answers: list[FlexAnswerRecord] = []  # received, for the ledger's next group
        self.flushed_at = time.monotonic()
        # Each answer is kept on disk before its lesson is written; a write that fails (a full
        # disk, the ledger) stops the run, which still keeps what arrives (see ``_guarded``).
        self.answer_log = DurableLog(processing.workspace.flex_answers(self.run_id))
        self.failure: BaseException | None = None
        self.kept: list[str] = []  # lessons whose answer is in the answers file
        self.lost: list[str] = []  # lessons whose answer arrived but could not be kept

    # -- sending

    def _can_afford(self, request: FlexRequest) -> bool:
        limit = self.settings.max_cost
        if limit is None:
            return True
        in_flight = sum(self._worst_case(sent) for sent in self.in_flight.values())
        return (self.report.cost or 0.0) + in_flight + self._worst_case(request) <= limit

    def _worst_case(self, request: FlexRequest) -> float:
        """The most a request can cost: at flex prices, or at standard prices once the API has
        served an answer of this run at another tier (it may serve the next ones so too)."""
        worst = worst_case_cost(self.model, request) or 0.0
        return worst * models.STANDARD_TO_BATCH if self.report.other_tier else worst

    def _send_or_crash(self, request: FlexRequest) -> Outcome:
        """``_send`` on the worker thread; an exception there is a bug, handed to the main thread
        (which raises it) instead of leaving the run waiting forever for an answer."""
        try:
            return _send(self.api, request, self.halt, self.gate, self.rng, self.endpoint)
        except BaseException as exc:  # any exception: it must reach the main thread
            return Outcome(request, NO_ANSWER, detail=repr(exc), crash=exc)

    def _start(self, request: FlexRequest) -> bool:
        if not self.ledger.flex_sending(self.run_id, request.lesson_id, self.force):
            self.report.already_in_flight.append(request.lesson_id)
            self.done += 1
            return False
        crashpoints.reached("flex_sent")
        self.in_flight[request.lesson_id] = request
        worker = threading.Thread(
            target=lambda: self.replies.put(self._send_or_crash(request)),
            name=f"flex-{request.lesson_id}",
            daemon=True,  # one still running after the grace period must not keep the process alive
        )
        worker.start()
        return True

    @property
    def stopping(self) -> bool:
        return self.stop.is_set() or self.report.stop_reason is not None

    def run(self) -> FlexReport:
        report, settings = self.report, self.settings
        self.ledger.flex_run_started(self.run_id, self.model, report.requested)
        self.say(
            f"Sending {report.requested:,} requests through flex ({self.model}), up to {settings.concurrency} "
            "at a time. Ctrl-C stops sending; what has arrived is kept."
        )
        requests = read_requests(self.plan)
        waiting: FlexRequest | None = None
        grace_ends: float | None = None
        try:
            with _interrupt_sets(self.stop, lambda: list(self.in_flight), self._tell):
                while True:
                    # One request at a time until the first answer: a model that does not take flex
                    # is then told by one refused request, not by a whole round of them.
                    limit = settings.concurrency if self.answered_once else 1
                    while not self.stopping and len(self.in_flight) < limit:
                        request = waiting or next(requests, None)
                        waiting = None
                        if request is None:
                            break
                        if not self._can_afford(request):
                            waiting = request
                            if not self.in_flight:
                                report.stop_reason = STOP_MAX_COST
                            break
                        if not self._guarded(self._start, request):
                            waiting = request  # not sent: the ledger could not record it
                            break
                    if self.stop.is_set() and grace_ends is None:
                        grace_ends = time.monotonic() + settings.grace_seconds
                        report.stop_reason = report.stop_reason or STOP_INTERRUPTED
                        self.halt.set()
                        self.bar.close()
                        if self.in_flight:
                            self.say(
                                f"Stopping: no new requests; waiting up to {settings.grace_seconds:g} s for the "
                                f"{len(self.in_flight)} in flight (Ctrl-C again to quit at once)."
                            )
                    if self.failure is not None and grace_ends is None:
                        grace_ends = time.monotonic() + settings.grace_seconds
                        self.bar.close()
                        if self.in_flight:
                            self.say(
                                f"Stopping: a write failed; no new requests; waiting up to {settings.grace_seconds:g} s "
                                f"for the {len(self.in_flight)} in flight, to keep their answers."
                            )
                    if not self.in_flight:
                        break
                    try:
                        outcome = self.replies.get(timeout=POLL_SECONDS)
                    except queue.Empty:
                        self._guarded(self._flush)  # a pause: bring the ledger up to date
                        if grace_ends is not None and time.monotonic() >= grace_ends:
                            break
                        continue
                    self._handle(outcome)
                    if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
                        self._guarded(self._flush)
        finally:
            self._guarded(self._flush)
            self.bar.close()
            rest = ([waiting] if waiting else []) + list(requests)
            report.not_sent.extend(request.lesson_id for request in rest)
            requests.close()
            self.halt.set()
            report.still_running.extend(self.in_flight)  # after the grace period: they stay ``flex``
            report.refusals = self.gate.total
            self._guarded(self.ledger.flex_run_finished, self.run_id, report.stop_reason)
            self.answer_log.close()
        if self.failure is not None:
            report.write_failure = self._failure_message()
        return report

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
        try:
            states = self.ledger.lessons(self.kept)
            unsaved = [lesson_id for lesson_id in self.kept if lesson_id in states and states[lesson_id].state == FLEX]
        except (sqlite3.Error, LessonBatchError):  # the ledger cannot be read either: say what the file holds
            unsaved = list(self.kept)
        kept = (
            f"flex stopped sending; {len(unsaved)} answers received and not saved are kept in "
            f"{display_path(self.answer_log.path)}, and the next run saves them without asking the API again"
        )
        if self.lost:
            kept += (
                f"; {len(self.lost)} answers could not be kept ({first_ids(self.lost)}): they may have been "
                "paid, and the next run requests them again"
            )
        if is_disk_full(exc):
            return disk_full_message(exc, kept)
        if isinstance(exc, OSError):
            shown = display_path(Path(os.fsdecode(exc.filename))) if exc.filename else "a file"
            return f"cannot write {shown} ({exc.strerror or exc}); {kept}. Fix that, then run the same command again."
        return f"{exc}\nAlso: {kept}."

    def _tell(self, line: str) -> None:
        self.bar.close()
        note(line)

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
        refusals = f", {self.gate.total:,} capacity refusals waited out" if self.gate.total else ""
        self.bar.update(done=self.done, note=f"{self.report.saved:,} saved{refusals}")

    def _keep(self, request: FlexRequest, reply: ChatReply) -> None:
        line = _answer_line(self.run_id, self.model, request, reply, self.sections, self.force, self.endpoint)
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
            self._stop_for(stop_reason, _error_message(outcome.reply) or outcome.detail)
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
            self._count_cost(lesson_id, usage, tier)
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

    def _count_cost(self, lesson_id: str, usage: TokenUsage, tier: str | None) -> None:
        tokens = (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        cost = models.answer_cost(self.model, *tokens, tier, usage.cache_write_tokens)
        self.report.add_cost(cost)
        if tier not in (models.FLEX_TIER, None):
            flex_price = models.answer_cost(self.model, *tokens, models.FLEX_TIER, usage.cache_write_tokens)
            extra = cost - flex_price if cost is not None and flex_price is not None else None
            self.report.other_tier.append((lesson_id, tier, extra))


# --------------------------------------------------------------------------- the report


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


def flex_report_as_json(report: FlexReport) -> dict:
    """A flex run as the ``--json`` result of the generate script holds it (what
    ``format_flex_report`` says, with every lesson id)."""
    return {
        "run_id": report.run_id,
        "model": report.model,
        "requested": report.requested,
        "saved": report.saved,
        "results": report.results.as_json(),
        "estimated_cost_usd": None if report.estimated_cost is None else round(report.estimated_cost, 6),
        "cost_usd": None if report.cost is None else round(report.cost, 6),
        "other_tier": [
            {"lesson_id": lesson_id, "tier": tier, "extra_cost_usd": None if extra is None else round(extra, 6)}
            for lesson_id, tier, extra in report.other_tier
        ],
        "capacity_refusals": report.refusals,
        "not_sent": list(report.not_sent),
        "no_answer": list(report.no_answer),
        "still_running": list(report.still_running),
        "already_in_flight": list(report.already_in_flight),
        "stop_reason": report.stop_reason,
        "stop_detail": report.stop_detail or None,
        "write_failure": report.write_failure,
    }


def format_flex_report(report: FlexReport, settings: FlexSettings) -> list[str]:
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
