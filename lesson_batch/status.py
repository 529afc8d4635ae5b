"""Following batches: their status in plain words, and a watch loop that backs off.

``refresh`` asks the API about each batch and stores the answer in the ledger, so the
processing step knows which batches are ready. ``describe`` turns a batch into the lines a
person reads: status and what it means, request counts, times, errors with their line numbers,
file ids, and the next step to take.

``watch`` polls until every batch is terminal. The interval starts at ``--interval`` and grows
by half each poll that brings no change, up to ``MAX_INTERVAL`` (so a 24-hour batch costs a
bounded number of calls per hour), and drops back to the start when something moves. A network
hiccup or a 5xx is reported and retried at the next poll instead of ending the watch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from . import crashpoints
from .api import ApiError, BatchApi
from . import ids
from .ledger import (
    LESSON_STATES,
    NEEDS_ATTENTION,
    SUBMITTED,
    SUCCEEDED,
    TERMINAL_BATCH_STATUSES,
    BatchInfo,
    BatchRecord,
    Ledger,
)
from .progress import ProgressBar

MAX_INTERVAL = 300.0
BACKOFF_FACTOR = 1.5

MEANINGS = {
    "validating": (
        "The API is checking the input file.",
        "Wait; run check_batch_status.py again (or with --watch).",
    ),
    "failed": (
        "The batch was rejected before running; nothing in it was charged.",
        "Read the errors above. Its lessons are pending again: fix the cause, then run "
        "generate_datagov_lessons_batch.py to submit them again.",
    ),
    "in_progress": (
        "The batch is running.",
        "Wait (up to 24 hours); run check_batch_status.py again, or with --watch.",
    ),
    "finalizing": (
        "All requests ran; the API is writing the result files.",
        "Wait a few minutes; then run process_batch_results.py.",
    ),
    "completed": (
        "Done: the results are ready.",
        "Run process_batch_results.py to save the lessons.",
    ),
    "expired": (
        "The 24-hour window ended before every request ran; finished requests have results.",
        "Run process_batch_results.py to save what finished; then generate_datagov_lessons_batch.py "
        "submits the rest again.",
    ),
    "cancelling": (
        "The batch is being cancelled (this can take up to 10 minutes).",
        "Wait; run check_batch_status.py again.",
    ),
    "cancelled": (
        "The batch was cancelled; requests that finished before that have results.",
        "Run process_batch_results.py to save what finished; then generate_datagov_lessons_batch.py "
        "submits the rest again.",
    ),
}


@dataclass(frozen=True)
class RefreshProblem:
    batch_id: str
    message: str
    transient: bool


def refresh(ledger: Ledger, api: BatchApi, batch_ids: Iterable[str]) -> tuple[list[BatchRecord], list[RefreshProblem]]:
    """Ask the API about each batch (terminal ones already known are not asked again)."""
    records, problems = [], []
    for batch_id in batch_ids:
        known = ledger.batch(batch_id)
        if known is not None and known.is_terminal and known.checked_at is not None:
            records.append(known)
            continue
        try:
            info = api.get_batch(batch_id)
        except ApiError as exc:
            problems.append(RefreshProblem(batch_id, str(exc), exc.transient))
            if known is not None:
                records.append(known)
            continue
        record = ledger.update_batch(info) if known is not None else None
        records.append(record or _unrecorded(info))
    return records, problems


def _unrecorded(info) -> BatchRecord:
    """A batch the ledger does not know (an id given on the command line): shown, not stored."""
    return BatchRecord(
        batch_id=info.id, shard_key="", model=info.model or "", status=info.status,
        input_file_id=info.input_file_id, output_file_id=info.output_file_id, error_file_id=info.error_file_id,
        request_total=info.request_total, request_completed=info.request_completed,
        request_failed=info.request_failed, errors=info.errors, created_at=info.created_at,
        expires_at=info.expires_at, prompt_tokens_estimate=0, output_tokens_estimate=0, checked_at=time.time(),
        processed_at=None, usage=None,
    )


def cancel(ledger: Ledger, api: BatchApi, batch_ids: list[str]) -> list[BatchInfo]:
    """Ask the API to cancel each batch; the ledger records the new status of those it knows."""
    cancelled = []
    for batch_id in batch_ids:
        info = api.cancel_batch(batch_id)
        if ledger.batch(batch_id) is not None:
            ledger.update_batch(info)
        cancelled.append(info)
    return cancelled


def needs_attention(ledger: Ledger, record: BatchRecord) -> bool:
    """A batch that failed, expired or was cancelled, and some of whose lessons nobody has taken
    care of yet: not saved, and not submitted again in a later batch.

    Once every lesson of such a batch is saved or on its way again, the batch is history: it no
    longer makes the status script report a failure.
    """
    if record.status not in ("failed", "expired", "cancelled"):
        return False
    requested = ledger.batch_requests(record.batch_id)
    if not requested:
        return True  # not a batch of this ledger: nothing tells what became of its lessons
    states = ledger.lessons(requested)

    def taken_care_of(lesson_id: str) -> bool:
        lesson = states.get(lesson_id)
        if lesson is None:
            return False
        return lesson.state == SUCCEEDED or (lesson.state == SUBMITTED and lesson.batch_id != record.batch_id)

    return not all(taken_care_of(lesson_id) for lesson_id in requested)


def lesson_counts(ledger: Ledger) -> dict[str, int]:
    counts = {state: 0 for state in LESSON_STATES}
    for lesson in ledger.lessons().values():
        counts[lesson.state] = counts.get(lesson.state, 0) + 1
    return counts


def what_to_do_for(lesson_id: str) -> str:
    """The advice for a lesson that needs a person."""
    return (
        "read the reason (and the work dir's rejected/" + lesson_id + ".md, if there is one) and fix its cause "
        "(the prompt, the curriculum entry, the budget or the model); then request it again with "
        f"python generate_datagov_lessons_batch.py --lessons {lesson_id} --force "
        "(or run the generate script with a higher --max-attempts)"
    )


def unsaved_lessons(ledger: Ledger) -> list[dict]:
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
            entry["what_to_do"] = what_to_do_for(lesson.lesson_id)
        entries.append(entry)
    return entries


def lessons_needing_attention(ledger: Ledger, among: set[str] | None = None) -> list[dict]:
    return [
        entry for entry in unsaved_lessons(ledger)
        if entry["state"] == NEEDS_ATTENTION and (among is None or entry["lesson_id"] in among)
    ]


def describe_attention(entries: list[dict]) -> list[str]:
    """The status lines about lessons that need a person."""
    if not entries:
        return []
    shown = ", ".join(entry["lesson_id"] for entry in entries[:10]) + (" ..." if len(entries) > 10 else "")
    return [
        f"Need a person: {len(entries)}: {shown} (requested the maximum number of times, --max-attempts, "
        "without a usable lesson; no run requests them again by itself)",
        "  see why with check_batch_status.py --lessons; once the cause is fixed, request one again with "
        "python generate_datagov_lessons_batch.py --lessons ID --force (or raise --max-attempts)",
    ]


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def describe(record: BatchRecord, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    meaning, next_step = MEANINGS.get(record.status, ("Unknown status.", "Check the batch in the OpenAI dashboard."))
    lines = [f"Batch {record.batch_id}: {record.status} - {meaning}"]
    lines.append(
        f"  requests: {record.request_completed:,} completed, {record.request_failed:,} failed, "
        f"{record.request_total:,} total"
    )
    if record.created_at:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created_at))
        lines.append(f"  created: {created} ({format_duration(now - record.created_at)} ago)")
    if record.expires_at and not record.is_terminal:
        lines.append(f"  time left before it expires: {format_duration(record.expires_at - now)}")
    for error in record.errors:
        where = f"line {error.line}: " if error.line else ""
        lines.append(f"  error: {where}{error.code or 'error'}: {error.message or ''}".rstrip())
    if record.output_file_id or record.error_file_id:
        lines.append(f"  output file: {record.output_file_id or '-'}; error file: {record.error_file_id or '-'}")
    if record.processed_at:
        lines.append("  results processed.")
        next_step = "Nothing to do for this batch." if record.status != "failed" else next_step
    lines.append(f"  next: {next_step}")
    return lines


def as_json(record: BatchRecord, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    meaning, next_step = MEANINGS.get(record.status, ("Unknown status.", ""))
    return {
        "id": record.batch_id,
        "status": record.status,
        "meaning": meaning,
        "next_step": next_step,
        "request_counts": {
            "completed": record.request_completed,
            "failed": record.request_failed,
            "total": record.request_total,
        },
        "created_at": record.created_at,
        "elapsed_seconds": round(now - record.created_at) if record.created_at else None,
        "expires_at": record.expires_at,
        "seconds_left": round(record.expires_at - now) if record.expires_at and not record.is_terminal else None,
        "errors": [error.__dict__ for error in record.errors],
        "output_file_id": record.output_file_id,
        "error_file_id": record.error_file_id,
        "processed": record.processed_at is not None,
    }


class WatchDisplay:
    """What a person sees while batches are watched: a progress bar over all their requests, and a
    note for each passing network problem (the watch goes on regardless)."""

    def __init__(self, say: Callable[[str], None] = print):
        self.say = say
        self.bar = ProgressBar("Batches", 0)

    def __call__(self, records: list[BatchRecord], problems: list[RefreshProblem]) -> None:
        for problem in problems:
            if problem.transient:
                self.say(f"(will retry) {problem.message.splitlines()[0]}")
        total = sum(record.request_total for record in records)
        done = sum(record.request_completed + record.request_failed for record in records)
        statuses = ", ".join(sorted({record.status for record in records}))
        self.bar.update(done=done, total=total, note=statuses)

    def close(self) -> None:
        self.bar.close()


def next_interval(current: float, start: float, changed: bool, ceiling: float = MAX_INTERVAL) -> float:
    if changed:
        return start
    return min(max(current, start) * BACKOFF_FACTOR, max(ceiling, start))


def watch(
    ledger: Ledger,
    api: BatchApi,
    batch_ids: list[str],
    interval: float,
    on_poll: Callable[[list[BatchRecord], list[RefreshProblem]], None] = lambda records, problems: None,
    sleep: Callable[[float], None] = time.sleep,
    max_interval: float = MAX_INTERVAL,
    stop_when: Callable[[list[BatchRecord]], bool] | None = None,
) -> list[BatchRecord]:
    """Poll until every batch is terminal (or ``stop_when`` says so); return the last records."""
    current = interval
    previous: dict[str, tuple] = {}
    while True:
        records, problems = refresh(ledger, api, batch_ids)
        on_poll(records, problems)
        crashpoints.reached("watch_poll")
        fatal = [problem for problem in problems if not problem.transient]
        if fatal:
            raise ApiError(fatal[0].message)
        if stop_when is not None and stop_when(records):
            return records
        if records and len(records) == len(batch_ids) and all(r.status in TERMINAL_BATCH_STATUSES for r in records):
            return records
        snapshot = {r.batch_id: (r.status, r.request_completed, r.request_failed) for r in records}
        changed = snapshot != previous and bool(previous)
        previous = snapshot
        current = next_interval(current, interval, changed, max_interval)
        sleep(current)
