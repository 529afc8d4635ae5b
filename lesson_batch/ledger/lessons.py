"""The ledger's lessons: reading them, and recording what happened to them.

Every change of a lesson's state goes the same way, inside the one transaction of the method
that records it: read the lessons' state, batch and attempts (``_Current``), ask
``lifecycle.step`` what the event does to each, and write its answer. No rule lives here: which
event may move a lesson from which state, what counts as an attempt and when one is given back,
and the attempts cap are ``lifecycle``'s table. An event the table refuses leaves the lesson as
it is (a stale result for a lesson saved or in another batch changes nothing).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Callable, ContextManager, Iterable

from .. import lifecycle
from ..lifecycle import Event, Step
from ..states import SUBMITTED, SUCCEEDED
from .records import LessonRecord, NotSaved, RequestBudget, Saved, lesson_of

MAX_ATTEMPTS_META_KEY = "max_attempts"  # the cap the last submitting run used (see max_attempts)
REASON_LIMIT = 2000  # characters of a reason kept
_CHUNK = 500  # lesson ids per query (SQLite's limit on parameters is 999 in older versions)


class _Current:
    """The lessons' state, batch and attempts as this transaction sees them, kept up to date as
    each is moved, so two events for one lesson in one group apply in turn."""

    def __init__(self, db: sqlite3.Connection, lesson_ids: Iterable[str]):
        wanted = list(dict.fromkeys(lesson_ids))
        self.rows: dict[str, tuple[str, str | None, int]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            rows = db.execute(
                "SELECT lesson_id, state, batch_id, attempts FROM lessons "
                f"WHERE lesson_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for lesson_id, state, batch_id, attempts in rows:
                self.rows[lesson_id] = (state, batch_id, attempts)

    def step(self, lesson_id: str, event: Event, *, in_batch: str | None = None, cap: int | None = None,
             new_batch: str | None = None) -> Step | None:
        """What ``event`` does to the lesson (None: unknown, refused, or ``in_batch`` is not its
        batch); the move is remembered for the next event of the same lesson."""
        row = self.rows.get(lesson_id)
        if row is None or (in_batch is not None and row[1] != in_batch):
            return None
        moved = lifecycle.step(row[0], event, row[2], cap)
        if moved is not None:
            self.rows[lesson_id] = (moved.state, new_batch if new_batch is not None else row[1], moved.attempts)
        return moved


def move_lessons_of(
    db: sqlite3.Connection, select: str, key: str, event: Event, now: float, reason: str | None = None,
    new_batch: str | None = None,
) -> list[str]:
    """``event`` for each lesson ``select`` (a query of lesson id, state and attempts, given
    ``key``) names; the lesson's reason becomes ``reason``, and its batch ``new_batch`` if given.
    Returns the lessons moved, in the query's order."""
    moved_ids: list[str] = []
    alike: dict[tuple[str, int], list[str]] = {}  # lessons that get the same state and attempts
    for lesson_id, state, attempts in db.execute(select, (key,)).fetchall():
        moved = lifecycle.step(state, event, attempts)
        if moved is not None:
            moved_ids.append(lesson_id)
            alike.setdefault((moved.state, moved.attempts), []).append(lesson_id)
    for (state, attempts), lesson_ids in alike.items():
        for start in range(0, len(lesson_ids), _CHUNK):
            chunk = lesson_ids[start:start + _CHUNK]
            db.execute(
                "UPDATE lessons SET state = ?, attempts = ?, reason = ?, batch_id = COALESCE(?, batch_id), "
                f"updated_at = ? WHERE lesson_id IN ({','.join('?' * len(chunk))})",
                (state, attempts, reason, new_batch, now, *chunk),
            )
    return moved_ids


def move_batch_lessons(db: sqlite3.Connection, batch_id: str, event: Event, reason: str, now: float) -> list[str]:
    """``event`` (a batch that ran nothing, or was given up) for every lesson in ``batch_id``."""
    return move_lessons_of(
        db, "SELECT lesson_id, state, attempts FROM lessons WHERE batch_id = ? ORDER BY lesson_id", batch_id,
        event, now, reason[:REASON_LIMIT],
    )


def insert_pending(db: sqlite3.Connection, lesson_ids: Iterable[str], now: float) -> None:
    """Lessons the ledger meets for the first time start in ``lifecycle.FIRST_STATE``."""
    db.executemany(
        "INSERT INTO lessons (lesson_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (lesson_id) DO NOTHING",
        [(lesson_id, lifecycle.FIRST_STATE, now) for lesson_id in lesson_ids],
    )


class LessonTable:
    """The ``Ledger``'s methods about lessons (it provides ``_db`` and ``_write``)."""

    _db: sqlite3.Connection
    _write: Callable[[], ContextManager[sqlite3.Connection]]

    # ----------------------------------------------------------------- reading

    def lessons(self, lesson_ids: Iterable[str] | None = None) -> dict[str, LessonRecord]:
        rows = self._db.execute("SELECT * FROM lessons ORDER BY lesson_id").fetchall()
        records = {row["lesson_id"]: lesson_of(row) for row in rows}
        if lesson_ids is None:
            return records
        return {lesson_id: records[lesson_id] for lesson_id in lesson_ids if lesson_id in records}

    def in_flight_lessons(self, state: str = SUBMITTED) -> frozenset[str]:
        """Lessons in a batch not processed yet (or, with ``state=FLEX``, sent through flex with no
        outcome recorded)."""
        rows = self._db.execute("SELECT lesson_id FROM lessons WHERE state = ?", (state,)).fetchall()
        return frozenset(row["lesson_id"] for row in rows)

    def saved_folders(self) -> dict[str, str | None]:
        """Lessons recorded as saved, with the lessons folder each was saved in (None: not recorded)."""
        rows = self._db.execute("SELECT lesson_id, saved_in FROM lessons WHERE state = ?", (SUCCEEDED,)).fetchall()
        return {row["lesson_id"]: row["saved_in"] for row in rows}

    def retry_budgets(self) -> dict[str, RequestBudget]:
        """Lessons whose next request gets another budget (a truncated lesson's bigger one)."""
        rows = self._db.execute(
            "SELECT lesson_id, retry_budget, retry_effort FROM lessons WHERE retry_budget IS NOT NULL"
        ).fetchall()
        return {row["lesson_id"]: RequestBudget(row["retry_budget"], row["retry_effort"]) for row in rows}

    def measured_output_tokens(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT lesson_id, output_tokens FROM lessons WHERE output_tokens IS NOT NULL"
        ).fetchall()
        return {row["lesson_id"]: row["output_tokens"] for row in rows}

    def lessons_in_batch(self, batch_id: str, state: str | None = None) -> list[LessonRecord]:
        if state is None:
            rows = self._db.execute("SELECT * FROM lessons WHERE batch_id = ? ORDER BY lesson_id", (batch_id,))
        else:
            rows = self._db.execute(
                "SELECT * FROM lessons WHERE batch_id = ? AND state = ? ORDER BY lesson_id", (batch_id, state)
            )
        return [lesson_of(row) for row in rows.fetchall()]

    def attempts_of_unsaved(self) -> dict[str, int]:
        """How many times the request of each lesson not saved (nor in flight) has run."""
        states = sorted(lifecycle.AT_REST_UNSAVED)
        rows = self._db.execute(
            f"SELECT lesson_id, attempts FROM lessons WHERE state IN ({','.join('?' * len(states))})", states
        ).fetchall()
        return {row["lesson_id"]: row["attempts"] for row in rows}

    def max_attempts(self, default: int) -> int:
        """The attempts cap of the last submitting run (processing marks lessons by it)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (MAX_ATTEMPTS_META_KEY,)).fetchone()
        return int(row["value"]) if row is not None and str(row["value"]).isdigit() else default

    def set_max_attempts(self, value: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (MAX_ATTEMPTS_META_KEY, str(value)),
            )

    # ----------------------------------------------------------------- recording what happened

    def note_pending(self, lesson_ids: Iterable[str]) -> None:
        """Lessons a run means to request: listed as pending until they are submitted, so the
        ledger shows those that wait (e.g. for room under the enqueued-token cap)."""
        with self._write() as db:
            insert_pending(db, lesson_ids, time.time())

    def lessons_saved(self, saved: list[Saved]) -> None:
        """Only after the files are on disk (``Event.SAVED``, for lessons still in that batch)."""
        now = time.time()
        with self._write() as db:
            current = _Current(db, (entry.lesson_id for entry in saved))
            rows = []
            for entry in saved:
                moved = current.step(entry.lesson_id, Event.SAVED, in_batch=entry.batch_id)
                if moved is not None:
                    rows.append((moved.state, moved.attempts, entry.note, entry.output_tokens, moved.clears_force,
                                 now, entry.folder, entry.lesson_id))
            db.executemany(
                "UPDATE lessons SET state = ?, attempts = ?, reason = ?, output_tokens = COALESCE(?, output_tokens), "
                "retry_budget = NULL, retry_effort = NULL, force = CASE WHEN ? THEN 0 ELSE force END, "
                "updated_at = ?, saved_in = COALESCE(?, saved_in) WHERE lesson_id = ?",
                rows,
            )

    def lessons_not_saved(self, entries: list[NotSaved], max_attempts: int | None = None) -> None:
        """Lessons whose result brought no lesson, each with the outcome its entry names (see
        ``lifecycle.outcome``), for lessons still in that batch or flex run; ``max_attempts`` is the
        attempts cap (``lifecycle``: a lesson that reaches it needs a person, its reason kept)."""
        events = [lifecycle.outcome(entry.state) for entry in entries]  # ValueError before anything is written
        now = time.time()
        with self._write() as db:
            current = _Current(db, (entry.lesson_id for entry in entries))
            rows = []
            for entry, event in zip(entries, events, strict=True):
                moved = current.step(entry.lesson_id, event, in_batch=entry.batch_id, cap=max_attempts)
                if moved is not None:
                    rows.append((moved.state, moved.attempts, entry.reason[:REASON_LIMIT], entry.retry_budget,
                                 entry.retry_effort, now, entry.lesson_id))
            db.executemany(
                "UPDATE lessons SET state = ?, attempts = ?, reason = ?, retry_budget = COALESCE(?, retry_budget), "
                "retry_effort = COALESCE(?, retry_effort), updated_at = ? WHERE lesson_id = ?",
                rows,
            )

    def hold_for_attention(self, lesson_ids: Iterable[str]) -> None:
        """Lessons a run held back because they were tried ``max_attempts`` times already
        (``Event.ATTEMPTS_EXHAUSTED``)."""
        lesson_ids = list(lesson_ids)
        now = time.time()
        with self._write() as db:
            current = _Current(db, lesson_ids)
            rows = []
            for lesson_id in lesson_ids:
                moved = current.step(lesson_id, Event.ATTEMPTS_EXHAUSTED)
                if moved is not None:
                    rows.append((moved.state, moved.attempts, now, lesson_id))
            db.executemany("UPDATE lessons SET state = ?, attempts = ?, updated_at = ? WHERE lesson_id = ?", rows)

    # ----------------------------------------------------------------- flex

    def flex_sending(self, run_id: str, lesson_id: str, force: bool) -> bool:
        """Before a flex request: the lesson is in flight by this run (``Event.FLEX_SENT``). Refused
        (False) for a lesson already in flight, in a batch or in another flex run, so it is never
        paid for twice."""
        now = time.time()
        with self._write() as db:
            insert_pending(db, [lesson_id], now)
            moved = _Current(db, [lesson_id]).step(lesson_id, Event.FLEX_SENT)
            if moved is None:
                return False
            db.execute(
                "UPDATE lessons SET state = ?, attempts = ?, batch_id = ?, reason = NULL, force = ?, updated_at = ? "
                "WHERE lesson_id = ?",
                (moved.state, moved.attempts, run_id, int(force), now, lesson_id),
            )
        return True

    def flex_not_sent(self, run_id: str, lesson_ids: Iterable[str], reason: str) -> None:
        """Flex requests of this run that never ran (refused for capacity, or the run stopped
        first): ``Event.FLEX_NOT_SENT``."""
        lesson_ids = list(lesson_ids)
        now = time.time()
        with self._write() as db:
            current = _Current(db, lesson_ids)
            rows = []
            for lesson_id in lesson_ids:
                moved = current.step(lesson_id, Event.FLEX_NOT_SENT, in_batch=run_id)
                if moved is not None:
                    rows.append((moved.state, moved.attempts, reason[:REASON_LIMIT], now, lesson_id))
            db.executemany(
                "UPDATE lessons SET state = ?, attempts = ?, reason = ?, updated_at = ? WHERE lesson_id = ?", rows
            )

    def release_flex_lessons(self, lesson_ids: Iterable[str], reason: str, saved: Iterable[str] = ()) -> None:
        """Lessons left in flight by a flex run that is no longer going (``Event.RELEASED``; those
        in ``saved``, their file written before the run stopped: ``Event.FOUND_SAVED``)."""
        lesson_ids, saved = list(lesson_ids), set(saved)
        now = time.time()
        with self._write() as db:
            current = _Current(db, lesson_ids)
            rows = []
            for lesson_id in lesson_ids:
                event = Event.FOUND_SAVED if lesson_id in saved else Event.RELEASED
                moved = current.step(lesson_id, event)
                if moved is not None:
                    rows.append((moved.state, moved.attempts, reason[:REASON_LIMIT], moved.clears_force, now,
                                 lesson_id))
            db.executemany(
                "UPDATE lessons SET state = ?, attempts = ?, reason = ?, force = CASE WHEN ? THEN 0 ELSE force END, "
                "updated_at = ? WHERE lesson_id = ?",
                rows,
            )

    # ----------------------------------------------------------------- processing results at scale
    # One query each for what processing needs before reading a results file, instead of a record
    # object per lesson (50,000 of them cost most of a second).

    def awaiting_results(self, batch_id: str | None = None) -> list[tuple]:
        """Lessons submitted and awaiting results (in one batch, or in any batch the ledger knows),
        each as (lesson id, batch id, model, batch status, requested budget or None, requested
        effort, force, required sections as JSON or None, the batch's endpoint)."""
        query = (
            "SELECT l.lesson_id, l.batch_id, b.model, b.status, sl.max_completion_tokens, sl.reasoning_effort, "
            "l.force, s.required_sections, b.endpoint FROM lessons l JOIN batches b ON b.batch_id = l.batch_id "
            "LEFT JOIN shards s ON s.shard_key = b.shard_key "
            "LEFT JOIN shard_lessons sl ON sl.shard_key = b.shard_key AND sl.lesson_id = l.lesson_id "
            "WHERE l.state = ?"
        )
        if batch_id is None:
            rows = self._db.execute(query + " ORDER BY b.created_at, b.batch_id, l.lesson_id", (SUBMITTED,))
        else:
            rows = self._db.execute(query + " AND l.batch_id = ? ORDER BY l.lesson_id", (SUBMITTED, batch_id))
        return [tuple(row) for row in rows.fetchall()]

    def models_of_lessons(self) -> dict[str, str | None]:
        """Every lesson in the ledger with the model of its batch (None when it has none)."""
        rows = self._db.execute(
            "SELECT l.lesson_id, b.model FROM lessons l LEFT JOIN batches b ON b.batch_id = l.batch_id"
        )
        return dict(rows.fetchall())
