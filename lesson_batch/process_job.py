"""Processing finished batches, the processing script's job: bring the ledger up to date on
unfinished batches, download the result files of every batch whose results are ready (raw
results are on disk in the work dir before anything else), apply them (``saving``), and sum up
what was done and what is left (``ProcessingSummary``; ``text.status`` words it, and the progress
events the job tells as it goes: ``output.Events``).

``process_results`` is the whole job as the script asks for it; ``process_ready`` is its part
that ``generate_job`` also runs while it waits (``--wait``); ``download_results`` is the one step
of processing that calls the API.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import crashpoints, ids
from .api import ApiError, BatchApi, effective_base_url
from .batch_sync import RefreshProblem, problem_messages, refresh
from .batch_view import BatchView, UnsavedLesson, lessons_needing_attention, view
from .errors import LessonBatchError
from .files import FolderError, check_folder, disk_full_message, display_path, is_disk_full, remove_stale_temporaries
from .ledger import BatchRecord, Ledger
from .next_steps import RequestStep, request_step
from .output import Events, Message
from .report import Report
from .saving import Processing, apply_batch, process_files
from .settings import API_BASE_URL, OUTPUT_DIR, resolve_ledger_settings
from .states import SETTLED_OR_HELD_STATES, SUBMITTED, BatchStatus
from .submit import forget_input
from .wording import Commands


class ResultsInputError(LessonBatchError):
    """Result files or batch ids given to the processing script that cannot be used."""


@dataclass(frozen=True)
class ProcessRequest:
    """What the processing script is asked: the batches to process (none: every finished one), or
    result files already on disk; the lessons folder given (none: the one the work dir remembers)."""

    work_dir: Path
    batch_ids: tuple[str, ...] = ()
    results_file: Path | None = None
    errors_file: Path | None = None
    output_dir: Path | None = None
    force: bool = False


@dataclass
class ProcessingSummary:
    """What a processing run did and left: the report of each batch (or results file), the batches
    not finished yet, and the lessons left to request or to fix."""

    reports: list[Report]
    output_dir: Path
    commands: Commands
    not_ready: list[BatchView] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what the API said instead of answering
    left: list[str] = field(default_factory=list)  # lessons not saved and in no batch
    interrupted: list[str] = field(default_factory=list)  # lessons in a submission left unfinished
    attention: list[UnsavedLesson] = field(default_factory=list)  # lessons that need a person
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

    def as_json(self) -> dict:
        payload = {"batches": [r.as_json() for r in self.reports], "total": self.total.as_json(),
                   "not_ready": [batch.record.batch_id for batch in self.not_ready],
                   "not_found": [batch.record.batch_id for batch in self.lost],
                   "needs_attention": [lesson.lesson_id for lesson in self.attention],
                   "lessons_folder": str(self.output_dir), "lessons_to_request_again": self.left,
                   "lessons_in_unfinished_submissions": self.interrupted}
        if self.errors:
            payload["error"] = "\n".join(self.errors)
        return payload


@dataclass(frozen=True)
class WaitingForAnotherRun:
    """Another run is processing results in ``work_dir``: this one waits its turn."""

    work_dir: Path


@dataclass(frozen=True)
class Downloading:
    """A result file is being downloaded to ``path``."""

    file_id: str
    path: Path


@dataclass(frozen=True)
class FileGone:
    """A batch's result file the API no longer has (404): its lessons are reported missing."""

    file_id: str
    batch_id: str


@dataclass(frozen=True)
class NoOutputFile:
    """A completed batch with finished requests but no output file."""

    batch_id: str


def process_results(ledger: Ledger, request: ProcessRequest, events: Events) -> ProcessingSummary | None:
    """Process the result files given, or the batches ready, and sum up; None when the ledger
    records no batch at all (nothing was ever submitted from this work dir)."""
    problems: list[RefreshProblem] = []
    if request.results_file:
        paths = [request.results_file] + ([request.errors_file] if request.errors_file else [])
        for path in paths:
            if not path.is_file():
                raise ResultsInputError(f"{path}: file not found")
        processing = _processing(ledger, request, None, events)
        reports = [process_files_given(processing, paths, events)]
        not_ready = []
    else:
        unknown = [batch_id for batch_id in request.batch_ids if ledger.batch(batch_id) is None]
        if unknown:
            raise ResultsInputError(f"not in the ledger {ledger.path}: {', '.join(unknown)}")
        if not ledger.batches():
            return None
        api = BatchApi.from_environment(on_retry=events)
        processing = _processing(ledger, request, api, events)
        reports, not_ready, problems = process_ready(processing, api, list(request.batch_ids) or None, events)
    errors = problem_messages(problem for problem in problems if not problem.lost)
    for message in errors:
        events(Message(message, "error"))
    stale = {problem.batch_id for problem in problems}
    lost = {problem.batch_id for problem in problems if problem.lost}
    commands = Commands(request.work_dir)
    return ProcessingSummary(
        reports, processing.output_dir, commands,
        not_ready=[view(ledger, record, stale=record.batch_id in stale) for record in not_ready
                   if record.batch_id not in lost],
        lost=[view(ledger, record, lost=True) for record in not_ready if record.batch_id in lost],
        errors=errors,
        left=lessons_left(ledger),
        again=request_step(ledger, lessons_left(ledger), commands, processing.output_dir),
        interrupted=lessons_in_unfinished_submissions(ledger),
        attention=lessons_needing_attention(ledger, among={i for report in reports for i in report.not_saved}),
    )


def _processing(ledger: Ledger, request: ProcessRequest, api: BatchApi | None, events: Events) -> Processing:
    """The run's context, in the lessons folder the work dir remembers (or the one given, which it
    remembers from now on)."""
    given = {OUTPUT_DIR: request.output_dir}
    if api is not None:
        given[API_BASE_URL] = effective_base_url()
    place = resolve_ledger_settings(ledger, request.work_dir, given)
    for note in place.notes:
        events(Message(note))
    return Processing.of(ledger, place.path(OUTPUT_DIR), request.work_dir, request.force)


def process_ready(
    processing: Processing, api: BatchApi, batch_ids: list[str] | None, events: Events
) -> tuple[list[Report], list[BatchRecord], list[RefreshProblem]]:
    """Refresh unfinished batches, then download and process every one whose results are ready.

    Returns the reports, the batches that are not finished yet, and the batches the API could
    not tell about (their last known status stands). Before anything is downloaded, the lessons
    folder and the work dir are checked: a batch that cannot be saved stays awaiting processing.
    """
    ledger, output_dir, work_dir = processing.ledger, processing.output_dir, processing.workspace.root
    remove_stale_temporaries(work_dir)  # e.g. a download cut short by a killed run
    known = ledger.batches(batch_ids) if batch_ids else ledger.batches()
    unfinished = [record.batch_id for record in known if not record.is_terminal]
    problems: list[RefreshProblem] = []
    if unfinished:
        _records, problems = refresh(ledger, api, unfinished)
    known = ledger.batches([record.batch_id for record in known])
    reports, not_ready = [], []
    if any(record.awaits_processing for record in known):
        check_folder(output_dir, "--output-dir")
        check_folder(work_dir, "--work-dir")
        # Another run on this work dir (a second terminal, a --wait) may be processing the same
        # batches: runs take turns, and each batch is read again once it is this run's turn, so
        # a batch the other run processed is neither processed nor counted twice.
        with ledger.processing_lock(on_wait=lambda: events(WaitingForAnotherRun(ledger.path.parent))):
            known = ledger.batches([record.batch_id for record in known])
            for record in known:
                if record.awaits_processing:
                    with saving_into(output_dir, record):
                        record, paths, downloaded = download_results(processing, api, record, events)
                        report = apply_batch(processing, record, paths)
                    report.downloaded = downloaded
                    reports.append(report)
                    forget_input(ledger.shard_of_batch(record.batch_id))
    not_ready = [record for record in known if not record.is_terminal]
    return reports, not_ready, problems


def download_results(
    processing: Processing, api: BatchApi, record: BatchRecord, events: Events
) -> tuple[BatchRecord, list[Path], list[str]]:
    """Stream a terminal batch's output and error files into the work dir, unless already there.

    The names (``Workspace.result_file_names``: by batch id) go into the ledger before anything
    is downloaded, and a re-run finds the files only through the ledger: never from the order of
    batches, which ties when two share a second (a ledger from an earlier version may record the
    plain names it used). Returns the record as the ledger now holds it, the files on disk to
    apply, and those this call downloaded.
    """
    workspace = processing.workspace
    if record.results_file is None or record.errors_file is None:
        record = processing.ledger.name_result_files(record.batch_id, *workspace.result_file_names(record.batch_id))
    available, downloaded = [], []
    for file_id, path in ((record.output_file_id, workspace.file(record.results_file)),
                          (record.error_file_id, workspace.file(record.errors_file))):
        if file_id and not path.exists():
            events(Downloading(file_id, path))
            try:
                api.download(file_id, path)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                # Result files expire after a while; its lessons are then reported missing and requested again.
                events(FileGone(file_id, record.batch_id))
                continue
            downloaded.append(str(path))
            crashpoints.reached("after_download")
        if file_id:
            available.append(path)
    if record.status == BatchStatus.COMPLETED and not record.output_file_id and record.request_completed:
        events(NoOutputFile(record.batch_id))
    return record, available, downloaded


def process_files_given(processing: Processing, paths: list[Path], events: Events) -> Report:
    """Apply result files already on disk (``--results-file``). A batch all of whose lessons are
    answered by them counts as processed: nothing is left for its own files to do."""
    ledger = processing.ledger
    check_folder(processing.output_dir, "--output-dir")
    check_folder(processing.workspace.root, "--work-dir")
    with ledger.processing_lock(on_wait=lambda: events(WaitingForAnotherRun(ledger.path.parent))):
        with saving_into(processing.output_dir, None):
            report = process_files(processing, paths)
        for record in ledger.batches():
            if record.awaits_processing and not ledger.lessons_in_batch(record.batch_id, SUBMITTED):
                ledger.batch_processed(record.batch_id, {})
                forget_input(ledger.shard_of_batch(record.batch_id))
    return report


@contextmanager
def saving_into(output_dir, record: BatchRecord | None, after: str = "") -> Iterator[None]:
    """A file that cannot be written midway (a folder made read-only, a full disk) ends the run
    with a plain message; what was saved is recorded, and the batch stays awaiting processing."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise
        batch = (
            f"batch {record.batch_id} stays awaiting processing" if record
            else after or "the lessons not saved stay as they are"
        )
        if is_disk_full(exc):
            kept = f"the lessons saved before are recorded, {batch}" + (
                " (its results files are kept in the work dir)" if record else ""
            )
            raise FolderError(disk_full_message(exc, kept)) from None
        raise FolderError(
            f"cannot write {display_path(Path(exc.filename))} ({exc.strerror or exc}); {batch}. Free the disk or "
            f"fix the folder ({display_path(Path(output_dir))}), then run the same command again."
        ) from None


def lessons_left(ledger: Ledger) -> list[str]:
    """Lessons neither saved nor on their way (in a batch, in flight by flex, in a submission an
    interrupted run left unfinished) nor held for a person: the next run of the generate script
    requests them."""
    unfinished = ledger.lessons_of_unfinished_shards()
    return sorted(
        (
            lesson.lesson_id for lesson in ledger.lessons().values()
            if lesson.state not in SETTLED_OR_HELD_STATES and lesson.lesson_id not in unfinished
        ),
        key=ids.sort_key,
    )


def lessons_in_unfinished_submissions(ledger: Ledger) -> list[str]:
    """Lessons not saved whose submission an interrupted run left unfinished (its batch may exist):
    the next run of the generate script adopts that batch, or requests them again."""
    states = ledger.lessons()
    return sorted(
        (
            lesson_id for lesson_id in ledger.lessons_of_unfinished_shards()
            if lesson_id in states and states[lesson_id].state not in SETTLED_OR_HELD_STATES
        ),
        key=ids.sort_key,
    )
