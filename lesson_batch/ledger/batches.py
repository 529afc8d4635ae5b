"""The ledger's shards, batches and flex runs: recording each step of a submission, what the API
says about a batch, and what a flex run sent and was billed for.

A step that moves lessons (a batch recorded, a batch that ran nothing or was given up) moves them
in the same transaction, through ``lifecycle``'s table (``ledger.lessons``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Callable, ContextManager, Iterable

from ..batch_info import CHAT_ENDPOINT, BatchInfo
from ..lifecycle import Event, RanNothing
from ..states import (
    ACTIVE_BATCH_STATUSES,
    SHARD_ABANDONED,
    SHARD_PLANNED,
    SHARD_SUBMITTED,
    SHARD_UPLOADED,
    UNFINISHED_SHARD_STATES,
)
from .file import LedgerError
from .lessons import insert_pending, move_batch_lessons, move_lessons_of
from .records import (
    BatchRecord,
    FlexAnswerRecord,
    FlexRunRecord,
    RequestBudget,
    ShardLesson,
    ShardRecord,
    batch_of,
    from_row,
    shard_of,
)


class BatchTable:
    """The ``Ledger``'s methods about shards, batches and flex runs (it provides ``_db``,
    ``_write`` and ``path``)."""

    _db: sqlite3.Connection
    _write: Callable[[], ContextManager[sqlite3.Connection]]

    # ----------------------------------------------------------------- reading

    def shards(self, states: Iterable[str] | None = None) -> list[ShardRecord]:
        rows = self._db.execute("SELECT * FROM shards ORDER BY created_at, shard_key").fetchall()
        wanted = set(states) if states is not None else None
        return [shard_of(row) for row in rows if wanted is None or row["state"] in wanted]

    def batches(self, batch_ids: Iterable[str] | None = None) -> list[BatchRecord]:
        rows = self._db.execute("SELECT * FROM batches ORDER BY created_at, rowid").fetchall()
        records = [batch_of(row) for row in rows]
        if batch_ids is None:
            return records
        wanted = list(batch_ids)
        by_id = {record.batch_id: record for record in records}
        return [by_id[batch_id] for batch_id in wanted if batch_id in by_id]

    def batch(self, batch_id: str) -> BatchRecord | None:
        row = self._db.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return batch_of(row) if row else None

    def batch_requests(self, batch_id: str) -> dict[str, RequestBudget]:
        """The lessons a batch was asked for, with the budget and effort each request had."""
        rows = self._db.execute(
            "SELECT sl.lesson_id, sl.max_completion_tokens, sl.reasoning_effort FROM shard_lessons sl "
            "JOIN batches b ON b.shard_key = sl.shard_key WHERE b.batch_id = ? ORDER BY sl.lesson_id",
            (batch_id,),
        ).fetchall()
        return {row["lesson_id"]: RequestBudget(row["max_completion_tokens"], row["reasoning_effort"]) for row in rows}

    def lessons_of_unfinished_shards(self) -> frozenset[str]:
        """Lessons of shards an interrupted run left between 'recorded' and 'batch recorded' (their
        batch may exist: the next submitting run adopts it, or plans them again)."""
        placeholders = ",".join("?" * len(UNFINISHED_SHARD_STATES))
        rows = self._db.execute(
            "SELECT sl.lesson_id FROM shard_lessons sl JOIN shards s ON s.shard_key = sl.shard_key "
            f"WHERE s.state IN ({placeholders})",
            UNFINISHED_SHARD_STATES,
        ).fetchall()
        return frozenset(row["lesson_id"] for row in rows)

    def shard_of_batch(self, batch_id: str) -> ShardRecord | None:
        row = self._db.execute(
            "SELECT s.* FROM shards s JOIN batches b ON b.shard_key = s.shard_key WHERE b.batch_id = ?", (batch_id,)
        ).fetchone()
        return shard_of(row) if row else None

    def live_prompt_tokens(self) -> int:
        """Estimated prompt tokens of batches still queued or running (the enqueued-token cap)."""
        placeholders = ",".join("?" * len(ACTIVE_BATCH_STATUSES))
        row = self._db.execute(
            f"SELECT COALESCE(SUM(prompt_tokens_estimate), 0) AS total FROM batches WHERE status IN ({placeholders})",
            ACTIVE_BATCH_STATUSES,
        ).fetchone()
        return int(row["total"])

    # ----------------------------------------------------------------- submitting

    def record_shard(
        self,
        shard_key: str,
        run_id: str,
        model: str,
        input_path: str,
        sha256: str,
        lessons: list[ShardLesson],
        prompt_tokens: int,
        output_tokens: int,
        required_sections: list[str],
        force: bool = False,
        endpoint: str = CHAT_ENDPOINT,
    ) -> None:
        """Before upload: the shard and its lessons, so a crash after this point is recoverable."""
        now = time.time()
        lesson_ids = [lesson_id for lesson_id, _budget, _effort in lessons]
        with self._write() as db:
            db.execute(
                "INSERT INTO shards (shard_key, run_id, model, input_path, sha256, request_count, prompt_tokens, "
                "output_tokens, required_sections, state, created_at, updated_at, endpoint) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (shard_key, run_id, model, input_path, sha256, len(lesson_ids), prompt_tokens, output_tokens,
                 json.dumps(required_sections), SHARD_PLANNED, now, now, endpoint),
            )
            db.executemany(
                "INSERT INTO shard_lessons (shard_key, lesson_id, max_completion_tokens, reasoning_effort) "
                "VALUES (?, ?, ?, ?)",
                [(shard_key, lesson_id, budget, effort) for lesson_id, budget, effort in lessons],
            )
            insert_pending(db, lesson_ids, now)
            db.executemany(
                "UPDATE lessons SET force = ? WHERE lesson_id = ?",
                [(int(force), lesson_id) for lesson_id in lesson_ids],
            )

    def shard_input_moved(self, shard_key: str, input_path: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE shards SET input_path = ?, updated_at = ? WHERE shard_key = ?",
                (input_path, time.time(), shard_key),
            )

    def shard_uploaded(self, shard_key: str, file_id: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE shards SET state = ?, file_id = ?, updated_at = ? WHERE shard_key = ?",
                (SHARD_UPLOADED, file_id, time.time(), shard_key),
            )

    def shard_submitted(self, shard_key: str, batch: BatchInfo, ran_nothing: RanNothing | None = None) -> None:
        """After batch create: record the batch and its shard's lessons in it (``Event.SUBMITTED``),
        in one transaction (``ran_nothing``: as in ``update_batch``)."""
        now = time.time()
        with self._write() as db:
            shard = db.execute("SELECT * FROM shards WHERE shard_key = ?", (shard_key,)).fetchone()
            if shard is None:
                raise LedgerError(f"shard {shard_key} is not in the ledger")
            held = db.execute("SELECT shard_key FROM batches WHERE batch_id = ?", (batch.id,)).fetchone()
            if held is not None and held["shard_key"] != shard_key:
                # The API gave an id this ledger already holds for another batch (a server that
                # reuses ids, e.g. a local test server started again): taking it would mix the two.
                raise LedgerError(
                    f"the API returned batch id {batch.id} for a new batch, but the ledger {self.path} already "
                    f"holds that id for an earlier batch (request file {held['shard_key']}): an API that reuses "
                    "ids cannot be followed safely. Nothing was recorded for the new batch (it runs, and is billed, "
                    "on the server: cancel it there if it is not wanted); check OPENAI_BASE_URL (a local test "
                    "server belongs in its own --work-dir)"
                )
            db.execute(
                "UPDATE shards SET state = ?, batch_id = ?, file_id = COALESCE(file_id, ?), updated_at = ? "
                "WHERE shard_key = ?",
                (SHARD_SUBMITTED, batch.id, batch.input_file_id, now, shard_key),
            )
            db.execute(
                "INSERT INTO batches (batch_id, shard_key, model, status, input_file_id, request_total, created_at, "
                "expires_at, prompt_tokens_estimate, output_tokens_estimate, checked_at, endpoint) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING",
                (batch.id, shard_key, shard["model"], batch.status, batch.input_file_id, shard["request_count"],
                 batch.created_at, batch.expires_at, shard["prompt_tokens"], shard["output_tokens"], now,
                 shard["endpoint"]),
            )
            move_lessons_of(
                db, "SELECT l.lesson_id, l.state, l.attempts FROM lessons l JOIN shard_lessons sl "
                "ON sl.lesson_id = l.lesson_id WHERE sl.shard_key = ?", shard_key,
                Event.SUBMITTED, now, reason=None, new_batch=batch.id,
            )
            _store_batch(db, batch, now, ran_nothing)

    def shard_abandoned(self, shard_key: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE shards SET state = ?, updated_at = ? WHERE shard_key = ?",
                (SHARD_ABANDONED, time.time(), shard_key),
            )

    # ----------------------------------------------------------------- status

    def update_batch(self, batch: BatchInfo, ran_nothing: RanNothing | None = None) -> BatchRecord | None:
        """Store what the API said about a batch. With ``ran_nothing``, in the same transaction,
        ``Event.RAN_NOTHING`` moves its lessons still in it (with that reason), and the batch counts
        as processed: the caller decides when a batch ran nothing (``batch_sync.ran_nothing``)."""
        with self._write() as db:
            _store_batch(db, batch, time.time(), ran_nothing)
        return self.batch(batch.id)

    def give_up_batch(self, batch_id: str, reason: str) -> list[str]:
        """The user gives up a batch the API no longer knows: in one transaction it is marked given
        up (and processed: nothing is followed or downloaded for it), and ``Event.GIVEN_UP`` moves its
        lessons still in it (with ``reason``). Returns those lessons."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE batches SET given_up_at = COALESCE(given_up_at, ?), processed_at = COALESCE(processed_at, ?) "
                "WHERE batch_id = ?",
                (now, now, batch_id),
            )
            return move_batch_lessons(db, batch_id, Event.GIVEN_UP, reason, now)

    def name_result_files(self, batch_id: str, results_file: str, errors_file: str) -> BatchRecord:
        """Record where a batch's result files go, before they are downloaded. A name once
        recorded is kept (a re-run finds the files already downloaded under it)."""
        with self._write() as db:
            db.execute(
                "UPDATE batches SET results_file = COALESCE(results_file, ?), errors_file = COALESCE(errors_file, ?) "
                "WHERE batch_id = ?",
                (results_file, errors_file, batch_id),
            )
        record = self.batch(batch_id)
        if record is None:
            raise LedgerError(f"batch {batch_id} is not in the ledger")
        return record

    def batch_processed(self, batch_id: str, usage: dict) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE batches SET processed_at = ?, usage = ? WHERE batch_id = ?",
                (time.time(), json.dumps(usage), batch_id),
            )

    # ----------------------------------------------------------------- flex

    def flex_run_started(self, run_id: str, model: str, requested: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO flex_runs (run_id, model, requested, started_at) VALUES (?, ?, ?, ?)",
                (run_id, model, requested, time.time()),
            )

    def flex_run_finished(self, run_id: str, stop_reason: str | None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE flex_runs SET finished_at = ?, stop_reason = ? WHERE run_id = ?",
                (time.time(), stop_reason, run_id),
            )

    def flex_answers_received(self, answers: list[FlexAnswerRecord]) -> None:
        """Answers that arrived, and are paid for, recorded before (or with) the outcome of their lessons."""
        with self._write() as db:
            db.executemany(
                "INSERT INTO flex_answers (run_id, lesson_id, service_tier, prompt_tokens, cached_tokens, "
                "completion_tokens, reasoning_tokens, received_at, cache_write_tokens, reasoning_effort) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (a.run_id, a.lesson_id, a.service_tier, a.prompt_tokens, a.cached_tokens, a.completion_tokens,
                     a.reasoning_tokens, a.received_at, a.cache_write_tokens, a.reasoning_effort)
                    for a in answers
                ],
            )

    def flex_runs(self) -> list[FlexRunRecord]:
        rows = self._db.execute("SELECT * FROM flex_runs ORDER BY started_at, run_id").fetchall()
        return [from_row(FlexRunRecord, row) for row in rows]

    def flex_answers(self, run_id: str | None = None) -> list[FlexAnswerRecord]:
        if run_id is None:
            rows = self._db.execute("SELECT * FROM flex_answers ORDER BY received_at").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM flex_answers WHERE run_id = ? ORDER BY received_at", (run_id,)
            ).fetchall()
        return [from_row(FlexAnswerRecord, row) for row in rows]

    def requested_lesson_ids(self, batch_id: str) -> list[str]:
        """The lessons a batch was asked for (``batch_requests`` without the settings)."""
        rows = self._db.execute(
            "SELECT sl.lesson_id FROM shard_lessons sl JOIN batches b ON b.shard_key = sl.shard_key "
            "WHERE b.batch_id = ?",
            (batch_id,),
        )
        return [row[0] for row in rows.fetchall()]


def _store_batch(db: sqlite3.Connection, batch: BatchInfo, now: float, ran_nothing: RanNothing | None) -> None:
    errors = json.dumps([error.__dict__ for error in batch.errors])
    db.execute(
        "UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, request_total = ?, "
        "request_completed = ?, request_failed = ?, errors = ?, created_at = COALESCE(?, created_at), "
        "expires_at = COALESCE(?, expires_at), checked_at = ?, api_usage = COALESCE(?, api_usage) "
        "WHERE batch_id = ?",
        (batch.status, batch.output_file_id, batch.error_file_id, batch.request_total,
         batch.request_completed, batch.request_failed, errors, batch.created_at, batch.expires_at, now,
         json.dumps(batch.usage) if batch.usage is not None else None, batch.id),
    )
    if ran_nothing is None:
        return
    move_batch_lessons(db, batch.id, Event.RAN_NOTHING, ran_nothing.reason, now)
    db.execute("UPDATE batches SET processed_at = COALESCE(processed_at, ?) WHERE batch_id = ?", (now, batch.id))

