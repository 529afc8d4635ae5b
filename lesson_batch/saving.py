"""Processing batch results: match each line to a lesson by ``custom_id``, clean, check, save.

A batch's output and error files are on disk in the work dir before this module sees them
(``generate_job`` downloads them; this module never calls the API). Both files are read line by
line, never whole:

- each line is matched to a lesson by its ``custom_id``, never by position; malformed lines,
  ids that are not lesson ids, ids the batch was not asked for, and repeated ids are reported
  with their file and line and skipped: a batch's results never touch another batch's lessons;
- a successful response is cleaned (``lesson_text.clean_lesson``) and checked against the
  template's required sections; a good lesson is written atomically, and only then marked
  ``succeeded`` in the ledger; a bad one is kept under ``rejected/`` for inspection and marked
  with its reason (a truncated one gets a bigger budget for its retry);
- a refusal (the message's ``refusal`` set, its content null) is reported as a refusal, with the
  model's text, not as an empty lesson;
- a line whose body is the other API's object (a Responses ``response`` in a batch sent to
  ``/v1/chat/completions``, or a ``chat.completion`` in a ``/v1/responses`` batch) is not saved and
  is reported as such (``responses_object`` / ``chat_object``); it answers its lesson (not missing);
- a result served at a service tier that is not billed at Batch rates (``priority``, ...) is
  reported: the discount did not apply to it;
- a failed request and an expired or cancelled one are marked with their reason; a request that
  failed with HTTP 400 (the request's own fault, e.g. ``context_length_exceeded``) is held for a
  person (``needs_attention``): the same request would fail again;
- a line of a batch's own file that cannot be read but names an awaited lesson marks that lesson
  with why (it was answered, not missing), and the tokens it reports count in the usage;
- a lesson the batch was asked for that appears in neither file is marked ``missing``.

Every lesson not saved is requested again by the next run of the generate script, unless its
request has now run the ledger's ``max_attempts`` times: it then needs a person. An existing
lesson file is never overwritten unless the lesson was requested with ``--force`` (or
processing runs with ``--force``); the previous version is then kept under ``replaced/``.
Re-running is safe: a lesson already saved is skipped, and a file identical to what would be
written only has its ledger entry completed (the case of a crash between the two steps). How a
lesson whose file exists ends is ``existing_lesson``'s say. Where each file goes is ``Workspace``'s say.

All of it runs in one process, a line at a time in file order: read the line, clean and check
the lesson, write it, record it. Ledger updates are grouped (2,000 lessons a transaction, after
just their files are flushed to disk), so a lesson is marked saved only once its file is on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import crashpoints, ids, models
from .batch_info import CHAT_ENDPOINT, RESPONSES_ENDPOINT
from .existing_lesson import save_over_existing
from .files import (
    discard,
    display_path,
    flush_to_disk,
    lesson_path_problem,
    publish,
    remove_stale_temporaries,
    write_atomic,
    write_temporary,
)
from .ledger import DEFAULT_MAX_ATTEMPTS, BatchRecord, Ledger, NotSaved, Saved
from .lesson_text import CONTENT_FILTER, LessonCheck, clean_and_check
from .output import Printer
from .progress import ProgressBar
from .report import Report
from .result_files import BadLine, ResultLine, read_result_lines
from .states import (
    CANCELLED,
    EXPIRED,
    FAILED,
    FAILS_AGAIN_UNCHANGED,
    INVALID,
    MISSING,
    NEEDS_ATTENTION,
    TERMINAL_BATCH_STATUSES,
    TRUNCATED,
)
from .workspace import Workspace

LEDGER_GROUP_SIZE = 2000  # lessons a ledger transaction (and a flush of their files to disk)


@dataclass(frozen=True)
class Processing:
    """What a processing run works with: the ledger, the lessons folder, the work dir, whether
    existing lesson files may be overwritten, and where its words go (the steps that download
    use it; applying lines says nothing but its progress bar)."""

    ledger: Ledger
    output_dir: Path
    workspace: Workspace
    force: bool = False
    printer: Printer = field(default_factory=Printer)

    @classmethod
    def of(
        cls, ledger: Ledger, output_dir, work_dir, force: bool = False, printer: Printer | None = None
    ) -> "Processing":
        return cls(ledger, Path(output_dir), Workspace(work_dir), force, printer or Printer())


@dataclass(frozen=True)
class Expected:
    """A lesson a results file may answer, and how it was requested."""

    batch_id: str
    model: str
    budget: int
    effort: str | None
    required_sections: tuple[str, ...]
    force: bool
    # The batch has finished (per the ledger). A failure read from a results file for a batch still
    # running is only reported: marking it would let the next run pay for the lesson a second time.
    batch_finished: bool = True
    endpoint: str = CHAT_ENDPOINT  # where the lesson's request went: the API its answer must come from


# How a line of the other API is reported: by the API its body belongs to.
WRONG_API_REASON = {RESPONSES_ENDPOINT: "responses_object", CHAT_ENDPOINT: "chat_object"}
_API_OBJECT = {RESPONSES_ENDPOINT: 'a Responses API object ("object": "response")',
               CHAT_ENDPOINT: 'a Chat Completions object ("object": "chat.completion")'}


def wrong_api(item: ResultLine, wanted: Expected) -> bool:
    """Whether a successful line's body is the other API's object than its batch was sent to."""
    return item.kind == "success" and item.endpoint is not None and item.endpoint != wanted.endpoint


# --------------------------------------------------------------------------- entry points


def apply_batch(processing: Processing, record: BatchRecord, paths: list[Path]) -> Report:
    """Apply one terminal batch's result files, on disk at ``defaults``; lessons of the batch that no
    line answers are marked missing, and the batch processed."""
    if not record.awaits_processing:
        raise ValueError(f"batch {record.batch_id} is {record.status}; it has no results to process")
    ledger = processing.ledger
    report = Report(label=f"batch {record.batch_id}", batch_usage=record.api_usage)
    expected, already = _batch_scope(ledger, record)
    report.estimated_cost = models.batch_cost(
        record.model, record.prompt_tokens_estimate, record.output_tokens_estimate
    )
    _apply(
        processing, paths, expected, already, report,
        total=record.request_total, stranger=f"was not requested in batch {record.batch_id}", own_files=True,
    )
    report.missing = sorted(set(expected) - _answered(report))
    ledger.lessons_not_saved(
        [
            NotSaved(lesson_id, record.batch_id, MISSING, "not in the batch's output or error file")
            for lesson_id in report.missing
        ],
        ledger.max_attempts(DEFAULT_MAX_ATTEMPTS),
    )
    ledger.batch_processed(record.batch_id, report.as_json()["usage"])
    return report


def process_files(processing: Processing, paths: list[Path]) -> Report:
    """Apply result files already on disk (``--results-file``/``--errors-file``); no API access.

    A file the ledger recorded for a batch answers only that batch's lessons. A file it does not
    know (downloaded by hand) answers whichever lessons await results, by ``custom_id``.
    """
    ledger = processing.ledger
    report = Report(label=", ".join(str(path) for path in paths))
    by_owner: dict[str | None, list[Path]] = {}
    for path in paths:
        owner = _batch_of_file(ledger, processing.workspace, path)
        by_owner.setdefault(owner.batch_id if owner else None, []).append(path)
    for batch_id, owned in by_owner.items():
        if batch_id is not None:
            expected, already = _batch_scope(ledger, ledger.batch(batch_id))
            stranger = f"was not requested in batch {batch_id}"
        else:
            expected, already = _awaiting_scope(ledger)
            stranger = "is not awaiting results in the ledger"
        _apply(
            processing, owned, expected, already, report,
            total=None, stranger=stranger, own_files=batch_id is not None,
        )
    return report


# --------------------------------------------------------------------------- the work


def _batch_of_file(ledger: Ledger, workspace: Workspace, path: Path) -> BatchRecord | None:
    """The batch whose output or error file the ledger records at ``path``, if any."""
    target = Path(path).resolve()
    for batch in ledger.batches():
        for name in (batch.results_file, batch.errors_file):
            if name and workspace.file(name).resolve() == target:
                return batch
    return None


def _batch_scope(ledger: Ledger, record: BatchRecord) -> tuple[dict[str, Expected], dict[str, str | None]]:
    """What one batch's files may answer: its lessons awaiting results, and those of its lessons
    an earlier, interrupted run already handled (skipped, but their tokens were paid)."""
    expected = _expected(ledger.awaiting_results(record.batch_id))
    already = {
        lesson_id: record.model
        for lesson_id in ledger.requested_lesson_ids(record.batch_id) if lesson_id not in expected
    }
    return expected, already


def _awaiting_scope(ledger: Ledger) -> tuple[dict[str, Expected], dict[str, str | None]]:
    """What a file of unknown origin may answer: every lesson awaiting results in the ledger."""
    expected = _expected(ledger.awaiting_results())
    already = {lesson_id: model for lesson_id, model in ledger.models_of_lessons().items() if lesson_id not in expected}
    return expected, already


def _expected(rows: list[tuple]) -> dict[str, Expected]:
    """``Ledger.awaiting_results`` rows as Expected entries; lessons requested alike share one."""
    shared: dict[tuple, Expected] = {}
    sections_of: dict[str | None, tuple[str, ...]] = {}
    expected = {}
    for lesson_id, batch_id, model, status, budget, effort, force, sections_json, endpoint in rows:
        if budget is None:  # not in the batch's request list: the model's default, as requested
            budget = models.default_budget(model)
        key = (batch_id, model, budget, effort, sections_json, bool(force), status, endpoint)
        wanted = shared.get(key)
        if wanted is None:
            if sections_json not in sections_of:
                sections_of[sections_json] = tuple(json.loads(sections_json)) if sections_json else ()
            wanted = shared[key] = Expected(
                batch_id=batch_id, model=model, budget=budget, effort=effort,
                required_sections=sections_of[sections_json], force=bool(force),
                batch_finished=status in TERMINAL_BATCH_STATUSES, endpoint=endpoint or CHAT_ENDPOINT,
            )
        expected[lesson_id] = wanted
    return expected


def _answered(report: Report) -> set[str]:
    answered = set(report.saved) | set(report.replaced) | set(report.kept_existing)
    for lesson_ids in report.failed.values():
        answered.update(lesson_ids)
    return answered


class _Marks:
    """Ledger updates waiting for their files to be flushed; written a group at a time."""

    def __init__(self, ledger: Ledger, folder: Path | None = None):
        self.ledger = ledger
        self.folder = str(Path(folder).resolve()) if folder is not None else None  # the lessons folder
        self.max_attempts = ledger.max_attempts(DEFAULT_MAX_ATTEMPTS)
        self.saved: list[Saved] = []
        self.written: list[str] = []  # the files of ``saved``, to flush to disk before marking
        self.not_saved: list[NotSaved] = []

    def add_saved(
        self, lesson_id: str, batch_id: str, output_tokens: int | None, note: str | None, files: list[str]
    ) -> None:
        self.saved.append(Saved(lesson_id, batch_id, output_tokens, note, self.folder))
        self.written.extend(files)
        self._maybe_flush()

    def add_not_saved(self, entry: NotSaved) -> None:
        self.not_saved.append(entry)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.saved) + len(self.not_saved) >= LEDGER_GROUP_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.saved:
            flush_to_disk(self.written)  # the files first: a lesson is marked done only once it is on disk
            self.ledger.lessons_saved(self.saved)
            crashpoints.reached("lessons_marked")
        if self.not_saved:
            self.ledger.lessons_not_saved(self.not_saved, self.max_attempts)
        self.saved, self.written, self.not_saved = [], [], []


class AnswerRecorder:
    """Results that arrive one at a time instead of in a file (flex answers): each goes through the
    very path of a result line (clean, check, atomic save, ledger), the ledger written a group at
    a time as for a file. Call ``flush`` when the answers pause and at the end."""

    def __init__(self, processing: Processing, report: Report):
        processing.output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(processing.output_dir)
        self.processing, self.report = processing, report
        self._marks = _Marks(processing.ledger, processing.output_dir)

    def apply(self, item: ResultLine, wanted: Expected) -> None:
        _decide(item, wanted, self.processing, self.report, self._marks)

    def flush(self) -> None:
        self._marks.flush()


def _apply(
    processing: Processing,
    paths: list[Path],
    expected: dict[str, Expected],
    already: dict[str, str | None],  # lesson id -> model, for lessons already processed
    report: Report,
    total: int | None,
    stranger: str,  # why a line for a lesson in neither ``expected`` nor ``already`` is skipped
    own_files: bool = False,  # the files are the batch's own (an unreadable line naming a lesson is its answer)
) -> None:
    output_dir = processing.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output_dir)
    seen: dict[str, tuple[Path, int]] = {}
    unreadable: dict[str, tuple[str, Expected]] = {}  # lesson id -> where and why, for its first unreadable line
    marks = _Marks(processing.ledger, processing.output_dir)
    progress = ProgressBar("Processing results", total or 0)
    try:
        for path in paths:
            for item in read_result_lines(path):
                progress.update(advance=1)
                if isinstance(item, BadLine):
                    where = f"{path}:{item.line_number}"
                    shown = f" ({item.lesson_id})" if item.lesson_id and item.lesson_id not in item.reason else ""
                    report.bad_lines.append(f"{where}: {item.reason}{shown}")
                    if own_files:
                        _unreadable_line(item, where, expected, already, unreadable, report)
                    continue
                lesson_id = item.custom_id
                if lesson_id in seen:
                    first_path, first_line = seen[lesson_id]
                    report.bad_lines.append(
                        f"{path}:{item.line_number}: {lesson_id} appears again "
                        f"(first at {first_path}:{first_line}); skipped"
                    )
                    continue
                seen[lesson_id] = (path, item.line_number)
                wanted = expected.get(lesson_id)
                if wanted is None:
                    if lesson_id in already:
                        report.already_done.append(lesson_id)
                        report.usage = report.usage + item.usage
                        if already[lesson_id]:
                            report.models_used[already[lesson_id]] += 1
                    else:
                        report.bad_lines.append(f"{path}:{item.line_number}: {lesson_id} {stranger}; skipped")
                    continue
                _decide(item, wanted, processing, report, marks)
        for lesson_id, (why, wanted) in unreadable.items():
            if lesson_id not in seen:  # no readable line answered it: its answer is the unreadable one
                if wanted.batch_finished:
                    marks.add_not_saved(NotSaved(lesson_id, wanted.batch_id, INVALID, f"{UNREADABLE}: {why}"))
                report.fail(UNREADABLE, lesson_id)
    finally:
        marks.flush()
        progress.close()


UNREADABLE = "unreadable_line"


def _unreadable_line(
    item: BadLine, where: str, expected: dict[str, Expected], already: dict[str, str | None],
    unreadable: dict[str, tuple[str, Expected]], report: Report,
) -> None:
    """A line of a batch's own file that cannot be read but names a lesson: its tokens were billed
    all the same, and the lesson was answered (by a line that cannot be used), not missing from the
    batch's files. (A file of unknown origin only reports such a line: the lesson waits for its
    batch's own files.)"""
    lesson_id = item.lesson_id
    if lesson_id is None or (lesson_id not in expected and lesson_id not in already) or lesson_id in unreadable:
        return
    report.usage = report.usage + item.usage
    if lesson_id in already:
        if already[lesson_id]:
            report.models_used[already[lesson_id]] += 1
        return
    report.models_used[expected[lesson_id].model] += 1
    unreadable[lesson_id] = (f"{where}: {item.reason}", expected[lesson_id])


PATH_PROBLEM = "lesson path not a regular file"


def _decide(item: ResultLine, wanted: Expected, processing: Processing, report: Report, marks: _Marks) -> None:
    """What a line answering an awaited lesson means: the lesson cleaned, checked and saved, kept
    aside, or marked with why it was not saved."""
    lesson_id = item.custom_id
    report.usage = report.usage + item.usage
    report.models_used[wanted.model] += 1
    if item.kind != "success" or wrong_api(item, wanted):
        _not_saved(wanted, report, marks, *_error_entry(item, wanted))
        return
    if not models.billed_at_batch_rates(item.service_tier):
        report.other_tiers.setdefault(item.service_tier, []).append(lesson_id)
    content = item.content or ""
    if item.refusal and not content.strip():
        report.refusals[lesson_id] = item.refusal
        entry = NotSaved(lesson_id, wanted.batch_id, FAILED, f"refusal: {item.refusal}")
        _not_saved(wanted, report, marks, "refusal", entry)
        return
    text, check = clean_and_check(content, item.finish_reason, wanted.required_sections)
    if not check.ok:
        _not_saved(wanted, report, marks, *_rejected(lesson_id, text, check, wanted, processing.workspace))
        return
    _save(lesson_id, text.encode("utf-8"), item, wanted, processing, report, marks)


def _save(
    lesson_id: str, data: bytes, item: ResultLine, wanted: Expected, processing: Processing, report: Report,
    marks: _Marks,
) -> None:
    """A good lesson: written to a temporary file, which takes the lesson's name unless a file has
    it (``publish`` never replaces); the temporary is gone when this returns or raises."""
    path = ids.lesson_file(processing.output_dir, lesson_id)
    temporary = write_temporary(path, data)
    published = False
    try:
        crashpoints.reached("lesson_prepared")
        note = None
        published = publish(temporary, path)
        if published:
            report.saved.append(lesson_id)
        else:
            problem = lesson_path_problem(path)
            if problem is not None:
                _path_problem(lesson_id, data, wanted, processing.workspace, report, marks, problem)
                return
            overwrite = processing.force or wanted.force
            note = save_over_existing(lesson_id, data, temporary, path, processing.workspace, overwrite, report)
    finally:
        if not published:  # kept aside, identical, or a step failed (a full disk): not wanted
            discard(temporary)
    crashpoints.reached("lesson_saved")
    marks.add_saved(lesson_id, wanted.batch_id, item.usage.completion_tokens or None, note, [path])


def _not_saved(wanted: Expected, report: Report, marks: _Marks, reason: str, entry: NotSaved) -> None:
    """A line that brings no lesson to save: the lesson is marked with why, once its batch has finished."""
    if wanted.batch_finished:
        marks.add_not_saved(entry)
    report.fail(reason, entry.lesson_id)


def _error_entry(item: ResultLine, wanted: Expected) -> tuple[str, NotSaved]:
    """Why a line that is not a usable success saves nothing: an error, or the other API's object."""
    lesson_id = item.custom_id
    if wrong_api(item, wanted):
        reason = WRONG_API_REASON[item.endpoint]
        return reason, NotSaved(
            lesson_id, wanted.batch_id, INVALID,
            f"{reason}: the line is {_API_OBJECT[item.endpoint]}, but its batch {wanted.batch_id} was sent to "
            f"{wanted.endpoint}",
        )
    if item.kind == "batch_error":
        reason = item.error_code or "batch_error"
        state = {"batch_expired": EXPIRED, "batch_cancelled": CANCELLED}.get(item.error_code or "", FAILED)
        return reason, NotSaved(lesson_id, wanted.batch_id, state, f"{reason}: {item.error_message or ''}".strip())
    reason = f"http_{item.status_code}"
    detail = f"{reason}: {item.error_code or ''} {item.error_message or ''}".strip()
    if item.status_code == 400:
        # The request's own fault: sent again as it is, it fails again (and may be paid for again).
        # Neither a bigger budget nor a lower effort shortens a request or removes a parameter,
        # so it waits for a person to change it.
        return reason, NotSaved(lesson_id, wanted.batch_id, NEEDS_ATTENTION, f"{FAILS_AGAIN_UNCHANGED}: {detail}")
    return reason, NotSaved(lesson_id, wanted.batch_id, FAILED, detail)


def _path_problem(
    lesson_id: str, data: bytes, wanted: Expected, workspace: Workspace, report: Report, marks: _Marks, problem: str
) -> None:
    """A good lesson whose path holds a folder or a link: never saved there (nor through the link,
    even with --force), never counted as generated. The lesson is kept under not_overwritten/ and
    marked not saved with the problem; the other lessons go on."""
    kept = workspace.not_overwritten(lesson_id)
    write_atomic(kept, data)
    shown = (
        f"{problem}; the generated lesson is kept in {display_path(kept)} (move it into place instead, to use it "
        "without paying again)"
    )
    report.path_problems[lesson_id] = shown
    report.fail(PATH_PROBLEM, lesson_id)
    if wanted.batch_finished:
        marks.add_not_saved(NotSaved(lesson_id, wanted.batch_id, FAILED, shown))


def _rejected(
    lesson_id: str, text: str, check: LessonCheck, wanted: Expected, workspace: Workspace
) -> tuple[str, NotSaved]:
    """A lesson that failed its checks: kept under rejected/ (unless blank), and why."""
    if text.strip():
        write_atomic(workspace.rejected(lesson_id), text)
    if check.reason == TRUNCATED:
        # At the top of the ladder the lesson is retried as it was; the attempts cap ends that.
        budget, effort = models.retry_settings(wanted.model, wanted.budget, wanted.effort) or (
            wanted.budget, wanted.effort
        )
        return check.reason, NotSaved(lesson_id, wanted.batch_id, TRUNCATED, check.detail, budget, effort)
    state = FAILED if check.reason == CONTENT_FILTER else INVALID
    return check.reason or INVALID, NotSaved(lesson_id, wanted.batch_id, state, f"{check.reason}: {check.detail}")

