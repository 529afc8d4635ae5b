"""The check_batch_status job: show, follow (``--watch``) or cancel the batches of a work dir.

The script parses its options into a ``StatusRequest`` and renders the ``StatusResult``; the
syncing with the API is ``batch_sync``'s, the wording of the report ``status``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .api import ApiError, BatchApi, effective_base_url
from .batch_sync import cancel, lost_message, problem_messages, refresh, watch
from .files import display_path
from .ledger import BatchRecord, Ledger
from .output import Printer
from .settings import API_BASE_URL, OUTPUT_DIR, remembered_path, resolve_ledger_settings
from .states import ACTIVE_BATCH_STATUSES
from .status import StatusReport, WatchDisplay, flex_run_summary, lesson_counts, needs_attention, view
from .wording import Commands, plural


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
    as_json: bool = False
    give_up: bool = False


@dataclass
class StatusResult:
    """The lines to show (none under ``--json`` for a status), the JSON document (the envelope's
    ``result``), and whether it is a failure."""

    lines: list[str] = field(default_factory=list)
    document: dict | None = None
    failed: bool = False


def check_status(
    ledger: Ledger, request: StatusRequest, printer: Printer, confirm: Callable[[str, bool], bool]
) -> StatusResult:
    """Show (or follow, or cancel) the batches; errors met on the way are printed as they happen."""
    commands = Commands(request.work_dir)
    batch_ids = list(request.batch_ids) or [record.batch_id for record in ledger.batches()]
    # Flex runs are shown from the ledger alone (nothing to ask the API once a run is over).
    flex_runs = [] if request.batch_ids else [flex_run_summary(ledger, run) for run in ledger.flex_runs()]
    if request.cancel and not request.batch_ids and ledger.path is not None:
        # A cancel of the whole job is recorded even when no batch is recorded yet: a run may be
        # submitting its first one right now.
        return _cancel(ledger, None, [], request.yes, printer, commands, confirm)
    if not batch_ids and (request.cancel or not flex_runs):
        return StatusResult(
            [f"No batches recorded in {ledger.path}. Submit with: {commands.generate}"],
            {"batches": [], "flex_runs": flex_runs, "lessons": lesson_counts(ledger)},
        )
    lessons_dir = None
    if ledger.path is not None:
        for note in resolve_ledger_settings(ledger, request.work_dir, {API_BASE_URL: effective_base_url()}).notes:
            printer.note(note)
        lessons_dir = remembered_path(ledger, OUTPUT_DIR)
    api = BatchApi.from_environment(on_retry=printer.note) if batch_ids else None
    if request.cancel:
        return _cancel(ledger, api, list(request.batch_ids), request.yes, printer, commands, confirm)
    if request.give_up:
        return _give_up(ledger, api, list(request.batch_ids), request.yes, printer, commands, confirm)
    if not batch_ids:
        records, problems = [], []
    elif request.watch:
        records, problems = _watch(ledger, api, batch_ids, request.interval, printer, commands), []
    else:
        records, problems = refresh(ledger, api, batch_ids)
    shown = {record.batch_id for record in records}
    lost = {problem.batch_id for problem in problems if problem.lost}
    # A lost batch of the ledger is told in its own lines, with the way on; the others as errors.
    errors = problem_messages(problem for problem in problems if not problem.lost or problem.batch_id not in shown)
    for message in errors:
        printer.error(message)
    stale = {problem.batch_id for problem in problems}
    views = [view(ledger, record, stale=record.batch_id in stale, lost=record.batch_id in lost) for record in records]
    report = StatusReport(
        views, ledger, commands, lessons_dir, list_lessons=request.list_lessons, errors=errors, flex_runs=flex_runs
    )
    missing = [batch_id for batch_id in batch_ids if batch_id not in {record.batch_id for record in records}]
    failed = (
        errors or missing or lost or report.attention() or any(needs_attention(ledger, record) for record in records)
    )
    return StatusResult(
        [] if request.as_json else report.lines(),
        report.as_json() if request.as_json else None,
        bool(failed),
    )


def _cancel(
    ledger: Ledger,
    api: BatchApi,
    given: list[str],
    yes: bool,
    printer: Printer,
    commands: Commands,
    confirm: Callable[[str, bool], bool],
) -> StatusResult:
    """Cancel the batches given; with none given, the whole job: the cancel is recorded in the
    ledger first (every run submitting from the work dir, or waiting with --wait, then submits no
    more, and cancels a batch it is creating as soon as it exists), then every unfinished batch
    the ledger records is cancelled."""
    whole_job = not given and ledger.path is not None
    if whole_job:
        submitting = ledger.submission_in_progress()
        targets = _unfinished(ledger)
        listed = f"{plural(len(targets), 'batch', 'batches')}: {', '.join(targets)}" if targets else "no batch yet"
        question = f"Cancel the job in {display_path(request_dir(ledger))} ({listed}) and stop every run submitting there?"
        if not targets and not submitting:
            question = f"No unfinished batch in {display_path(request_dir(ledger))}; stop any run that starts submitting there?"
    else:
        submitting, targets = False, given
        question = f"Cancel {plural(len(targets), 'batch', 'batches')}: {', '.join(targets)}?"
    if not targets and not whole_job:
        return StatusResult(["No unfinished batch to cancel."], _cancelled([], [], []))
    if not confirm(question, yes):
        return StatusResult(
            ["Nothing was cancelled."], _cancelled(targets, [], [], confirmed=False, whole_job=whole_job), failed=True
        )
    if whole_job:
        ledger.request_cancel()
        targets = _unfinished(ledger)  # read again after the record: a batch recorded meanwhile is in it
    if targets and api is None:
        api = BatchApi.from_environment(on_retry=printer.note)
    lost: list[str] = []
    answers = []

    def tell_lost(batch_id: str) -> None:
        lost.append(batch_id)
        printer.error(f"{lost_message(batch_id)}: nothing to cancel there. If it is gone for good, give it up "
                      f"with {commands.status} --give-up {batch_id}")

    for info in cancel(ledger, api, targets, on_lost=tell_lost):  # each said as it happens
        answers.append(info)
        printer.out(f"Batch {info.id}: {info.status}. Finished requests keep their results; "
                    f"process them with {commands.process} once it is cancelled.")
    document = _cancelled(targets, answers, lost, whole_job=whole_job)
    if not whole_job:
        return StatusResult(document=document, failed=bool(lost))
    lines = ["The cancel is recorded in the ledger: the runs going now from this work dir (a --wait among them) "
             f"submit no more batches. A run started from now on submits again: {commands.generate}"]
    if submitting:
        lines.append("A run is submitting right now: it stops before its next batch, and a batch it is creating "
                     "is cancelled by that run as soon as it exists (it says so).")
    elif not targets:
        lines.append("No unfinished batch to cancel.")
    return StatusResult(lines, document, failed=bool(lost))


def _cancelled(
    targets: list[str], answers: list, lost: list[str], confirmed: bool = True, whole_job: bool = False
) -> dict:
    """The result of ``--cancel``: the batches asked about, the status each has after the cancel
    request (``cancelling`` until the API has finished), those the API does not know (404), and
    whether the whole job's cancel is recorded in the ledger (``--cancel`` without batch ids)."""
    return {
        "cancel": {
            "batches": targets, "confirmed": confirmed, "whole_job": whole_job,
            "statuses": {info.id: info.status for info in answers}, "not_found": lost,
        }
    }


def _give_up(
    ledger: Ledger,
    api: BatchApi,
    given: list[str],
    yes: bool,
    printer: Printer,
    commands: Commands,
    confirm: Callable[[str, bool], bool],
) -> StatusResult:
    """Give up batches the API answers 404 for: their lessons may be requested again. A batch the
    API still knows is refused (giving it up would pay for its lessons twice)."""
    unknown = [batch_id for batch_id in given if ledger.batch(batch_id) is None]
    result = {"batches": given, "confirmed": True, "given_up": {}, "already_given_up": [], "known_to_the_api": [],
              "not_in_the_ledger": unknown}
    if unknown:
        printer.error(f"not in the ledger {ledger.path}: {', '.join(unknown)}; nothing was given up")
        return StatusResult(document={"give_up": result}, failed=True)
    targets, failed = [], False
    for batch_id in given:
        if ledger.batch(batch_id).given_up_at is not None:
            printer.out(f"Batch {batch_id} was given up already.")
            result["already_given_up"].append(batch_id)
            continue
        try:
            info = api.get_batch(batch_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            targets.append(batch_id)
            continue
        failed = True
        result["known_to_the_api"].append(batch_id)
        printer.error(
            f"the API knows batch {batch_id} (status {info.status}), so it is not given up: giving it up would pay "
            f"for its lessons twice. Follow it with {commands.status} --watch, or cancel it with "
            f"{commands.status} --cancel {batch_id}"
        )
    if not targets:
        return StatusResult(document={"give_up": result}, failed=failed)
    question = (
        f"Give up {plural(len(targets), 'batch', 'batches')} the API does not know ({', '.join(targets)})? Their "
        "lessons can then be requested (and paid for) again; if the batch still runs under another key, that is a "
        "second payment."
    )
    if not confirm(question, yes):
        result["confirmed"] = False
        return StatusResult(["Nothing was given up."], {"give_up": result}, failed=True)
    lines = []
    for batch_id in targets:
        freed = ledger.give_up_batch(
            batch_id, f"batch {batch_id} was given up: the API did not know it (404) for this key and project"
        )
        result["given_up"][batch_id] = list(freed)  # the lessons it gave back
        line = f"Batch {batch_id} given up."
        if freed:
            line += (
                f" Its {plural(len(freed), 'lesson')} can be requested again: "
                f"{commands.generate} --lessons {','.join(freed)}"
            )
        lines.append(line)
    return StatusResult(lines, {"give_up": result}, failed=failed)


def _unfinished(ledger: Ledger) -> list[str]:
    return [record.batch_id for record in ledger.batches() if record.status in ACTIVE_BATCH_STATUSES]


def request_dir(ledger: Ledger) -> Path:
    return ledger.path.parent


def _watch(
    ledger: Ledger, api: BatchApi, batch_ids: list[str], interval: float, printer: Printer, commands: Commands
) -> list[BatchRecord]:
    display = WatchDisplay(printer.out)
    try:
        records = watch(ledger, api, batch_ids, interval, on_poll=display)
    except KeyboardInterrupt:
        display.close()
        printer.out(f"Stopped watching. The batches keep running on the server; run {commands.status} again any time.")
        raise
    display.close()
    finished: dict[str, int] = {}
    for record in records:
        finished[record.status] = finished.get(record.status, 0) + 1
    printer.out("Summary: " + ", ".join(f"{count} {status}" for status, count in sorted(finished.items())))
    return records
