"""Submitting a plan: upload each shard and create its batch, recording every step first.

The order of writes is what makes it safe to kill the process at any moment:

1. ``record_shard``: the shard and its lessons go into the ledger (nothing paid yet);
2. upload the JSONL file, then ``shard_uploaded`` with the file id;
3. create the batch with metadata naming the run and the shard, then ``shard_submitted``.

A run that died between two of these steps left a shard in ``planned`` or ``uploaded``. The next
run first looks for a batch whose metadata names that shard (the create may have reached the
API even if its answer never came back) and adopts it; only when there is none does it delete
the orphaned upload and abandon the shard, whose lessons are then simply planned again. So a
batch is never created twice for the same lessons, and no uploaded file is left behind.

Each shard's request file is moved from the plan's name to ``submitted/`` before it is uploaded
(named after its batch once the batch exists), so a later plan never overwrites a file the API
is working from, and a validation error's line number can be looked up. It is deleted once the
batch's results are processed.

Rolling submission: with an enqueued-token cap, shards are submitted only while the batches
already queued or running leave room under the cap; the remaining lessons stay pending and are
submitted by a later run (or by ``--wait``, as earlier batches finish).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import crashpoints
from .api import RUN_METADATA_KEY, SHARD_METADATA_KEY, UPLOAD_PREFIX, ApiError, BatchApi
from .batch_info import BatchInfo
from .batch_sync import ran_nothing
from .ledger import Ledger, ShardLesson, ShardRecord
from .output import Events, no_events
from .plan import Plan
from .shards import Shard
from .states import UNFINISHED_SHARD_STATES
from .workspace import Workspace

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")

# How far back to look for a batch that a dead run may have created: the shard was recorded
# before the create call, so its batch cannot be older than the record (clocks may drift a little).
ADOPTION_CLOCK_SLACK_SECONDS = 15 * 60

# What each batch carries besides its run and shard, so that a lost ledger can be rebuilt from
# the API's batches (``recovery``).
JOB_METADATA_KEY = "lesson_batch_job"
COURSE_METADATA_KEY = "lesson_batch_course"
TEMPLATE_METADATA_KEY = "lesson_batch_template"
LESSONS_METADATA_KEY = "lesson_batch_lessons_dir"
ESTIMATE_METADATA_KEY = "lesson_batch_estimate"  # "prompt tokens,output tokens" of the shard
METADATA_VALUE_LIMIT = 512  # the API's limit on a metadata value (16 pairs, keys up to 64 characters)


def job_id(work_dir: Path | str) -> str:
    """The work dir's fingerprint in a batch's metadata: it survives the ledger."""
    return hashlib.sha256(str(Path(work_dir).resolve()).encode("utf-8")).hexdigest()[:24]


def job_metadata(plan, ledger: Ledger) -> dict[str, str]:
    """What a batch carries besides its run and shard: the work dir, course, template and lessons
    folder it belongs to (a path longer than the API allows is left out)."""
    work_dir = plan.shards[0].path.parent if plan.shards else None
    values = {
        JOB_METADATA_KEY: job_id(ledger.path.parent if ledger.path is not None else work_dir or "."),
        COURSE_METADATA_KEY: str(Path(plan.curriculum.path).resolve()),
        TEMPLATE_METADATA_KEY: str(Path(plan.template.path).resolve()),
    }
    output_dir = ledger.meta().get("output_dir")
    if output_dir:
        values[LESSONS_METADATA_KEY] = output_dir
    return {key: value for key, value in values.items() if len(value) <= METADATA_VALUE_LIMIT}


@dataclass
class SubmitReport:
    submitted: list[BatchInfo] = field(default_factory=list)
    adopted: list[BatchInfo] = field(default_factory=list)
    abandoned_shards: list[str] = field(default_factory=list)
    deferred_lessons: list[str] = field(default_factory=list)  # waiting for room under the token cap
    # A whole-job cancel (check_batch_status.py --cancel) came while this run was submitting: the
    # lessons it did not submit, and the batches it cancelled itself (created as the cancel came).
    stopped_by_cancel: list[str] = field(default_factory=list)
    cancelled_on_creation: list[str] = field(default_factory=list)
    cancel_seen: bool = False


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


# --------------------------------------------------------------------------- events (worded by text.events)


@dataclass(frozen=True)
class ShardAdopted:
    """A batch an interrupted run created for this shard was found and adopted."""

    batch_id: str
    shard_key: str


@dataclass(frozen=True)
class ShardCleanedUp:
    """A shard an interrupted run recorded never became a batch: its uploads deleted, its lessons
    planned again."""

    shard_key: str
    deleted_files: tuple[str, ...]
    lessons: int


@dataclass(frozen=True)
class Uploading:
    path: Path
    requests: int
    size_bytes: int


@dataclass(frozen=True)
class BatchCreated:
    batch_id: str
    lessons: int
    status: object  # as the API said it (a BatchStatus)


@dataclass(frozen=True)
class CancelBeforeShard:
    """A whole-job cancel was seen before a create: ``not_submitted`` lessons of this run were not."""

    not_submitted: int


@dataclass(frozen=True)
class CancelledOnCreation:
    """A whole-job cancel was recorded while this batch was created: it was cancelled at once."""

    batch_id: str
    status: object  # as the API said it (a BatchStatus)


@dataclass(frozen=True)
class LaterNotSubmitted:
    """After a batch cancelled on creation, ``lessons`` of this run's later shards were not submitted."""

    lessons: int


def upload_name(shard_key: str) -> str:
    """The file name the shard is uploaded under: it lets a later run find an orphaned upload."""
    return f"{UPLOAD_PREFIX}{shard_key}.jsonl"


def recover_unfinished_shards(ledger: Ledger, api: BatchApi, events: Events = no_events) -> SubmitReport:
    """Settle every shard a previous run left between 'recorded' and 'batch recorded'."""
    report = SubmitReport()
    for shard in ledger.shards(UNFINISHED_SHARD_STATES):
        batch = api.find_batch_for_shard(shard.shard_key, shard.created_at - ADOPTION_CLOCK_SLACK_SECONDS)
        if batch is not None:
            ledger.shard_submitted(shard.shard_key, batch, ran_nothing=ran_nothing(batch))
            keep_input_under_batch(ledger, shard.shard_key, Path(shard.input_path), batch.id)
            report.adopted.append(batch)
            events(ShardAdopted(batch.id, shard.shard_key))
            continue
        orphans = {remote.id for remote in api.find_uploads(upload_name(shard.shard_key))}
        if shard.file_id:
            orphans.add(shard.file_id)
        for file_id in sorted(orphans):
            api.delete_file(file_id)
        ledger.shard_abandoned(shard.shard_key)
        forget_input(shard)
        report.abandoned_shards.append(shard.shard_key)
        events(ShardCleanedUp(shard.shard_key, tuple(sorted(orphans)), shard.request_count))
    return report


def cancelled_since(ledger: Ledger, cancels_at_start: int | None) -> bool:
    """Whether a whole-job cancel was recorded after a run noted ``cancels_at_start``."""
    return cancels_at_start is not None and ledger.cancel_requests() > cancels_at_start


def submit_plan(
    plan: Plan,
    ledger: Ledger,
    api: BatchApi,
    run_id: str,
    max_enqueued_tokens: int | None = None,
    force: bool = False,
    events: Events = no_events,
    cancels_at_start: int | None = None,
) -> SubmitReport:
    """Upload and create a batch for each shard of the plan that fits under the token cap.

    ``cancels_at_start``: the ledger's count of whole-job cancels when the run started. A cancel
    recorded since is seen before each create (nothing more is submitted) and after each (the
    batch just created is cancelled at once)."""
    report = SubmitReport()
    live_tokens = ledger.live_prompt_tokens()
    job = job_metadata(plan, ledger)
    for position, shard in enumerate(plan.shards):
        if cancelled_since(ledger, cancels_at_start):
            _stop_before_shard(report, plan, position, events)
            break
        if not _room_for(shard, live_tokens, max_enqueued_tokens):
            report.deferred_lessons.extend(shard.lesson_ids)
            continue
        batch = _submit_shard(plan, shard, ledger, api, run_id, job, force, events)
        report.submitted.append(batch)
        live_tokens += shard.prompt_tokens
        # Checked after the batch is recorded: a cancel that read the ledger before it was recorded
        # is seen here, and one that came later found it in the ledger and cancelled it itself.
        if cancelled_since(ledger, cancels_at_start):
            _stop_after_batch(report, plan, position, ledger, api, batch.id, events)
            break
    return report


def _room_for(shard: Shard, live_tokens: int, max_enqueued_tokens: int | None) -> bool:
    """Whether the shard fits under the enqueued-token cap beside the batches queued or running (the
    first shard always does, however large, when nothing else is)."""
    return max_enqueued_tokens is None or live_tokens <= 0 or live_tokens + shard.prompt_tokens <= max_enqueued_tokens


def _submit_shard(
    plan: Plan, shard: Shard, ledger: Ledger, api: BatchApi, run_id: str, job: dict[str, str], force: bool,
    events: Events,
) -> BatchInfo:
    """Record one shard, then upload it, then create its batch, recording each step (see the module's note)."""
    shard_key = f"{run_id}-s{shard.index + 1:03d}"
    # The request file leaves the plan's name, which the next plan (a dry run too) overwrites:
    # it is kept under its batch until the batch's results are processed.
    input_path = Workspace(shard.path.parent).submitted_input(shard_key)
    ledger.record_shard(
        shard_key=shard_key,
        run_id=run_id,
        model=plan.settings.model,
        input_path=str(input_path),
        sha256=shard.sha256,
        lessons=[
            ShardLesson(lesson_id, budget, effort)
            for lesson_id, (budget, effort) in zip(shard.lesson_ids, shard.budgets, strict=True)
        ],
        prompt_tokens=shard.prompt_tokens,
        output_tokens=shard.output_tokens,
        required_sections=list(plan.template.required_sections),
        force=force,
        endpoint=plan.settings.endpoint_path,
    )
    input_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(shard.path, input_path)
    crashpoints.reached("shard_recorded")
    events(Uploading(input_path, shard.request_count, shard.size_bytes))
    file_id = api.upload(input_path, upload_name(shard_key))
    crashpoints.reached("after_upload")
    ledger.shard_uploaded(shard_key, file_id)
    batch = api.create_batch(file_id, _batch_metadata(plan, shard, run_id, shard_key, job), plan.settings.endpoint_path)
    crashpoints.reached("after_create")
    ledger.shard_submitted(shard_key, batch, ran_nothing=ran_nothing(batch))
    keep_input_under_batch(ledger, shard_key, input_path, batch.id)
    events(BatchCreated(batch.id, shard.request_count, batch.status))
    return batch


def _batch_metadata(plan: Plan, shard: Shard, run_id: str, shard_key: str, job: dict[str, str]) -> dict[str, str]:
    """What a shard's batch carries: its run and shard (for adoption), and the job (for recovery)."""
    return {
        RUN_METADATA_KEY: run_id,
        SHARD_METADATA_KEY: shard_key,
        "lessons": str(shard.request_count),
        "description": f"{plan.curriculum.name} lessons, shard {shard.index + 1} of {len(plan.shards)}"[:512],
        **job,
        ESTIMATE_METADATA_KEY: f"{shard.prompt_tokens},{shard.output_tokens}",
    }


def _stop_before_shard(report: SubmitReport, plan: Plan, position: int, events: Events) -> None:
    """A cancel was recorded before this shard's batch was created: none from here on is submitted."""
    report.cancel_seen = True
    report.stopped_by_cancel.extend(lesson_id for later in plan.shards[position:] for lesson_id in later.lesson_ids)
    events(CancelBeforeShard(len(report.stopped_by_cancel)))


def _stop_after_batch(
    report: SubmitReport, plan: Plan, position: int, ledger: Ledger, api: BatchApi, batch_id: str,
    events: Events,
) -> None:
    """A cancel was recorded as this shard's batch was created: cancel it, and submit no later shard."""
    report.cancel_seen = True
    _cancel_new_batch(ledger, api, batch_id, events)
    report.cancelled_on_creation.append(batch_id)
    later = [lesson_id for rest in plan.shards[position + 1:] for lesson_id in rest.lesson_ids]
    report.stopped_by_cancel.extend(later)
    if later:
        events(LaterNotSubmitted(len(later)))


def _cancel_new_batch(ledger: Ledger, api: BatchApi, batch_id: str, events: Events) -> None:
    """Cancel a batch this run created as a cancel of the whole job was recorded."""
    try:
        info = api.cancel_batch(batch_id)
    except ApiError as exc:
        if exc.status != 409:  # 409: already cancelled (by the run that asked)
            raise
        info = api.get_batch(batch_id)
    ledger.update_batch(info, ran_nothing=ran_nothing(info))
    events(CancelledOnCreation(batch_id, info.status))


def keep_input_under_batch(ledger: Ledger, shard_key: str, input_path: Path, batch_id: str) -> None:
    """Rename a submitted request file after its batch, so an error's line number can be looked
    up in ``submitted/<batch id>.jsonl``. The ledger follows the rename; a crash in between
    leaves the shard's name, which the ledger still points to."""
    if not Workspace.is_submitted_input(input_path) or not _SAFE_NAME.fullmatch(batch_id):
        return  # a file of an older version's layout, or an id that is no file name: left as it is
    final = input_path.with_name(f"{batch_id}.jsonl")
    try:
        os.replace(input_path, final)
    except OSError:
        return  # keeps its shard name; the ledger points there
    ledger.shard_input_moved(shard_key, str(final))


def forget_input(shard: ShardRecord | None) -> None:
    """A batch's request file is no longer needed once its results are processed."""
    if shard is None or not Workspace.is_submitted_input(shard.input_path):
        return
    try:
        os.unlink(shard.input_path)
    except OSError:
        pass
