"""Processing batch results: keep the raw files, match by ``custom_id``, clean, check, save.

For each batch whose results are ready, the output and error files are first streamed to disk
in the work dir, under names that carry the batch id (``datagov_lessons_results_<batch id>.jsonl``,
``datagov_lessons_errors_<batch id>.jsonl``), so the raw results survive whatever happens next.
The names are recorded in the ledger before the download, and a re-run finds the files through
the ledger alone (a ledger from an earlier version may record the plain names it used). Then both
files are read line by line, never whole:

- each line is matched to a lesson by its ``custom_id``, never by position; malformed lines,
  ids that are not lesson ids, ids the batch was not asked for, and repeated ids are reported
  with their file and line and skipped: a batch's results never touch another batch's lessons;
- a successful response is cleaned (``lesson_text.clean_lesson``) and checked against the
  template's required sections; a good lesson is written atomically, and only then marked
  ``succeeded`` in the ledger; a bad one is kept under ``rejected/`` for inspection and marked
  with its reason (a truncated one gets a bigger budget for its retry);
- a refusal (the message's ``refusal`` set, its content null) is reported as a refusal, with the
  model's text, not as an empty lesson;
- a result served at a service tier that is not billed at Batch rates (``priority``, ...) is
  reported: the discount did not apply to it;
- a failed request and an expired or cancelled one are marked with their reason;
- a lesson the batch was asked for that appears in neither file is marked ``missing``.

Every lesson not saved is requested again by the next run of the generate script, unless its
request has now run the ledger's ``max_attempts`` times: it then needs a person. An existing
lesson file is never overwritten unless the lesson was requested with ``--force`` (or
processing runs with ``--force``); the previous version is then kept under ``replaced/``.
Re-running is safe: a lesson already saved is skipped, and a file identical to what would be
written only has its ledger entry completed (the case of a crash between the two steps).

Lines are prepared (parsed, cleaned, checked, a good lesson written to a temporary file) by
``result_workers``, in worker processes for a large file; this module then decides on each in file
order, so the outcome never depends on where a line was prepared. Ledger updates are grouped
(2,000 lessons a transaction, after just their files are flushed to disk).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import crashpoints, ids, models
from .api import ApiError, BatchApi
from .files import display_path, flush_to_disk, publish, remove_stale_temporaries, write_atomic, write_new
from .ledger import DEFAULT_MAX_ATTEMPTS, BatchRecord, Ledger, NotSaved, Saved
from .ledger_schema import ERRORS_STEM, RESULTS_STEM
from .progress import ProgressBar
from .result_lines import BadLine, ResultLine, TokenUsage, safe_text
from .result_workers import Prepared, Preparer, WorkerDied, prepare
from .states import CANCELLED, EXPIRED, FAILED, INVALID, MISSING, SUBMITTED, TERMINAL_BATCH_STATUSES, TRUNCATED

REJECTED_DIR = "rejected"
REPLACED_DIR = "replaced"
NOT_OVERWRITTEN_DIR = "not_overwritten"
LEDGER_GROUP_SIZE = 2000  # lessons a ledger transaction (and a flush of their files to disk)


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
    settled: bool = True


@dataclass
class Report:
    label: str
    saved: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # saved over an older file, kept under replaced/
    kept_existing: list[str] = field(default_factory=list)  # not overwritten: a file was already there
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # reason -> lesson ids
    missing: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)  # "file:line: why"
    refusals: dict[str, str] = field(default_factory=dict)  # lesson id -> the model's refusal text
    other_tiers: dict[str, list[str]] = field(default_factory=dict)  # service tier -> lessons not at Batch rates
    usage: TokenUsage = field(default_factory=TokenUsage)
    models_used: Counter = field(default_factory=Counter)
    estimated_cost: float | None = None
    downloaded: list[str] = field(default_factory=list)

    def fail(self, reason: str, lesson_id: str) -> None:
        self.failed.setdefault(reason, []).append(lesson_id)

    @property
    def failed_count(self) -> int:
        return sum(len(v) for v in self.failed.values())

    @property
    def not_saved(self) -> list[str]:
        """Every lesson this report did not save: failed, refused, truncated, missing, ..."""
        return [lesson_id for lesson_ids in self.failed.values() for lesson_id in lesson_ids] + list(self.missing)

    @property
    def actual_cost(self) -> float | None:
        if not self.models_used:
            return 0.0
        model = self.models_used.most_common(1)[0][0]
        return models.batch_cost(model, self.usage.prompt_tokens, self.usage.completion_tokens, self.usage.cached_tokens)

    def merge(self, other: "Report") -> None:
        for name in ("saved", "replaced", "kept_existing", "already_done", "missing", "bad_lines", "downloaded"):
            getattr(self, name).extend(getattr(other, name))
        for reason, lesson_ids in other.failed.items():
            self.failed.setdefault(reason, []).extend(lesson_ids)
        self.refusals.update(other.refusals)
        for tier, lesson_ids in other.other_tiers.items():
            self.other_tiers.setdefault(tier, []).extend(lesson_ids)
        self.usage = self.usage + other.usage
        self.models_used.update(other.models_used)
        if other.estimated_cost is not None:
            self.estimated_cost = (self.estimated_cost or 0.0) + other.estimated_cost

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "saved": len(self.saved) + len(self.replaced),
            "replaced": len(self.replaced),
            "kept_existing": len(self.kept_existing),
            "already_done": len(self.already_done),
            "failed": {reason: sorted(lesson_ids) for reason, lesson_ids in sorted(self.failed.items())},
            "missing": sorted(self.missing),
            "refusals": dict(sorted(self.refusals.items())),
            "not_at_batch_rates": {tier: sorted(ids_) for tier, ids_ in sorted(self.other_tiers.items())},
            "bad_lines": self.bad_lines,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "cached_tokens": self.usage.cached_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "reasoning_tokens": self.usage.reasoning_tokens,
            },
            "actual_cost_usd": _round(self.actual_cost),
            "estimated_cost_usd": _round(self.estimated_cost),
            "downloaded": self.downloaded,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def result_file_names(batch_id: str) -> tuple[str, str]:
    """The names a batch's output and error files are downloaded under: its own, by batch id."""
    return f"{RESULTS_STEM}_{batch_id}.jsonl", f"{ERRORS_STEM}_{batch_id}.jsonl"


# --------------------------------------------------------------------------- entry points


def process_batch(
    ledger: Ledger,
    api: BatchApi,
    record: BatchRecord,
    output_dir: Path,
    work_dir: Path,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> Report:
    """Download (if not already on disk) and apply one terminal batch's result files."""
    report = Report(label=f"batch {record.batch_id}")
    if not record.awaits_processing:
        raise ValueError(f"batch {record.batch_id} is {record.status}; it has no results to process")
    # The names go into the ledger before anything is downloaded, and a re-run finds the files only
    # through the ledger: never from the order of batches, which ties when two share a second.
    if record.results_file is None or record.errors_file is None:
        record = ledger.name_result_files(record.batch_id, *result_file_names(record.batch_id))
    results_path, errors_path = Path(work_dir) / record.results_file, Path(work_dir) / record.errors_file
    available = []
    for file_id, path in ((record.output_file_id, results_path), (record.error_file_id, errors_path)):
        if file_id and not path.exists():
            say(f"Downloading {file_id} to {display_path(path)}...")
            try:
                api.download(file_id, path)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                # Result files expire after a while; its lessons are then reported missing and requested again.
                say(f"File {file_id} of batch {record.batch_id} is no longer available on the API.")
                continue
            report.downloaded.append(str(path))
            crashpoints.reached("after_download")
        if file_id:
            available.append(path)
    if record.status == "completed" and not record.output_file_id and record.request_completed:
        say(
            f"Batch {record.batch_id} is completed but has no output file: "
            "its lessons are reported missing and will be requested again."
        )
    expected, already = _batch_scope(ledger, record)
    report.estimated_cost = models.batch_cost(record.model, record.prompt_tokens_estimate, record.output_tokens_estimate)
    _apply(
        ledger, available, expected, already, output_dir, work_dir, force, report,
        total=record.request_total, stranger=f"was not requested in batch {record.batch_id}",
    )
    report.missing = sorted(set(expected) - _answered(report))
    ledger.lessons_not_saved(
        [NotSaved(lesson_id, record.batch_id, MISSING, "not in the batch's output or error file") for lesson_id in report.missing],
        ledger.max_attempts(DEFAULT_MAX_ATTEMPTS),
    )
    ledger.batch_processed(record.batch_id, report.as_json()["usage"])
    return report


def process_files(
    ledger: Ledger,
    paths: list[Path],
    output_dir: Path,
    work_dir: Path,
    force: bool = False,
) -> Report:
    """Apply result files already on disk (``--results-file``/``--errors-file``); no API access.

    A file the ledger recorded for a batch answers only that batch's lessons. A file it does not
    know (downloaded by hand) answers whichever lessons await results, by ``custom_id``.
    """
    report = Report(label=", ".join(str(path) for path in paths))
    by_owner: dict[str | None, list[Path]] = {}
    for path in paths:
        owner = _batch_of_file(ledger, work_dir, path)
        by_owner.setdefault(owner.batch_id if owner else None, []).append(path)
    for batch_id, owned in by_owner.items():
        if batch_id is not None:
            expected, already = _batch_scope(ledger, ledger.batch(batch_id))
            stranger = f"was not requested in batch {batch_id}"
        else:
            expected, already = _awaiting_scope(ledger)
            stranger = "is not awaiting results in the ledger"
        _apply(ledger, owned, expected, already, output_dir, work_dir, force, report, total=None, stranger=stranger)
    return report


# --------------------------------------------------------------------------- the work


def _batch_of_file(ledger: Ledger, work_dir: Path, path: Path) -> BatchRecord | None:
    """The batch whose output or error file the ledger records at ``path``, if any."""
    target = Path(path).resolve()
    for batch in ledger.batches():
        for name in (batch.results_file, batch.errors_file):
            if name and (Path(work_dir) / name).resolve() == target:
                return batch
    return None


def _batch_scope(ledger: Ledger, record: BatchRecord) -> tuple[dict[str, Expected], dict[str, str | None]]:
    """What one batch's files may answer: its lessons awaiting results, and those of its lessons
    an earlier, interrupted run already handled (skipped, but their tokens were paid)."""
    expected = _expected(ledger.awaiting_results(record.batch_id))
    already = {lesson_id: record.model for lesson_id in ledger.requested_lesson_ids(record.batch_id) if lesson_id not in expected}
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
    for lesson_id, batch_id, model, status, budget, effort, force, sections_json in rows:
        if budget is None:  # not in the batch's request list: the model's default, as requested
            budget = models.default_budget(model)
        key = (batch_id, model, budget, effort, sections_json, bool(force), status)
        wanted = shared.get(key)
        if wanted is None:
            if sections_json not in sections_of:
                sections_of[sections_json] = tuple(json.loads(sections_json)) if sections_json else ()
            wanted = shared[key] = Expected(
                batch_id=batch_id, model=model, budget=budget, effort=effort,
                required_sections=sections_of[sections_json], force=bool(force),
                settled=status in TERMINAL_BATCH_STATUSES,
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

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.max_attempts = ledger.max_attempts(DEFAULT_MAX_ATTEMPTS)
        self.saved: list[tuple[str, str, int | None, str | None]] = []
        self.written: list[str] = []  # the files of ``saved``, to flush to disk before marking
        self.not_saved: list[tuple] = []

    def add_saved(
        self, lesson_id: str, batch_id: str, output_tokens: int | None, note: str | None, files: list[str]
    ) -> None:
        self.saved.append(Saved(lesson_id, batch_id, output_tokens, note))
        self.written.extend(files)
        self._maybe_flush()

    def add_not_saved(self, *args) -> None:
        self.not_saved.append(NotSaved(*args))
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

    def __init__(self, ledger: Ledger, output_dir: Path, work_dir: Path, force: bool, report: Report):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.output_dir)
        self.work_dir, self.force, self.report = work_dir, force, report
        self._marks = _Marks(ledger)

    def apply(self, item: ResultLine, wanted: Expected) -> None:
        prepared = prepare(item.line_number, item, wanted.required_sections, os.fspath(self.output_dir))
        _decide(prepared, wanted, self.output_dir, self.work_dir, self.force, self.report, self._marks)

    def flush(self) -> None:
        self._marks.flush()


def _apply(
    ledger: Ledger,
    paths: list[Path],
    expected: dict[str, Expected],
    already: dict[str, str | None],  # lesson id -> model, for lessons already processed
    output_dir: Path,
    work_dir: Path,
    force: bool,
    report: Report,
    total: int | None,
    stranger: str,  # why a line for a lesson in neither ``expected`` nor ``already`` is skipped
) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output_dir)
    seen: dict[str, tuple[Path, int]] = {}
    marks = _Marks(ledger)
    progress = ProgressBar("Processing results", total or 0)
    sections = {lesson_id: wanted.required_sections for lesson_id, wanted in expected.items()}
    try:
        with Preparer(sections, output_dir) as preparer:
            for path in paths:
                for prepared in preparer.lines(path):
                    progress.update(advance=1)
                    item = prepared.item
                    if isinstance(item, BadLine):
                        shown = f" ({item.lesson_id})" if item.lesson_id and item.lesson_id not in item.reason else ""
                        report.bad_lines.append(f"{path}:{prepared.line_number}: {item.reason}{shown}")
                        continue
                    lesson_id = item.custom_id
                    if lesson_id in seen:
                        _discard(prepared)
                        first_path, first_line = seen[lesson_id]
                        report.bad_lines.append(
                            f"{path}:{prepared.line_number}: {lesson_id} appears again "
                            f"(first at {first_path}:{first_line}); skipped"
                        )
                        continue
                    seen[lesson_id] = (path, prepared.line_number)
                    wanted = expected.get(lesson_id)
                    if wanted is None:
                        if lesson_id in already:
                            report.already_done.append(lesson_id)
                            report.usage = report.usage + item.usage
                            if already[lesson_id]:
                                report.models_used[already[lesson_id]] += 1
                        else:
                            report.bad_lines.append(f"{path}:{prepared.line_number}: {lesson_id} {stranger}; skipped")
                        continue
                    _decide(prepared, wanted, output_dir, work_dir, force, report, marks)
    finally:
        marks.flush()
        progress.close()


def _discard(prepared: Prepared) -> None:
    if prepared.temporary is not None:
        try:
            os.unlink(prepared.temporary)
        except FileNotFoundError:
            pass


def _decide(
    prepared: Prepared,
    wanted: Expected,
    output_dir: Path,
    work_dir: Path,
    force: bool,
    report: Report,
    marks: _Marks,
) -> None:
    """What a prepared line answering an awaited lesson means: the lesson saved (its temporary
    given its final name), kept aside, or marked with why it was not saved."""
    item = prepared.item
    lesson_id = item.custom_id
    report.usage = report.usage + item.usage
    report.models_used[wanted.model] += 1

    def not_saved(*entry) -> None:
        if wanted.settled:
            marks.add_not_saved(*entry)

    if item.kind == "batch_error":
        state = {"batch_expired": EXPIRED, "batch_cancelled": CANCELLED}.get(item.error_code or "", FAILED)
        reason = item.error_code or "batch_error"
        not_saved(lesson_id, wanted.batch_id, state, f"{reason}: {item.error_message or ''}".strip())
        report.fail(reason, lesson_id)
        return
    if item.kind == "request_error":
        reason = f"http_{item.status_code}"
        detail = f"{reason}: {item.error_code or ''} {item.error_message or ''}".strip()
        not_saved(lesson_id, wanted.batch_id, FAILED, detail)
        report.fail(reason, lesson_id)
        return

    if not models.billed_at_batch_rates(item.service_tier):
        report.other_tiers.setdefault(item.service_tier, []).append(lesson_id)
    if prepared.refused:
        not_saved(lesson_id, wanted.batch_id, FAILED, f"refusal: {item.refusal}")
        report.refusals[lesson_id] = item.refusal
        report.fail("refusal", lesson_id)
        return

    check = prepared.check
    if not check.ok:
        if prepared.text is not None:
            write_atomic(Path(work_dir) / REJECTED_DIR / f"{lesson_id}.md", prepared.text)
        if check.reason == "truncated":
            # At the top of the ladder the lesson is retried as it was; the attempts cap ends that.
            budget, effort = models.retry_settings(wanted.model, wanted.budget, wanted.effort) or (
                wanted.budget, wanted.effort
            )
            not_saved(lesson_id, wanted.batch_id, TRUNCATED, check.detail, budget, effort)
        else:
            state = FAILED if check.reason == "content_filter" else INVALID
            not_saved(lesson_id, wanted.batch_id, state, f"{check.reason}: {check.detail}")
        report.fail(check.reason or "invalid", lesson_id)
        return

    path = ids.lesson_file(output_dir, lesson_id)
    note = None
    if publish(prepared.temporary, path):
        report.saved.append(lesson_id)
    else:
        outcome = _settle_existing(work_dir, lesson_id, prepared.temporary, path, force or wanted.force)
        if outcome == "kept_existing":
            kept = Path(work_dir) / NOT_OVERWRITTEN_DIR / f"{lesson_id}.md"
            with open(prepared.temporary, "rb") as handle:
                write_atomic(kept, handle.read())
            note = f"kept the existing file; the generated lesson is in {kept}"
            report.kept_existing.append(lesson_id)
        elif outcome == "replaced":
            report.replaced.append(lesson_id)
        else:
            report.saved.append(lesson_id)
        _discard(prepared)  # if it did not replace the old file, the lesson is identical or kept aside
    crashpoints.reached("lesson_saved")
    marks.add_saved(lesson_id, wanted.batch_id, item.usage.completion_tokens or None, note, [path])


def _settle_existing(work_dir: Path, lesson_id: str, temporary: str, path: str, overwrite: bool) -> str:
    """A lesson whose file exists already: "saved" (the same bytes: an earlier, interrupted run
    wrote it, only the ledger is behind), "replaced" (the old one kept under replaced/), or
    "kept_existing" (not overwritten)."""
    with open(path, "rb") as handle:
        existing = handle.read()
    with open(temporary, "rb") as handle:
        data = handle.read()
    if existing == data:
        return "saved"
    if not overwrite:
        return "kept_existing"
    stamp = time.strftime("%Y%m%dT%H%M%S")
    write_atomic(Path(work_dir) / REPLACED_DIR / f"{lesson_id}.{stamp}.md", existing)
    os.replace(temporary, path)
    return "replaced"


def format_report(report: Report) -> list[str]:
    saved = len(report.saved) + len(report.replaced)
    lines = [f"{report.label}:"]
    lines.append(f"  saved: {saved}" + (f" ({len(report.replaced)} replaced older files, kept in {REPLACED_DIR}/)" if report.replaced else ""))
    if report.kept_existing:
        lines.append(
            f"  skipped, a lesson file already exists: {len(report.kept_existing)} "
            f"(new versions kept in {NOT_OVERWRITTEN_DIR}/; use --force to overwrite)"
        )
    if report.already_done:
        lines.append(f"  already processed before: {len(report.already_done)}")
    for reason, lesson_ids in sorted(report.failed.items()):
        shown = ", ".join(sorted(lesson_ids)[:10]) + (" ..." if len(lesson_ids) > 10 else "")
        lines.append(f"  not saved ({reason}): {len(lesson_ids)}: {shown}")
        if reason == "refusal":
            lines.extend(f"    {lesson_id} refused: {safe_text(report.refusals[lesson_id], 200)}"
                         for lesson_id in sorted(lesson_ids)[:10] if lesson_id in report.refusals)
    if report.missing:
        shown = ", ".join(report.missing[:10]) + (" ..." if len(report.missing) > 10 else "")
        lines.append(f"  missing from the results: {len(report.missing)}: {shown}")
    if report.bad_lines:
        lines.append(f"  lines skipped: {len(report.bad_lines)}")
        lines.extend(f"    {entry}" for entry in report.bad_lines[:20])
        if len(report.bad_lines) > 20:
            lines.append(f"    ... and {len(report.bad_lines) - 20} more (see --json)")
    for tier, lesson_ids in sorted(report.other_tiers.items(), key=lambda item: str(item[0])):
        shown = ", ".join(sorted(lesson_ids)[:10]) + (" ..." if len(lesson_ids) > 10 else "")
        lines.append(
            f"  served at service tier {tier!r}, not at Batch rates (the 50% discount did not apply): "
            f"{len(lesson_ids)}: {shown}"
        )
    usage = report.usage
    if usage.prompt_tokens or usage.completion_tokens:
        lines.append(
            f"  tokens: {usage.prompt_tokens:,} input ({usage.cached_tokens:,} cached), "
            f"{usage.completion_tokens:,} output ({usage.reasoning_tokens:,} reasoning)"
        )
        lines.append(
            f"  cost at Batch prices: {models.format_cost(report.actual_cost)}"
            + (f" (estimated before submitting: {models.format_cost(report.estimated_cost)})"
               if report.estimated_cost is not None else "")
        )
    return lines
