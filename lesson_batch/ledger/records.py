"""The ledger's records: what it hands out (a shard, a batch, a lesson, a flex run and answer) and
what it is told (a lesson saved, a lesson not saved), and how a record is read from its row."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from typing import NamedTuple

from ..batch_info import CHAT_ENDPOINT, BatchError
from ..states import RESULT_BATCH_STATUSES, TERMINAL_BATCH_STATUSES, LessonState, ShardState


@dataclass(frozen=True)
class ShardRecord:
    shard_key: str
    run_id: str
    model: str
    input_path: str
    sha256: str
    request_count: int
    prompt_tokens: int
    output_tokens: int
    required_sections: tuple[str, ...]
    state: ShardState
    file_id: str | None
    batch_id: str | None
    created_at: float
    endpoint: str = CHAT_ENDPOINT  # of its requests: /v1/chat/completions or /v1/responses


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    shard_key: str
    model: str
    status: str
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    request_total: int
    request_completed: int
    request_failed: int
    errors: tuple[BatchError, ...]
    created_at: float | None
    expires_at: float | None
    prompt_tokens_estimate: int
    output_tokens_estimate: int
    checked_at: float | None
    processed_at: float | None
    usage: dict | None
    # Names (inside the work dir) of the downloaded output and error files, chosen and recorded
    # before downloading: a re-run finds a batch's files only through these.
    results_file: str | None = None
    errors_file: str | None = None
    # The batch's own usage as the API reported it (``BatchInfo.usage``): the bill. None: not seen.
    api_usage: dict | None = None
    # When the user gave it up (the API answered 404 for it): nothing is followed or processed for it.
    given_up_at: float | None = None
    endpoint: str = CHAT_ENDPOINT  # of its requests: /v1/chat/completions or /v1/responses

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_BATCH_STATUSES or self.given_up_at is not None

    @property
    def awaits_processing(self) -> bool:
        return self.status in RESULT_BATCH_STATUSES and self.processed_at is None


@dataclass(frozen=True)
class LessonRecord:
    lesson_id: str
    state: LessonState
    batch_id: str | None
    reason: str | None
    attempts: int
    retry_budget: int | None
    retry_effort: str | None
    output_tokens: int | None
    force: bool
    updated_at: float
    saved_in: str | None = None  # the lessons folder a saved lesson was saved in


class RequestBudget(NamedTuple):
    """What a lesson's request allows the model: its output budget (``max_completion_tokens``)
    and its reasoning effort (None: the model's default)."""

    budget: int
    effort: str | None


class ShardLesson(NamedTuple):
    """A lesson of a shard, for ``record_shard``: its id and what its request allows."""

    lesson_id: str
    budget: int
    effort: str | None


@dataclass(frozen=True)
class Saved:
    """A lesson whose file is on disk, for ``lessons_saved``."""

    lesson_id: str
    batch_id: str
    output_tokens: int | None = None  # measured
    note: str | None = None
    folder: str | None = None  # the lessons folder it was saved in (absolute)


@dataclass(frozen=True)
class NotSaved:
    """A lesson whose result brought no lesson to save, for ``lessons_not_saved``: the state its
    outcome asks for (a key of ``lifecycle.OUTCOMES``: ``needs_attention`` for a request that fails
    again unchanged), why, and the budget and effort its retry gets when they change (a truncated
    lesson's bigger budget)."""

    lesson_id: str
    batch_id: str
    state: str
    reason: str
    retry_budget: int | None = None
    retry_effort: str | None = None


@dataclass(frozen=True)
class FlexRunRecord:
    run_id: str
    model: str
    requested: int
    started_at: float
    finished_at: float | None
    stop_reason: str | None


@dataclass(frozen=True)
class FlexAnswerRecord:
    """One answer a flex request got (and was billed for)."""

    run_id: str
    lesson_id: str
    service_tier: str | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    received_at: float
    cache_write_tokens: int = 0  # prompt tokens written to the prompt cache
    reasoning_effort: str | None = None  # the effort the request was sent with (None: the model's default)


def from_row(record_type, row: sqlite3.Row, **converted):
    """A record from a row of its table: columns are named like the fields; ``converted`` gives
    the fields stored in another form (JSON text, 0/1)."""
    values = {f.name: row[f.name] for f in fields(record_type) if f.name not in converted}
    return record_type(**values, **converted)


def lesson_of(row: sqlite3.Row) -> LessonRecord:
    return from_row(LessonRecord, row, state=LessonState(row["state"]), force=bool(row["force"]))


def shard_of(row: sqlite3.Row) -> ShardRecord:
    return from_row(
        ShardRecord, row, state=ShardState(row["state"]), required_sections=tuple(json.loads(row["required_sections"]))
    )


def batch_of(row: sqlite3.Row) -> BatchRecord:
    return from_row(
        BatchRecord,
        row,
        errors=tuple(BatchError(**error) for error in json.loads(row["errors"] or "[]")),
        usage=json.loads(row["usage"]) if row["usage"] else None,
        api_usage=json.loads(row["api_usage"]) if row["api_usage"] else None,
    )

