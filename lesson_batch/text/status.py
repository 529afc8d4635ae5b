"""What check_batch_status.py and process_batch_results.py put in front of the user, as text lines
(and the ``result`` of their ``--json`` envelope), made from the jobs' results and events.

- the status: batches, flex runs, lessons (``status_job.StatusReport``), and ``--watch`` progress;
- ``--cancel`` and ``--give-up`` (``status_job.CancelOutcome``, ``GiveUpOutcome``), and their questions;
- the processing report (``process_job.ProcessingSummary``, each ``report.Report``), which the
  generate script's ``--wait`` and flex runs show too;
- what a rebuilt ledger recovered (``recovery.RebuildReport``).

Shared phrases (counts, id lists, times) and the next-step sentences are ``wording``'s.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .. import models
from .. import status_job as job
from ..api import ApiRetrying
from ..batch_info import CHAT_ENDPOINT
from ..batch_sync import Polled, RefreshProblem, lost_message, problem_messages
from ..batch_view import BatchView, UnsavedLesson
from ..files import display_path
from ..ledger import BatchRecord, Ledger, LostLedger
from ..output import Line
from ..process_job import Downloading, FileGone, NoOutputFile, WaitingForAnotherRun
from ..progress import ProgressBar
from ..states import FAILS_AGAIN_UNCHANGED, BatchStatus
from ..status_job import StatusReport, StatusResult
from ..wording import (
    Commands,
    clock,
    first_ids,
    flex_in_flight_step,
    format_duration,
    meaning_of,
    next_step,
    plural,
    tally,
    them,
    waiting_step,
    what_to_do_for,
)

if TYPE_CHECKING:
    from .recovery import RebuildReport


# --- A batch, a flex run ---------------------------------------------------------------------------


def describe(batch: BatchView, now: float | None = None, commands: Commands = Commands()) -> list[str]:
    """A batch as a person reads it: status and what it means, request counts, times, errors with
    their line numbers, file ids, and the next step to take."""
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
            f"  (the ledger's view as of {clock(record.checked_at)}, {format_duration(now - record.checked_at)} ago: "
            "the API could not be read now)"
        )
    lines.append(
        f"  requests: {record.request_completed:,} completed, {record.request_failed:,} failed, "
        f"{record.request_total:,} total"
    )
    if record.endpoint != CHAT_ENDPOINT:
        lines.append(f"  endpoint: {record.endpoint}")
    if record.created_at:
        lines.append(f"  created: {clock(record.created_at)} ({format_duration(now - record.created_at)} ago)")
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


def batch_json(batch: BatchView, now: float | None = None, commands: Commands = Commands()) -> dict:
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


def describe_flex_run(summary: dict, now: float | None = None) -> list[str]:
    """A flex run (``batch_view.flex_run_summary``) as a person reads it."""
    now = time.time() if now is None else now
    if summary["finished_at"] is None:
        state = "running (or stopped without finishing: the next generate run settles its lessons)"
    elif summary["stop_reason"]:
        state = f"stopped ({summary['stop_reason']})"
    else:
        state = "finished"
    lessons = tally(summary["lessons"]) or "none"
    lines = [
        f"Flex run {summary['id']}: {state}",
        f"  model: {summary['model']}; requested: {summary['requested']:,}; answers: {summary['answers']:,}",
        f"  its lessons now: {lessons}",
        f"  started: {clock(summary['started_at'])} ({format_duration(now - summary['started_at'])} ago)",
    ]
    other = summary["answers_at_another_tier"]
    lines.append(f"  cost: {models.format_cost(summary['cost_usd'])}"
                 + (f" ({other} answers served, and billed, at another tier than flex)" if other else ""))
    written = summary["usage"].get("cache_write_tokens", 0)
    if written:
        write_cost = models.format_small_cost(models.cache_write_cost(summary["model"], written))
        lines.append(f"  prompt-cache writes: {written:,} tokens, {write_cost} of the cost")
    return lines


# --- Lessons -------------------------------------------------------------------------------------


def lesson_json(lesson: UnsavedLesson, commands: Commands) -> dict:
    """A lesson not saved, in ``--json``; one that needs a person has what to do."""
    entry = {"lesson_id": lesson.lesson_id, "state": lesson.state, "batch_id": lesson.batch_id,
             "reason": lesson.reason, "attempts": lesson.attempts}
    if lesson.needs_a_person:
        entry["what_to_do"] = what_to_do_for(lesson.lesson_id, commands, lesson.reason)
    return entry


def describe_attention(lessons: list[UnsavedLesson], commands: Commands = Commands()) -> list[str]:
    """The lines about lessons that need a person."""
    if not lessons:
        return []
    held = [lesson.lesson_id for lesson in lessons]
    unchanged = sum(1 for lesson in lessons if (lesson.reason or "").startswith(FAILS_AGAIN_UNCHANGED))
    if not unchanged:
        why = "requested the maximum number of times, --max-attempts, without a usable lesson"
    elif unchanged == len(lessons):
        why = "the same request would fail again: an HTTP 400, the request's own fault"
    else:
        why = (f"{len(lessons) - unchanged} requested the maximum number of times, --max-attempts, without a "
               f"usable lesson; {unchanged} failed in a way the same request would fail again, an HTTP 400")
    # The other ways to go on, after the --force command: the ones that make sense here.
    others = (["name fewer of them"] if len(held) > 1 else []) + (
        ["raise --max-attempts"] if unchanged != len(lessons) else [])
    return [
        f"Need a person: {len(lessons)}: {first_ids(held)} ({why}; no run requests them again by itself)",
        f"  see why with {commands.status} --lessons; once the cause is fixed, request "
        f"{them(len(held))} again with {commands.request(held)} --force"
        + (f" (or {'; or '.join(others)})" if others else ""),
    ]


# --- The status ----------------------------------------------------------------------------------


def status_lines(report: StatusReport) -> list[str]:
    commands = report.commands
    lines = []
    if report.errors and report.batches:
        lines.append("The API could not be read just now: below is the ledger's last view of these batches.")
    for batch in report.batches:
        lines.extend(describe(batch, report.now, commands))
    for summary in report.flex_runs:
        lines.extend(describe_flex_run(summary, report.now))
    flex_step = flex_in_flight_step(report.in_flight_by_flex, commands)
    if flex_step:
        lines.append(f"  next: {flex_step}")
    counts = {state: count for state, count in report.lessons.items() if count}
    if counts:
        where = f" (folder: {display_path(report.lessons_dir)})" if report.lessons_dir is not None else ""
        lines.append(f"Lessons: {tally(counts)}{where}")
    lines.extend(describe_attention(report.attention, commands))
    if report.waiting:
        lines.append(f"  next: {waiting_step(report.waiting)}")
    for lesson in report.unsaved if report.list_lessons else ():
        reason = f" ({lesson.reason})" if lesson.reason else ""
        lines.append(f"  {lesson.lesson_id}: {lesson.state}{reason}")
        if lesson.needs_a_person:
            lines.append(f"    tried {lesson.attempts} times; what to do: "
                         f"{what_to_do_for(lesson.lesson_id, commands, lesson.reason)}")
    return lines


def status_json(report: StatusReport) -> dict:
    commands = report.commands
    payload = {
        "batches": [batch_json(batch, report.now, commands) for batch in report.batches],
        "flex_runs": report.flex_runs,
        "lessons": report.lessons,
        "needs_attention": [lesson_json(lesson, commands) for lesson in report.attention],
    }
    if report.lessons_dir is not None:
        payload["lessons_folder"] = str(report.lessons_dir)
    if report.waiting:
        payload["next_step"] = waiting_step(report.waiting)
    if report.list_lessons:
        payload["unsaved_lessons"] = [lesson_json(lesson, commands) for lesson in report.unsaved]
    if report.errors:
        payload["error"] = "\n".join(report.errors)
    return payload


def result_lines(result: StatusResult, as_json: bool = False) -> list[str]:
    """The lines a status job's result shows (a status shows none under ``--json``: its document says it all)."""
    if isinstance(result, StatusReport):
        return [] if as_json else status_lines(result)
    if isinstance(result, job.NothingRecorded):
        return nothing_recorded_lines(result.ledger_path, result.commands.work_dir)
    if isinstance(result, job.CancelOutcome):
        return cancel_lines(result)
    return give_up_lines(result)


def result_json(result: StatusResult) -> dict:
    """The ``result`` of the status script's envelope."""
    if isinstance(result, StatusReport):
        return status_json(result)
    if isinstance(result, job.NothingRecorded):
        return {"batches": [], "flex_runs": result.flex_runs, "lessons": result.lessons}
    if isinstance(result, job.CancelOutcome):
        return {"cancel": {"batches": result.batches, "confirmed": result.confirmed, "whole_job": result.whole_job,
                           "statuses": result.statuses, "not_found": result.not_found}}
    return {"give_up": {
        "batches": result.batches, "confirmed": result.confirmed, "given_up": result.given_up,
        "already_given_up": result.already_given_up, "known_to_the_api": result.known_to_the_api,
        "not_in_the_ledger": result.not_in_the_ledger,
    }}


def no_ledger_lines(work_dir: Path, process: bool = False) -> list[str]:
    """A work dir nothing was submitted from."""
    more = ", so there is nothing to process" if process else ""
    return [f"No run ledger in {display_path(work_dir)}: nothing was submitted from there yet{more}. "
            f"Submit with: {Commands(work_dir).generate}"]


def nothing_recorded_lines(ledger_path: Path | None, work_dir: Path) -> list[str]:
    """A ledger that records no batch."""
    return [f"No batches recorded in {ledger_path}. Submit with: {Commands(work_dir).generate}"]


def no_ledger_to_match(work_dir: Path) -> str:
    """Results or batch ids given to process where no ledger is."""
    return (f"no run ledger in {display_path(work_dir)}: results can only be matched to lessons that "
            "were submitted from there (pass the --work-dir the generate script used)")


def ledger_lost_error(work_dir: Path) -> str:
    """A work dir that shows earlier use but has no ledger, asked for its status."""
    return (
        f"no run ledger in {display_path(work_dir)}, but runs have submitted from there (it holds their "
        f"request files, results or lock): the ledger was lost. Run {Commands(work_dir).process}: it "
        "rebuilds the ledger from the API's batches and the files there, pays for nothing again, and saves the "
        "lessons of finished batches; then this command shows them again."
    )


# --- Cancel and give up --------------------------------------------------------------------------


def question(asked: job.CancelQuestion | job.GiveUpQuestion) -> str:
    """What ``--cancel`` and ``--give-up`` ask before they act."""
    count = plural(len(asked.batches), "batch", "batches")
    if isinstance(asked, job.GiveUpQuestion):
        return (
            f"Give up {count} the API does not know ({', '.join(asked.batches)})? Their lessons can then be "
            "requested (and paid for) again; if the batch still runs under another key, that is a second payment."
        )
    if asked.folder is None:
        return f"Cancel {count}: {', '.join(asked.batches)}?"
    if not asked.batches and not asked.submitting:
        return f"No unfinished batch in {display_path(asked.folder)}; stop any run that starts submitting there?"
    listed = f"{count}: {', '.join(asked.batches)}" if asked.batches else "no batch yet"
    return f"Cancel the job in {display_path(asked.folder)} ({listed}) and stop every run submitting there?"


def cancel_lines(outcome: job.CancelOutcome) -> list[str]:
    if not outcome.confirmed:
        return ["Nothing was cancelled."]
    if not outcome.whole_job:
        return [] if outcome.batches else ["No unfinished batch to cancel."]
    lines = ["The cancel is recorded in the ledger: the runs going now from this work dir (a --wait among them) "
             f"submit no more batches. A run started from now on submits again: {outcome.commands.generate}"]
    if outcome.submitting:
        lines.append("A run is submitting right now: it stops before its next batch, and a batch it is creating "
                     "is cancelled by that run as soon as it exists (it says so).")
    elif not outcome.batches:
        lines.append("No unfinished batch to cancel.")
    return lines


def give_up_lines(outcome: job.GiveUpOutcome) -> list[str]:
    if not outcome.confirmed:
        return ["Nothing was given up."]
    lines = []
    for batch_id, freed in outcome.given_up.items():
        line = f"Batch {batch_id} given up."
        if freed:
            line += (f" Its {plural(len(freed), 'lesson')} can be requested again: "
                     f"{outcome.commands.generate} --lessons {','.join(freed)}")
        lines.append(line)
    return lines


# --- Progress: --watch, cancels as they happen, downloads -------------------------------------------


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
        if self.bar.enabled:
            self.bar.update(done=done, total=total, note=", ".join(sorted({record.status for record in records})))
            return
        line = f"{plural(len(records), 'batch', 'batches')}: {_by_status(records)}; requests {done:,}/{total:,} done"
        if line != self._last_line:
            self._last_line = line
            self.say(f"{clock(time.time())}  {line}")

    def close(self) -> None:
        self.bar.close()


def _by_status(records: list[BatchRecord]) -> str:
    return tally(dict(sorted(Counter(record.status for record in records).items())))


class StatusWords:
    """The words of the events the status and processing jobs tell as they go (``output.EventSink``)."""

    def __init__(self) -> None:
        self._said: list[str] = []
        self._watch: WatchDisplay | None = None

    def __call__(self, event: object) -> Iterable[Line]:
        if isinstance(event, Polled):
            if self._watch is None:
                self._watch = WatchDisplay(self._said.append)
            self._watch(event.records, event.problems)
            lines = [Line(text) for text in self._said]
            self._said.clear()
            return lines
        if isinstance(event, (job.WatchStopped, job.WatchEnded)):
            self.close()
        return list(_event_lines(event))

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()


def _event_lines(event: object) -> Iterable[Line]:
    if isinstance(event, job.WatchStopped):
        yield Line(f"Stopped watching. The batches keep running on the server; run {event.commands.status} again "
                   "any time.")
    elif isinstance(event, job.WatchEnded):
        yield Line(f"Summary: {_by_status(event.records)}")
    elif isinstance(event, job.CancelAnswered):
        yield Line(f"Batch {event.batch_id}: {event.status}. Finished requests keep their results; "
                   f"process them with {event.commands.process} once it is cancelled.")
    elif isinstance(event, job.CancelNotFound):
        yield Line(f"{lost_message(event.batch_id)}: nothing to cancel there. If it is gone for good, give it up "
                   f"with {event.commands.status} --give-up {event.batch_id}", "error")
    elif isinstance(event, job.GiveUpRefused) and event.status is None:
        yield Line(f"Batch {event.batch_id} was given up already.")
    elif isinstance(event, job.GiveUpRefused):
        status = event.commands.status
        yield Line(f"the API knows batch {event.batch_id} (status {event.status}), so it is not given up: giving it "
                   f"up would pay for its lessons twice. Follow it with {status} --watch, or cancel it with "
                   f"{status} --cancel {event.batch_id}", "error")
    elif isinstance(event, job.NotInLedger):
        yield Line(f"not in the ledger {event.ledger_path}: {', '.join(event.batch_ids)}; nothing was given up",
                   "error")
    elif isinstance(event, ApiRetrying):
        count = f" (retry {event.retry} of {event.of}, in {event.seconds:.1f} s)" if event.retry is not None else ""
        yield Line(f"{event.what}: no usable answer from {event.where} yet; retrying...{count}", "note")
    elif isinstance(event, WaitingForAnotherRun):
        yield Line(f"another run is processing results in {event.work_dir}; waiting for it to finish...", "note")
    elif isinstance(event, Downloading):
        yield Line(f"Downloading {event.file_id} to {display_path(event.path)}...")
    elif isinstance(event, FileGone):
        yield Line(f"File {event.file_id} of batch {event.batch_id} is no longer available on the API.")
    elif isinstance(event, NoOutputFile):
        yield Line(f"Batch {event.batch_id} is completed but has no output file: "
                   "its lessons are reported missing and will be requested again.")


# --- A rebuilt ledger ------------------------------------------------------------------------------


def rebuild_lines(report: RebuildReport, ledger: Ledger, lost: LostLedger) -> list[str]:
    """What rebuilding a lost ledger brought back, and what it could not."""
    lines = [f"Note: {lost.describe(ledger.path)}. Rebuilt it from the API's batches and the files in "
             f"{display_path(ledger.path.parent)}:"]
    if report.adopted_running:
        lines.append(f"  adopted {plural(len(report.adopted_running), 'batch', 'batches')} still running "
                     f"(not paid again): {', '.join(report.adopted_running)}")
    if report.adopted_finished:
        lines.append(f"  adopted {plural(len(report.adopted_finished), 'finished batch', 'finished batches')} "
                     f"whose results are processed next: {', '.join(report.adopted_finished)}")
    if report.already_saved:
        lines.append(f"  {plural(len(report.already_saved), 'finished batch', 'finished batches')} with every "
                     f"lesson already on disk: {', '.join(report.already_saved)}")
    if report.processed_before:
        lines.append(f"  {plural(len(report.processed_before), 'batch', 'batches')} processed before the ledger "
                     "was lost (their lessons are on disk or were requested again)")
    if report.lessons_on_disk:
        lines.append(f"  {plural(report.lessons_on_disk, 'lesson')} of those batches found saved on disk")
    if report.already_known:
        lines.append(f"  {plural(len(report.already_known), 'batch', 'batches')} of this work dir "
                     f"{'was' if len(report.already_known) == 1 else 'were'} in the restored copy already")
    if not (report.adopted_running or report.adopted_finished or report.already_saved or report.processed_before
            or report.already_known):
        lines.append("  no batch of this work dir was found on the API")
    lines.append("  not recovered: flex runs and their costs (the API lists no chat requests; the lessons they "
                 "saved are on disk and are not requested again)")
    lines.extend(f"  not recovered: {problem}" for problem in report.not_recovered)
    return lines
