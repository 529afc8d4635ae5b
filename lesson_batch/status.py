"""The status as a person reads it: batches, flex runs and lessons, in plain words or as JSON.

``describe`` turns a batch into the lines a person reads: status and what it means, request
counts, times, errors with their line numbers, file ids, and the next step to take.
``flex_run_summary`` and ``describe_flex_run`` do the same for flex runs, from the ledger alone
(a flex run has nothing to ask the API about once it is over). ``ProcessingSummary`` is what a
processing run did and left; ``WatchDisplay`` is what a person sees while batches are watched.

Asking the API and storing its answers is ``batch_sync``'s business; this module only reads the
ledger.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import ids, models
from .batch_info import CHAT_ENDPOINT
from .batch_sync import TOKEN_LIMIT_CODE, RefreshProblem, problem_messages
from .files import display_path
from .ledger import BatchRecord, FlexRunRecord, Ledger
from .next_steps import RequestStep, request_step, requestable, route_of
from .progress import ProgressBar
from .report import Report, format_report
from .states import (
    FAILS_AGAIN_UNCHANGED,
    FLEX,
    LESSON_STATES,
    NEEDS_ATTENTION,
    SETTLED_OR_HELD_STATES,
    SUBMITTED,
    SUCCEEDED,
    TERMINAL_BATCH_STATUSES,
    UNFINISHED_BATCH_STATUSES,
    BatchStatus,
)
from .wording import Commands, first_ids, plural

# What each status means, and the next step while its results are not processed yet. The steps
# name the scripts with {status}, {process} and {generate}: commands for the run's work dir.
MEANINGS = {
    BatchStatus.VALIDATING: ("The API is checking the input file.", "Wait; run {status} again (or with --watch)."),
    BatchStatus.FAILED: ("The batch was rejected before running; nothing in it was charged.", ""),  # see next_step
    BatchStatus.IN_PROGRESS: ("The batch is running.", "Wait (up to 24 hours); run {status} again, or with --watch."),
    BatchStatus.FINALIZING: (
        "All requests ran; the API is writing the result files.",
        "Wait a few minutes; then run {process}.",
    ),
    BatchStatus.COMPLETED: ("Done: the results are ready.", "Run {process} to save the lessons."),
    BatchStatus.EXPIRED: (
        "The 24-hour window ended before every request ran; finished requests have results.",
        "Run {process} to save what finished; it then names the command that requests the rest again.",
    ),
    BatchStatus.CANCELLING: (
        "The batch is being cancelled (this can take up to 10 minutes).",
        "Wait; run {status} again.",
    ),
    BatchStatus.CANCELLED: (
        "The batch was cancelled; requests that finished before that have results.",
        "Run {process} to save what finished; it then names the command that requests the rest again.",
    ),
}
_LIMIT_IN_MESSAGE = re.compile(r"limit:\s*([0-9][0-9,]*)", re.IGNORECASE)


@dataclass(frozen=True)
class BatchView:
    """A batch as the status shows it: its record and what the ledger knows around it."""

    record: BatchRecord
    input_file: Path | None = None  # the request file it was created from, kept until it is processed
    lessons: int = 0  # lessons it was asked for (0: not a batch of this ledger)
    left: int = 0  # of those, neither saved nor submitted again: the next generate run requests them
    stale: bool = False  # the API could not be read just now: this is the ledger's last view
    held: int = 0  # of those, tried --max-attempts times without a usable lesson: they need a person
    lost: bool = False  # the API answered 404 for it just now: not found for this key and project
    again: tuple[str, ...] = ()  # of ``left``, those a generate run naming them requests (``next_steps``)
    again_via: str | None = None  # the route they last took ("flex"), for the command that requests them
    holding: int = 0  # its lessons still recorded as in it (held: not requested again while it may run)


def view(ledger: Ledger, record: BatchRecord, stale: bool = False, lost: bool = False) -> BatchView:
    requested = ledger.batch_requests(record.batch_id)
    states = ledger.lessons(requested)

    def taken_care_of(lesson_id: str) -> bool:
        lesson = states.get(lesson_id)
        if lesson is None:
            return False
        if lesson.state == FLEX:
            return True  # on its way again, through flex
        return lesson.state == SUCCEEDED or (lesson.state == SUBMITTED and lesson.batch_id != record.batch_id)

    def held(lesson_id: str) -> bool:
        lesson = states.get(lesson_id)
        return lesson is not None and lesson.state == NEEDS_ATTENTION

    shard = ledger.shard_of_batch(record.batch_id)
    left = [lesson_id for lesson_id in requested if not taken_care_of(lesson_id) and not held(lesson_id)]
    again = requestable(ledger, left, None) if left and ledger.path is not None else []
    return BatchView(
        record=record,
        input_file=Path(shard.input_path) if shard and Path(shard.input_path).is_file() else None,
        lessons=len(requested),
        left=len(left),
        stale=stale,
        held=sum(1 for lesson_id in requested if held(lesson_id)),
        lost=lost,
        holding=sum(
            1 for lesson_id in requested
            if states.get(lesson_id) is not None and states[lesson_id].state == SUBMITTED
            and states[lesson_id].batch_id == record.batch_id
        ),
        again=tuple(again),
        again_via=route_of(ledger, again) if again else None,
    )


def next_step(batch: BatchView, commands: Commands = Commands()) -> str:
    """What to do about this batch now, true for its status and for what became of its lessons."""
    record = batch.record
    names = {"status": commands.status, "process": commands.process, "generate": commands.generate}
    if record.given_up_at is not None:
        return "Nothing to do for this batch: it was given up (the API did not know it)."
    if batch.lost:
        return lost_step(batch, commands)
    if record.status == BatchStatus.FAILED:
        return _after_failure(batch, commands)
    if record.processed_at and record.status in TERMINAL_BATCH_STATUSES:
        steps = []
        if batch.again:
            steps.append(f"Run {commands.request(batch.again, batch.again_via)} to request "
                         f"{_its(batch.again)} not saved again.")
        if batch.held:
            steps.append(_held_step(batch, commands))
        return " ".join(steps) or "Nothing to do for this batch."
    _meaning, step = meaning_of(record, ("", "Check the batch in the OpenAI dashboard."))
    return step.format(**names)


def _its(lesson_ids) -> str:
    return "its lesson" if len(lesson_ids) == 1 else f"its {plural(len(lesson_ids), 'lesson')}"


def lost_step(batch: BatchView, commands: Commands) -> str:
    """The way on for a batch the API answers 404 for: its lessons stay held (the batch may live on
    under another key, and running it again would pay twice) until the user gives it up."""
    them = plural(batch.holding, "lesson")
    return (
        f"Its {them} {'is' if batch.holding == 1 else 'are'} held, not requested again: the batch may still run "
        "under another key or project (check the OPENAI_API_KEY and project, and the dashboard). If it is gone for "
        f"good, give it up with {commands.status} --give-up {batch.record.batch_id}; "
        f"{'that lesson' if batch.holding == 1 else 'those lessons'} can then be requested again."
    )


def meaning_of(record: BatchRecord, unknown: tuple[str, str] = ("Unknown status.", "")) -> tuple[str, str]:
    """What the batch's status means and the step while its results are not processed: ``MEANINGS``,
    except that a completed batch some or all of whose requests failed is not called plain success
    (the API says "completed" even when every request failed and there is no output file)."""
    meaning, step = MEANINGS.get(record.status, unknown)
    if record.status == BatchStatus.COMPLETED and record.request_failed:
        failed, total = record.request_failed, max(record.request_total, record.request_failed)
        if not record.request_completed:
            meaning = (
                f"Finished, but every request failed ({failed:,} of {total:,}): no lesson came back; "
                "the reasons are in the error file."
            )
            step = "Run {process} to record why each request failed (there is nothing to save)."
        else:
            meaning = (
                f"Finished with failures: {failed:,} of its {total:,} requests failed (the reasons are in the "
                "error file); the others' results are ready."
            )
            step = "Run {process} to save the lessons and record why the others failed."
    return meaning, step


def _held_step(batch: BatchView, commands: Commands) -> str:
    many = batch.held != 1
    return (
        f"{batch.held:,} of its lessons need{'' if many else 's'} a person (tried --max-attempts times, or a "
        f"request that would fail again unchanged): see why with {commands.status} --lessons."
    )


def _after_failure(batch: BatchView, commands: Commands) -> str:
    record = batch.record
    if batch.lessons and not batch.left:
        if batch.held:
            return _held_step(batch, commands)
        return "Nothing to do for this batch: its lessons were submitted again or are saved."
    if batch.lessons:
        them = f"Its {plural(batch.left, 'lesson')} {'is' if batch.left == 1 else 'are'} pending again"
    else:
        them = "Its lessons are pending again"
    token_limit = [error for error in record.errors if error.code == TOKEN_LIMIT_CODE]
    # The command names the lessons a run would request (``next_steps``); none: the plain command.
    generate = commands.request(batch.again, batch.again_via) if batch.again else commands.generate
    if token_limit:
        found = _LIMIT_IN_MESSAGE.search(token_limit[0].message or "")
        limit = found.group(1).replace(",", "") if found else "N"
        return (
            f"{them}. The batch was over your organisation's enqueued-token limit for {record.model}: "
            f"run {generate} --max-enqueued-tokens {limit} to submit them in batches that fit under it "
            "(each waits for room; add --wait to see them through)."
        )
    where = f" (the line numbers are in {display_path(batch.input_file)})" if batch.input_file else ""
    return f"Read the errors above{where}. {them}: fix the cause, then run {generate} to submit them."


def needs_attention(ledger: Ledger, record: BatchRecord) -> bool:
    """A batch that failed, expired or was cancelled, and some of whose lessons nobody has taken
    care of yet: not saved, and not submitted again in a later batch.

    Once every lesson of such a batch is saved or on its way again, the batch is history: it no
    longer makes the status script report a failure.
    """
    if record.status not in UNFINISHED_BATCH_STATUSES:
        return False
    batch = view(ledger, record)
    # Not a batch of this ledger: nothing tells what became of it.
    return not batch.lessons or batch.left > 0 or batch.held > 0


def lesson_counts(ledger: Ledger) -> dict[str, int]:
    counts = {state: 0 for state in LESSON_STATES}
    for lesson in ledger.lessons().values():
        counts[lesson.state] = counts.get(lesson.state, 0) + 1
    return counts


def what_to_do_for(lesson_id: str, commands: Commands = Commands(), reason: str | None = None) -> str:
    """The advice for a lesson that needs a person (``reason``: why it was held)."""
    if (reason or "").startswith(FAILS_AGAIN_UNCHANGED):
        return (
            "its request failed in a way the same request fails again (read the reason): change what makes it "
            "fail (the prompt or curriculum entry that makes it too long, --max-completion-tokens, or the model); "
            f"then request it again with {commands.generate} --lessons {lesson_id} --force"
        )
    return (
        "read the reason (and the work dir's rejected/" + lesson_id + ".md, if there is one) and fix its cause "
        "(the prompt, the curriculum entry, the budget or the model); then request it again with "
        f"{commands.generate} --lessons {lesson_id} --force "
        "(or run the generate script with a higher --max-attempts)"
    )


def unsaved_lessons(ledger: Ledger, commands: Commands = Commands()) -> list[dict]:
    """Lessons not saved yet, in curriculum order, with their state and reason (and, for those
    that need a person, what to do)."""
    lessons = sorted(ledger.lessons().values(), key=lambda lesson: ids.sort_key(lesson.lesson_id))
    entries = []
    for lesson in lessons:
        if lesson.state == SUCCEEDED:
            continue
        entry = {"lesson_id": lesson.lesson_id, "state": lesson.state, "batch_id": lesson.batch_id,
                 "reason": lesson.reason, "attempts": lesson.attempts}
        if lesson.state == NEEDS_ATTENTION:
            entry["what_to_do"] = what_to_do_for(lesson.lesson_id, commands, lesson.reason)
        entries.append(entry)
    return entries


def lessons_needing_attention(
    ledger: Ledger, among: set[str] | None = None, commands: Commands = Commands()
) -> list[dict]:
    return [
        entry for entry in unsaved_lessons(ledger, commands)
        if entry["state"] == NEEDS_ATTENTION and (among is None or entry["lesson_id"] in among)
    ]


def describe_attention(entries: list[dict], commands: Commands = Commands()) -> list[str]:
    """The status lines about lessons that need a person."""
    if not entries:
        return []
    held = [entry["lesson_id"] for entry in entries]
    shown = first_ids(held)
    unchanged = sum(1 for entry in entries if (entry["reason"] or "").startswith(FAILS_AGAIN_UNCHANGED))
    if not unchanged:
        why = "requested the maximum number of times, --max-attempts, without a usable lesson"
    elif unchanged == len(entries):
        why = "the same request would fail again: an HTTP 400, the request's own fault"
    else:
        why = (f"{len(entries) - unchanged} requested the maximum number of times, --max-attempts, without a "
               f"usable lesson; {unchanged} failed in a way the same request would fail again, an HTTP 400")
    return [
        f"Need a person: {len(entries)}: {shown} ({why}; no run requests them again by itself)",
        f"  see why with {commands.status} --lessons; once the cause is fixed, request "
        f"{'it' if len(held) == 1 else 'them'} again with {commands.request(held)} --force"
        + _or_else(len(held), raise_attempts=unchanged != len(entries)),
    ]


def _or_else(count: int, raise_attempts: bool) -> str:
    """The other ways to go on, after the --force command: the ones that make sense here."""
    others = (["name fewer of them"] if count > 1 else []) + (["raise --max-attempts"] if raise_attempts else [])
    return f" (or {'; or '.join(others)})" if others else ""


def flex_in_flight_step(ledger: Ledger, commands: Commands) -> str | None:
    """The step for lessons a flex run left in flight: a run that is over (killed, or interrupted
    with requests still out) leaves them ``flex`` until the next generate run settles them."""
    left = sorted(ledger.in_flight_lessons(FLEX), key=ids.sort_key)
    if not left:
        return None
    them = "it" if len(left) == 1 else "them"
    return (
        f"{plural(len(left), 'lesson')} {'is' if len(left) == 1 else 'are'} in flight by flex. If no flex run is "
        f"going any more (it was killed or interrupted), run {commands.request(left, 'flex')}: it first settles "
        f"{them} (a lesson whose file was written counts as saved; the others may have been paid already, and are "
        f"requested, and paid, again), then sends those through flex. A dry run shows {them} as in flight."
    )


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def lessons_next_step(ledger: Ledger, commands: Commands = Commands()) -> str | None:
    """The step for lessons that are neither saved nor on their way (in a batch or in flight by flex)
    nor held for a person: the generate script requests them."""
    waiting = [
        lesson for lesson in ledger.lessons().values()
        if lesson.state not in SETTLED_OR_HELD_STATES
    ]
    step = request_step(ledger, [lesson.lesson_id for lesson in waiting], commands) if waiting else None
    if step is None:
        return None
    counts: dict[str, int] = {}
    for lesson in waiting:
        if lesson.lesson_id in step.lessons:
            counts[lesson.state] = counts.get(lesson.state, 0) + 1
    detail = ", ".join(f"{count} {state}" for state, count in counts.items())
    return f"Run {step.command} to request {step.count} not saved yet ({detail})."


def describe(batch: BatchView, now: float | None = None, commands: Commands = Commands()) -> list[str]:
    now = time.time() if now is None else now
    record = batch.record
    meaning, _step = meaning_of(record)
    lines = [f"Batch {record.batch_id}: {record.status} - {meaning}"]
    if record.given_up_at is not None:
        lines = [f"Batch {record.batch_id}: given up - the API did not know it (last known status: {record.status})."]
    elif batch.lost:
        lines = [
            f"Batch {record.batch_id}: NOT FOUND for this API key and project (the API answered 404); "
            f"last known status: {record.status}."
        ]
    if batch.stale and record.checked_at and not batch.lost:
        lines.append(
            f"  (the ledger's view as of {_clock(record.checked_at)}, {format_duration(now - record.checked_at)} ago: "
            "the API could not be read now)"
        )
    lines.append(
        f"  requests: {record.request_completed:,} completed, {record.request_failed:,} failed, "
        f"{record.request_total:,} total"
    )
    if record.endpoint != CHAT_ENDPOINT:
        lines.append(f"  endpoint: {record.endpoint}")
    if record.created_at:
        lines.append(f"  created: {_clock(record.created_at)} ({format_duration(now - record.created_at)} ago)")
    if record.expires_at and not record.is_terminal and not batch.lost:
        lines.append(f"  time left before it expires: {format_duration(record.expires_at - now)}")
    if batch.input_file and record.errors:
        lines.append(f"  input file: {display_path(batch.input_file)}")
    for error in record.errors:
        where = f"line {error.line}: " if error.line else ""
        lines.append(f"  error: {where}{error.code or 'error'}: {error.message or ''}".rstrip())
    if record.output_file_id or record.error_file_id:
        lines.append(f"  output file: {record.output_file_id or '-'}; error file: {record.error_file_id or '-'}")
    if record.processed_at and record.status != BatchStatus.FAILED:
        lines.append("  results processed.")
    lines.append(f"  next: {next_step(batch, commands)}")
    return lines


def _clock(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def as_json(batch: BatchView, now: float | None = None, commands: Commands = Commands()) -> dict:
    now = time.time() if now is None else now
    record = batch.record
    meaning, _step = meaning_of(record)
    return {
        "id": record.batch_id,
        "status": record.status,
        "not_found": batch.lost,
        "given_up": record.given_up_at is not None,
        "endpoint": record.endpoint,
        "meaning": meaning,
        "next_step": next_step(batch, commands),
        "request_counts": {
            "completed": record.request_completed,
            "failed": record.request_failed,
            "total": record.request_total,
        },
        "usage_reported_by_the_api": record.api_usage,  # the batch's own usage (the bill); None: not given
        "created_at": record.created_at,
        "elapsed_seconds": round(now - record.created_at) if record.created_at else None,
        "expires_at": record.expires_at,
        "seconds_left": round(record.expires_at - now) if record.expires_at and not record.is_terminal else None,
        "errors": [error.__dict__ for error in record.errors],
        "input_file": str(batch.input_file) if batch.input_file else None,
        "output_file_id": record.output_file_id,
        "error_file_id": record.error_file_id,
        "processed": record.processed_at is not None,
        "lessons_to_request_again": batch.left if record.processed_at else 0,
        "as_of": record.checked_at,
        "stale": batch.stale,
    }


def flex_run_summary(ledger: Ledger, run: FlexRunRecord) -> dict:
    """What a flex run did, from the ledger: its answers, their tokens and cost, its lessons' states."""
    answers = ledger.flex_answers(run.run_id)
    states = Counter(lesson.state for lesson in ledger.lessons_in_batch(run.run_id))
    cost: float | None = 0.0
    other_tier = 0
    for answer in answers:
        one = models.answer_cost(
            run.model, answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens, answer.service_tier,
            answer.cache_write_tokens,
        )
        cost = None if one is None or cost is None else cost + one
        other_tier += answer.service_tier not in (models.FLEX_TIER, None)
    return {
        "id": run.run_id,
        "via": "flex",
        "model": run.model,
        "requested": run.requested,
        "answers": len(answers),
        "lessons": {state: states[state] for state in LESSON_STATES if states[state]},
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "stop_reason": run.stop_reason,
        "usage": {
            name: sum(getattr(answer, name) for answer in answers)
            for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "cache_write_tokens")
        },
        "cost_usd": None if cost is None else round(cost, 4),
        "answers_at_another_tier": other_tier,
    }


def describe_flex_run(summary: dict, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    if summary["finished_at"] is None:
        state = "running (or stopped without finishing: the next generate run settles its lessons)"
    elif summary["stop_reason"]:
        state = f"stopped ({summary['stop_reason']})"
    else:
        state = "finished"
    lessons = ", ".join(f"{count} {name}" for name, count in summary["lessons"].items()) or "none"
    lines = [
        f"Flex run {summary['id']}: {state}",
        f"  model: {summary['model']}; requested: {summary['requested']:,}; answers: {summary['answers']:,}",
        f"  its lessons now: {lessons}",
    ]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary["started_at"]))
    lines.append(f"  started: {started} ({format_duration(now - summary['started_at'])} ago)")
    cost = models.format_cost(summary["cost_usd"])
    other = summary["answers_at_another_tier"]
    lines.append(f"  cost: {cost}" + (f" ({other} answers served, and billed, at another tier than flex)" if other else ""))
    written = summary["usage"].get("cache_write_tokens", 0)
    if written:
        write_cost = models.format_small_cost(models.cache_write_cost(summary["model"], written))
        lines.append(f"  prompt-cache writes: {written:,} tokens, {write_cost} of the cost")
    return lines


@dataclass
class StatusReport:
    """What the status script shows: the batches, the flex runs, the lessons, and the next steps."""

    batches: list[BatchView]
    ledger: Ledger
    commands: Commands = Commands()
    lessons_dir: Path | None = None  # the lessons folder the work dir remembers
    list_lessons: bool = False  # --lessons: every lesson not saved, with its state
    errors: list[str] = field(default_factory=list)  # what the API said instead of answering
    flex_runs: list[dict] = field(default_factory=list)  # flex_run_summary of each run shown
    now: float = field(default_factory=time.time)

    def lessons_step(self) -> str | None:
        return lessons_next_step(self.ledger, self.commands) if self.ledger.path is not None else None

    def attention(self) -> list[dict]:
        return lessons_needing_attention(self.ledger, commands=self.commands)

    def lines(self) -> list[str]:
        lines = []
        if self.errors and self.batches:
            lines.append("The API could not be read just now: below is the ledger's last view of these batches.")
        for batch in self.batches:
            lines.extend(describe(batch, self.now, self.commands))
        for summary in self.flex_runs:
            lines.extend(describe_flex_run(summary, self.now))
        flex_step = flex_in_flight_step(self.ledger, self.commands) if self.ledger.path is not None else None
        if flex_step:
            lines.append(f"  next: {flex_step}")
        counts = {state: count for state, count in lesson_counts(self.ledger).items() if count}
        if counts:
            where = f" (folder: {display_path(self.lessons_dir)})" if self.lessons_dir is not None else ""
            lines.append("Lessons: " + ", ".join(f"{count} {state}" for state, count in counts.items()) + where)
        lines.extend(describe_attention(self.attention(), self.commands))
        step = self.lessons_step()
        if step:
            lines.append(f"  next: {step}")
        if self.list_lessons:
            for lesson in unsaved_lessons(self.ledger, self.commands):
                reason = f" ({lesson['reason']})" if lesson["reason"] else ""
                lines.append(f"  {lesson['lesson_id']}: {lesson['state']}{reason}")
                if "what_to_do" in lesson:
                    lines.append(f"    tried {lesson['attempts']} times; what to do: {lesson['what_to_do']}")
        return lines

    def as_json(self) -> dict:
        payload = {
            "batches": [as_json(batch, self.now, self.commands) for batch in self.batches],
            "flex_runs": self.flex_runs,
            "lessons": lesson_counts(self.ledger),
            "needs_attention": self.attention(),
        }
        if self.lessons_dir is not None:
            payload["lessons_folder"] = str(self.lessons_dir)
        step = self.lessons_step()
        if step:
            payload["next_step"] = step
        if self.list_lessons:
            payload["unsaved_lessons"] = unsaved_lessons(self.ledger, self.commands)
        if self.errors:
            payload["error"] = "\n".join(self.errors)
        return payload


@dataclass
class ProcessingSummary:
    """What a processing run did and left, as the processing script reports it: the report of each
    batch (or results file), the batches not finished yet, and the lessons left to request or to fix."""

    reports: list[Report]
    output_dir: Path
    commands: Commands
    not_ready: list[BatchView] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what the API said instead of answering
    left: list[str] = field(default_factory=list)  # lessons not saved and in no batch
    interrupted: list[str] = field(default_factory=list)  # lessons in a submission left unfinished
    attention: list[dict] = field(default_factory=list)  # lessons that need a person
    lost: list[BatchView] = field(default_factory=list)  # batches the API answered 404 for
    again: RequestStep | None = None  # the command that requests ``left`` (``next_steps``)

    @property
    def total(self) -> Report:
        total = Report(label="total")
        for report in self.reports:
            total.merge(report)
        return total

    @property
    def failed(self) -> bool:
        """Lessons not saved and in no batch, lessons that need a person, result lines that could not
        be used, or an API that could not be read: the processing script's failure."""
        return bool(self.left or self.attention or self.total.bad_lines or self.errors or self.lost)

    def lines(self) -> list[str]:
        commands, total = self.commands, self.total
        lines = [line for report in self.reports for line in format_report(report)]
        if len(self.reports) > 1:
            lines.extend(format_report(total))
        if not self.reports:
            lines.append("No finished batch is waiting to be processed." if not self.errors else
                         "Nothing was processed: the API could not tell which batches have finished (see the error above).")
        if self.not_ready:
            lines.append("Not finished yet" + (" (as the ledger last saw them):" if self.errors else ":"))
            now = time.time()
            for batch in self.not_ready:
                lines.extend(describe(batch, now, commands))
        if self.lost:
            lines.append("Not found for this API key and project (nothing to process; the other batches are processed):")
            for batch in self.lost:
                lines.extend(describe(batch, time.time(), commands))
        left, interrupted = self.left, self.interrupted
        if left:
            shown = first_ids(left)
            again = f"run {self.again.command} to request {self.again.count} again" if self.again else (
                "no plain run requests them (see check_batch_status.py --lessons)")
            lines.append(
                f"{plural(len(left), 'lesson')} {'is' if len(left) == 1 else 'are'} not saved and in no batch "
                f"({shown}); {again}.")
        if interrupted:
            shown = first_ids(interrupted)
            lines.append(
                f"{plural(len(interrupted), 'lesson')} ({shown}) {'is' if len(interrupted) == 1 else 'are'} in a "
                "submission an interrupted run left unfinished (its batch may exist already); "
                f"run {commands.request(interrupted)} to finish it: it adopts that batch rather than paying twice.")
        lines.extend(describe_attention(self.attention, commands))
        if total.bad_lines:
            lines.append(f"{plural(len(total.bad_lines), 'result line')} could not be used (listed above).")
        return lines

    def as_json(self) -> dict:
        payload = {"batches": [r.as_json() for r in self.reports], "total": self.total.as_json(),
                   "not_ready": [batch.record.batch_id for batch in self.not_ready],
                   "not_found": [batch.record.batch_id for batch in self.lost],
                   "needs_attention": [entry["lesson_id"] for entry in self.attention],
                   "lessons_folder": str(self.output_dir), "lessons_to_request_again": self.left,
                   "lessons_in_unfinished_submissions": self.interrupted}
        if self.errors:
            payload["error"] = "\n".join(self.errors)
        return payload


class WatchDisplay:
    """What a person sees while batches are watched: on a terminal, a progress bar over all their
    requests; elsewhere (a log file), one dated line each time a status or a count changes. And a
    note for each passing network problem (the watch goes on regardless)."""

    def __init__(self, say: Callable[[str], None] = print):
        self.say = say
        self.bar = ProgressBar("Batches", 0)
        self._last_line: str | None = None

    def __call__(self, records: list[BatchRecord], problems: list[RefreshProblem]) -> None:
        for message in problem_messages(problem for problem in problems if problem.transient):
            self.say(f"(will retry) {message.splitlines()[0]}")
        total = sum(record.request_total for record in records)
        done = sum(record.request_completed + record.request_failed for record in records)
        statuses = ", ".join(sorted({record.status for record in records}))
        if self.bar.enabled:
            self.bar.update(done=done, total=total, note=statuses)
            return
        counts: dict[str, int] = {}
        for record in records:
            counts[record.status] = counts.get(record.status, 0) + 1
        line = f"{plural(len(records), 'batch', 'batches')}: " + ", ".join(
            f"{count} {status}" for status, count in sorted(counts.items())
        ) + f"; requests {done:,}/{total:,} done"
        if line != self._last_line:
            self._last_line = line
            self.say(f"{_clock(time.time())}  {line}")

    def close(self) -> None:
        self.bar.close()
