"""Builds work dirs as version 1 of the tool left them, for the ledger upgrade tests.

The schema comes from ``tests/ledger_schema_v1.sql`` (the tables exactly as version 1 created
them); the rows and files are written here the way version 1 wrote them: a shard and its
lessons per batch, the batch's status as last seen, lessons ``submitted`` while their batch is
not processed, and the first batch's results under the plain file names.

``V1WorkDir`` writes only the ledger and files. ``submit_to`` also makes the batch real on a
local server, through the real ``openai`` client, so the new version can follow it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

V1_SCHEMA = Path(__file__).resolve().parent / "ledger_schema_v1.sql"
PLAIN_RESULTS = "datagov_lessons_results.jsonl"
PLAIN_ERRORS = "datagov_lessons_errors.jsonl"
MODEL = "gpt-6.1-terra"


@dataclass
class V1Batch:
    batch_id: str
    lesson_ids: list[str]
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: float = 1_764_000_000.0
    processed: bool = False


class V1WorkDir:
    def __init__(self, work_dir: Path):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.work_dir / "ledger.sqlite3"
        with self._db() as db:
            db.executescript(V1_SCHEMA.read_text(encoding="utf-8"))
            db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def add_batch(self, batch: V1Batch, *, lesson_state: str | None = None) -> None:
        """The rows version 1 wrote for a submitted batch (and, if ``processed``, after processing)."""
        shard_key = f"run{batch.batch_id[-6:]}-s001"
        now = time.time()
        state = lesson_state or ("succeeded" if batch.processed else "submitted")
        with self._db() as db:
            db.execute(
                "INSERT INTO shards (shard_key, run_id, model, input_path, sha256, request_count, prompt_tokens, "
                "output_tokens, required_sections, state, file_id, batch_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'sha', ?, 1000, 4000, '[]', 'submitted', 'file-in', ?, ?, ?)",
                (shard_key, shard_key[:-5], MODEL, str(self.work_dir / "datagov_lessons_input.jsonl"),
                 len(batch.lesson_ids), batch.batch_id, now, now),
            )
            db.executemany(
                "INSERT INTO shard_lessons (shard_key, lesson_id, max_completion_tokens, reasoning_effort) "
                "VALUES (?, ?, 16000, NULL)",
                [(shard_key, lesson_id) for lesson_id in batch.lesson_ids],
            )
            db.execute(
                "INSERT INTO batches (batch_id, shard_key, model, status, input_file_id, output_file_id, "
                "error_file_id, request_total, created_at, expires_at, prompt_tokens_estimate, "
                "output_tokens_estimate, checked_at, processed_at) "
                "VALUES (?, ?, ?, ?, 'file-in', ?, ?, ?, ?, ?, 1000, 4000, ?, ?)",
                (batch.batch_id, shard_key, MODEL, batch.status, batch.output_file_id, batch.error_file_id,
                 len(batch.lesson_ids), batch.created_at, batch.created_at + 86_400, now,
                 now if batch.processed else None),
            )
            db.executemany(
                "INSERT INTO lessons (lesson_id, state, batch_id, attempts, updated_at) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (lesson_id) DO UPDATE SET state = excluded.state, batch_id = excluded.batch_id",
                [(lesson_id, state, batch.batch_id, now) for lesson_id in batch.lesson_ids],
            )

    def write_results(self, name: str, lesson_ids: list[str]) -> Path:
        """A downloaded output file as version 1 kept it, one success line per lesson."""
        path = self.work_dir / name
        with open(path, "w", encoding="utf-8") as handle:
            for lesson_id in lesson_ids:
                handle.write(json.dumps(result_line(lesson_id)) + "\n")
        return path

    def query(self, sql: str, *params) -> list[tuple]:
        with self._db() as db:
            return db.execute(sql, params).fetchall()


def result_line(lesson_id: str, content: str = "# Lesson\n") -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    body = {"object": "chat.completion", "model": MODEL, "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}
    return {"id": f"batch_req_{lesson_id}", "custom_id": lesson_id,
            "response": {"status_code": 200, "request_id": "req", "body": body}, "error": None}


def request_line(lesson_id: str) -> dict:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Write a lesson."},
            {"role": "user", "content": f"Lesson: {lesson_id}"},
        ],
        "max_completion_tokens": 16000,
    }
    return {"custom_id": lesson_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def submit_to(client, work_dir: Path, lesson_ids: list[str]):
    """What version 1 did to submit: write the input file, upload it, create the batch. Returns
    the API's batch object (the caller records it with ``V1WorkDir.add_batch``)."""
    path = Path(work_dir) / f"input-{lesson_ids[0]}.jsonl"
    path.write_text("".join(json.dumps(request_line(lesson_id)) + "\n" for lesson_id in lesson_ids), encoding="utf-8")
    with open(path, "rb") as handle:
        uploaded = client.files.create(file=(path.name, handle, "application/jsonl"), purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
        metadata={"lesson_batch_shard": f"run-{lesson_ids[0]}-s001"},
    )
