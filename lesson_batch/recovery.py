"""Rebuilding a lost or damaged run ledger from what survives it.

The ledger is a record that can be rebuilt, never the only copy of what was paid for. Every
batch the tool creates carries metadata naming its shard and run (``api``), the work dir it was
submitted from (a fingerprint of its absolute path, ``lesson_batch_job``), its course, template
and lessons folder, and its token estimate (``job_metadata``); the work dir keeps each batch's
request file under ``submitted/`` until its results are processed.

When a work dir that had been used opens without its ledger (deleted, emptied, or damaged and
set aside; see ``Ledger.open``), ``rebuild`` brings back what can be brought back:

- the API's batches (``GET /v1/batches``, every page, no order assumed) made by this tool from
  this work dir (its fingerprint in the metadata, or its request file or results in the work
  dir) are adopted: their shard and lessons come from the request file in ``submitted/`` (or,
  for a batch still running whose file is gone, from the API's copy of its input file);
- a finished batch whose request file is gone was processed before the ledger was lost (the file
  is removed only then): its lessons are on disk, or were requested again later;
- downloaded results in the work dir are used instead of downloading again;
- lessons of a finished batch whose file is on disk are marked saved; the rest are processed as
  usual, so nothing running or done is paid for again.

What cannot be brought back is said: flex runs (the API lists no chat requests; lessons they
saved are on disk), and batches whose lessons could not be read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import ids
from .api import RUN_METADATA_KEY, SHARD_METADATA_KEY, ApiError, BatchApi, effective_base_url
from .batch_info import BatchInfo
from .batch_sync import ran_nothing
from .defaults import DEFAULT_TEMPLATE
from .errors import LessonBatchError
from .files import display_path, is_lesson_file
from .ledger import Ledger, Saved, ShardLesson
from .states import SUBMITTED, TERMINAL_BATCH_STATUSES
from .submit import (
    COURSE_METADATA_KEY,
    ESTIMATE_METADATA_KEY,
    JOB_METADATA_KEY,
    LESSONS_METADATA_KEY,
    TEMPLATE_METADATA_KEY,
    forget_input,
    job_id,
    keep_input_under_batch,
)
from .workspace import Workspace

# The meta keys of workdir (not imported from there: workdir imports the ledger's users).
_META_FROM_METADATA = {
    COURSE_METADATA_KEY: "curriculum", TEMPLATE_METADATA_KEY: "template", LESSONS_METADATA_KEY: "output_dir",
}


class RecoveryError(LessonBatchError):
    """A lost ledger that cannot be rebuilt safely by this run."""


@dataclass
class RebuildReport:
    """What ``rebuild`` brought back, and what it could not (``text.status.rebuild_lines`` words it)."""

    adopted_running: list[str] = field(default_factory=list)
    adopted_finished: list[str] = field(default_factory=list)  # results to process
    already_saved: list[str] = field(default_factory=list)  # finished, every lesson already on disk
    processed_before: list[str] = field(default_factory=list)  # finished and processed before the loss
    lessons_on_disk: int = 0
    already_known: list[str] = field(default_factory=list)  # in the restored backup already
    not_recovered: list[str] = field(default_factory=list)


def rebuild(
    ledger: Ledger,
    api: BatchApi,
    output_dir: Path | None = None,
    named: Iterable[str] = (),
    before_writing: Callable[[str | None], None] = lambda course: None,
) -> RebuildReport:
    """Adopt this work dir's batches from the API into ``ledger`` (see the module's docstring).

    ``output_dir``: the lessons folder the run was given (else the ledger's, else the batches');
    ``named``: batch ids given on the command line, adopted even without a trace in the work dir;
    ``before_writing`` hears the course the batches name (None: none does) before anything is
    written, and may refuse. Batches the ledger already knows are left alone, so running it
    twice changes nothing."""

    workspace = Workspace(ledger.path.parent)
    named = set(named)
    requests = {path.stem: path for path in workspace.submitted_inputs()}
    ours = _batches_of_this_work_dir(api.list_batches(), workspace, requests, named)
    before_writing(next((c for info in reversed(ours) if (c := info.metadata.get(COURSE_METADATA_KEY))), None))
    _remember_course(ledger, ours)
    report = RebuildReport()
    known_batches = {record.batch_id for record in ledger.batches()}
    known_shards = {record.shard_key for record in ledger.shards()}
    required = _required_sections(ledger, report)
    adopted: list[BatchInfo] = []
    for info in ours:
        if info.id in known_batches or info.metadata[SHARD_METADATA_KEY] in known_shards:
            report.already_known.append(info.id)
            continue
        request_file = _request_file(info, requests, named, workspace, api, report)
        if request_file is not None and _adopt(ledger, workspace, info, request_file, required, report):
            adopted.append(info)
    _mark_lessons_on_disk(ledger, adopted, output_dir, report)
    ledger.rebuilt()
    return report


def _batches_of_this_work_dir(
    batches: Iterable[BatchInfo], workspace: Workspace, requests: dict[str, Path], named: set[str]
) -> list[BatchInfo]:
    """The tool's batches that belong to this work dir (its fingerprint in their metadata, their
    request file or results in it, or named on the command line), oldest first."""
    fingerprint = job_id(workspace.root)
    ours = []
    for info in batches:
        shard_key = info.metadata.get(SHARD_METADATA_KEY)
        if not shard_key:
            continue  # not made by this tool
        if (info.metadata.get(JOB_METADATA_KEY) == fingerprint or info.id in requests or shard_key in requests
                or info.id in named or workspace.file(Workspace.result_file_names(info.id)[0]).is_file()):
            ours.append(info)
    ours.sort(key=lambda info: (info.created_at or 0, info.id))  # lessons end up with their newest batch
    return ours


def _request_file(
    info: BatchInfo, requests: dict[str, Path], named: set[str], workspace: Workspace, api: BatchApi,
    report: RebuildReport,
) -> Path | None:
    """The batch's request file: the one kept in ``submitted/``, else the API's copy of its input.
    None, with the report saying why: a finished batch processed before the ledger was lost, or a
    file the API did not give back."""
    request_file = requests.get(info.id) or requests.get(info.metadata[SHARD_METADATA_KEY])
    if request_file is not None:
        return request_file
    if info.status in TERMINAL_BATCH_STATUSES and info.id not in named:
        report.processed_before.append(info.id)
        return None
    request_file = workspace.submitted_input(info.id)
    try:
        if not info.input_file_id:
            raise ApiError("the API names no input file")
        api.download(info.input_file_id, request_file)
    except ApiError as exc:
        report.not_recovered.append(
            f"batch {info.id} ({info.status}): its request file is not in submitted/ and the API did not give "
            f"it back ({str(exc).splitlines()[0]}); its lessons are not known"
        )
        return None
    return request_file


def _adopt(
    ledger: Ledger, workspace: Workspace, info: BatchInfo, request_file: Path, required: list[str],
    report: RebuildReport,
) -> bool:
    """Record the batch, its shard and its lessons as a submitting run would have; False when its
    request file names no lesson."""
    lessons, model, endpoint = _read_requests(request_file)
    if not lessons:
        report.not_recovered.append(f"batch {info.id}: {display_path(request_file)} names no lesson")
        return False
    shard_key = info.metadata[SHARD_METADATA_KEY]
    prompt_tokens, output_tokens = _estimate(info)
    ledger.record_shard(
        shard_key=shard_key, run_id=info.metadata.get(RUN_METADATA_KEY, "recovered"),
        model=model or info.model or "", input_path=str(request_file), sha256=_sha256(request_file),
        lessons=lessons, prompt_tokens=prompt_tokens, output_tokens=output_tokens, required_sections=required,
        **({"endpoint": endpoint} if endpoint else {}),
    )
    if info.input_file_id:
        ledger.shard_uploaded(shard_key, info.input_file_id)
    ledger.shard_submitted(shard_key, info, ran_nothing=ran_nothing(info))
    keep_input_under_batch(ledger, shard_key, request_file, info.id)
    results, errors = Workspace.result_file_names(info.id)
    if workspace.file(results).is_file() or workspace.file(errors).is_file():
        ledger.name_result_files(info.id, results, errors)
    return True


def _remember_course(ledger: Ledger, ours: list[BatchInfo]) -> None:
    """The API, course, template and lessons folder, from the newest batch that names them, where
    the ledger (a restored backup) does not already say."""
    meta, remember = ledger.meta(), {}
    if ours and "api_base_url" not in meta:
        remember["api_base_url"] = effective_base_url().strip().rstrip("/")
    for info in reversed(ours):
        for key, meta_key in _META_FROM_METADATA.items():
            value = info.metadata.get(key)
            if value and meta_key not in meta and meta_key not in remember:
                remember[meta_key] = value
    if remember:
        ledger.set_meta(remember)


def _required_sections(ledger: Ledger, report: RebuildReport) -> list[str]:
    from .prompt import load_template

    template = ledger.meta().get("template") or str(DEFAULT_TEMPLATE)
    try:
        return list(load_template(template).required_sections)
    except (LessonBatchError, OSError) as exc:
        report.not_recovered.append(
            f"the required sections of the template {template} ({exc}): adopted lessons are checked for none"
        )
        return []


def _read_requests(path: Path) -> tuple[list[ShardLesson], str | None, str | None]:
    """The lessons a request file asks for, with each request's budget and effort (Chat
    Completions or Responses bodies), its model and its endpoint (the lines' url)."""
    lessons, model, endpoint = [], None, None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                request = json.loads(line)
                body = request.get("body") or {}
                lesson_id = request["custom_id"]
            except (ValueError, AttributeError, KeyError, TypeError):
                continue
            if not ids.is_lesson_id(lesson_id) or not isinstance(body, dict):
                continue
            model = model or body.get("model")
            endpoint = endpoint or request.get("url")
            budget = body.get("max_completion_tokens") or body.get("max_output_tokens") or body.get("max_tokens") or 0
            reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
            effort = body.get("reasoning_effort") or reasoning.get("effort")
            lessons.append(ShardLesson(lesson_id, int(budget), effort))
    return lessons, model, endpoint


def _estimate(info: BatchInfo) -> tuple[int, int]:
    try:
        prompt, output = info.metadata.get(ESTIMATE_METADATA_KEY, "").split(",")
        return int(prompt), int(output)
    except ValueError:
        return 0, 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mark_lessons_on_disk(
    ledger: Ledger, adopted: list[BatchInfo], output_dir: Path | None, report: RebuildReport
) -> None:
    """A finished batch's lessons whose file is on disk are saved (the batch was processed before
    the ledger was lost); a batch left with none to process counts as processed."""

    folder = output_dir or (Path(ledger.meta()["output_dir"]) if ledger.meta().get("output_dir") else None)
    for info in adopted:
        record = ledger.batch(info.id)
        if record is None or not record.is_terminal:
            report.adopted_running.append(info.id)
            continue
        if record.processed_at is not None:  # it ran nothing: its lessons went back to pending
            report.already_saved.append(info.id)
            continue
        waiting = ledger.lessons_in_batch(info.id, SUBMITTED)
        on_disk = [
            lesson.lesson_id for lesson in waiting
            if folder is not None and is_lesson_file(ids.lesson_file(folder, lesson.lesson_id))
        ]
        if on_disk:
            note = "its file was on disk when the ledger was rebuilt"
            ledger.lessons_saved([Saved(lesson_id, info.id, note=note) for lesson_id in on_disk])
            report.lessons_on_disk += len(on_disk)
        if len(on_disk) == len(waiting):
            ledger.batch_processed(info.id, {})
            forget_input(ledger.shard_of_batch(info.id))
            report.already_saved.append(info.id)
        else:
            report.adopted_finished.append(info.id)


# --------------------------------------------------------------------------- whose course


def other_course_shown(work_dir: Path, curriculum_path: Path, remembered: str | None) -> str | None:
    """Why the work dir shows it served another course than ``curriculum_path`` (None: it does
    not): the course its batches name (``remembered``, from a rebuilt ledger), or a request file
    under ``submitted/`` asking for a lesson that course does not have."""
    if remembered and Path(remembered).resolve() != Path(curriculum_path).resolve():
        return f"its batches name the curriculum {display_path(Path(remembered))}"
    requests = Workspace(work_dir).submitted_inputs()
    if not requests:
        return None
    from .curriculum import load_curriculum

    try:
        titles = {lesson.id: lesson.title for lesson in load_curriculum(curriculum_path).lessons}
    except (LessonBatchError, OSError):
        return None  # the run says what is wrong with it
    for path in requests:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    request = json.loads(line)
                    lesson_id = request["custom_id"]
                    text = json.dumps(request["body"]["messages"], ensure_ascii=False)
                except (ValueError, KeyError, TypeError):
                    continue
                title = titles.get(lesson_id)
                if title is None or json.dumps(title, ensure_ascii=False)[1:-1] not in text:
                    return f"{display_path(path)} asks for lesson {lesson_id}, which is not that course's {lesson_id}"
                break  # one request a file tells its course
    return None


def refuse_default_course(work_dir: Path, default: Path, reason: str, remembered: str | None,
                          command: Callable[[str], str]) -> RecoveryError:
    """The refusal for a run that names no course in a work dir whose ledger is lost and that
    served another one than the default."""
    given = (
        f"--curriculum {display_path(Path(remembered))}" if remembered else "--curriculum FILE (the course it served)"
    )
    return RecoveryError(
        f"the work dir {display_path(work_dir)} has lost its run ledger and served another course than the default "
        f"{display_path(default)}: {reason}. Nothing was submitted. To go on with that course, run "
        f"{command(given)}: its ledger is rebuilt from the API's batches and nothing running or done is paid again. "
        f"For the default course, use another --work-dir."
    )
