"""The run ledger: every shard, batch and lesson, and what state each is in.

It is an SQLite database in the work dir (``batch_api/ledger.sqlite3``): it ships with Python,
writes atomically, works the same on Windows, macOS and Linux, and lets the status and
processing scripts run at the same time (each change is one short transaction; readers wait
for a writer instead of seeing half a change).

The ledger is written *before* and *after* every step that costs money, so a crash anywhere
leaves a record the next run can continue from:

    shard ``planned``  -> the request file exists, its lessons are listed, nothing uploaded yet
    shard ``uploaded`` -> the file is on the API (file id kept) but no batch is recorded
    shard ``submitted``-> the batch exists and is recorded; its lessons are ``submitted``
    shard ``abandoned``-> an interrupted shard that the next run cleaned up (no batch was made)

A batch created by a run that died before recording it is found again through its metadata
(``lesson_batch_shard``) and adopted, so it is never created twice.

Lesson states: ``pending`` (to request), ``submitted`` (in a batch whose results are not
processed yet: never requested again), ``flex`` (its request was sent through flex and no outcome
is recorded yet: never put in a batch), ``succeeded`` (its file is on disk), the states that
the next run requests again: ``failed``, ``truncated``, ``expired``, ``cancelled``, ``missing``,
``invalid``, and ``needs_attention``: a lesson whose request ran ``max_attempts`` times without a
usable lesson, which no run requests again by itself (only ``--force`` or a higher
``--max-attempts`` does). A lesson is marked ``succeeded`` only after its file is on disk. A
lesson's ``batch_id`` names the batch, or the flex run (``flex-...``), it was last sent in.

``attempts`` counts the times a lesson's request ran: a submission counts, and is taken back when
the request never ran (its batch failed validation, or the request expired or was cancelled
before it ran), since nothing was paid for it. A flex request counts when it is sent, and is
taken back when it was refused (capacity, a model without flex) or never left.

Flex runs (``flex_runs``) and every flex answer received (``flex_answers``: one row per paid
answer, with its tokens and the tier that served it) are recorded too, so the cost of a run
survives a crash, and a lesson still ``flex`` when no run is going (the run was killed) is known
to have possibly been paid already.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

from . import ledger_schema
from .batch_info import CHAT_ENDPOINT, BatchError, BatchInfo
from .errors import LessonBatchError
from .files import display_path, temporary_path_for
from .ledger_schema import Assumptions, SchemaError
from .states import (
    ACTIVE_BATCH_STATUSES,
    FLEX,
    IN_FLIGHT_STATES,
    LESSON_STATES,
    NEEDS_ATTENTION,
    NOT_RUN_STATES,
    PENDING,
    RESULT_BATCH_STATUSES,
    SHARD_ABANDONED,
    SHARD_PLANNED,
    SHARD_SUBMITTED,
    SHARD_UPLOADED,
    SUBMITTED,
    SUCCEEDED,
    TERMINAL_BATCH_STATUSES,
    UNFINISHED_SHARD_STATES,
    LessonState,
    ShardState,
)
from .text.wording import Commands
from .workspace import Workspace

DEFAULT_MAX_ATTEMPTS = 3  # runs of one lesson's request before it needs a person
MAX_ATTEMPTS_META_KEY = "max_attempts"  # the cap the last submitting run used (see Ledger.max_attempts)


class LedgerError(LessonBatchError):
    """The ledger cannot be opened or is from an incompatible version."""


class LedgerFullError(LedgerError):
    """The disk holding the ledger is full: a step could not be recorded (nothing of it was)."""

    def __init__(self, path: Path | None, exc: Exception):
        where = f"the disk holding {display_path(path.parent)} is full" if path is not None else "the disk is full"
        super().__init__(
            f"{where}: the run ledger{' ' + display_path(path) if path else ''} cannot be written ({exc}). Every step recorded before this one "
            "is kept, and so are the lesson files saved and the answers and results downloaded into the work dir. "
            "Free some space, then run the same command again: nothing is paid for twice."
        )


REBUILD_META_KEY = "rebuild_needed"  # a lost or damaged ledger not yet rebuilt (see Ledger.lost)
CANCEL_META_KEY = "cancel_requests"  # how many times a whole-job cancel was asked for (see Ledger.request_cancel)


@dataclass(frozen=True)
class LostLedger:
    """Why a work dir that had been used opened without its ledger: ``missing`` (deleted),
    ``emptied`` (truncated to nothing) or ``damaged`` (it failed its integrity check; kept aside
    as ``kept_as``), and the rolling backup it was restored from, if any (``restored_from``, of
    ``backup_time``). The ledger then needs rebuilding from what survives (``recovery``)."""

    reason: str
    detail: str = ""
    kept_as: Path | None = None
    restored_from: Path | None = None
    backup_time: float | None = None

    def describe(self, path: Path) -> str:
        what = {
            "missing": f"the run ledger {path} was missing",
            "emptied": f"the run ledger {path} was empty",
            "damaged": f"the run ledger {path} was damaged ({self.detail})",
        }[self.reason]
        if self.kept_as is not None:
            what += f"; the damaged file is kept as {self.kept_as.name}"
        if self.restored_from is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.backup_time or 0))
            what += f"; restored its last good copy ({self.restored_from.name}, of {stamp})"
        return what


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
    """A lesson to request again, for ``lessons_not_saved``: its state and reason, and the budget
    and effort its retry gets when they change (a truncated lesson's bigger budget)."""

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


class Ledger:
    """Open with ``Ledger.open(work_dir)``; every method that writes is one transaction. It stores
    what it is told; the rules that decide it (what a failed batch means for its lessons, ...) live
    in the modules that own them."""

    def __init__(self, path: Path | None, connection: sqlite3.Connection):
        self.path = path  # None: a ledger in memory
        self.workspace = Workspace(path.parent) if path is not None else None
        self._db = connection
        self.upgrade_notes: list[str] = []  # what opening an older ledger assumed, for the user
        self.lost: LostLedger | None = None  # set when the work dir had a ledger that was lost or damaged
        self._read_only = False

    @staticmethod
    def exists(work_dir: Path | str) -> bool:
        return Workspace(work_dir).ledger_path.is_file()

    @classmethod
    def open(
        cls, work_dir: Path | str, *, assume: Assumptions | None = None, read_only: bool = False, repair: bool = False
    ) -> "Ledger":
        """Open (or create) the work dir's ledger, bringing an older one up to this version's schema.

        ``assume`` gives the facts an older ledger lacks (see ``ledger_schema``); what was assumed
        is left in ``upgrade_notes`` for the caller to tell the user. ``read_only`` (a dry run)
        never writes the file: an older ledger is then upgraded in a copy in memory.

        The ledger's integrity is checked first (SQLite's quick check). A damaged one is refused
        with what to run, unless ``repair``: it is then set aside (``.damaged-<time>``) and, like
        a ledger found missing or emptied in a work dir that was used, replaced by its last good
        copy (the rolling backup ``.bak``) if there is one; ``lost`` then says so (and the ledger
        remembers it until ``rebuilt``), and the caller rebuilds the rest from the API
        (``recovery``).
        """
        work_dir = Path(work_dir)
        workspace = Workspace(work_dir)
        path = workspace.ledger_path
        try:
            if read_only:
                problem = _damage(path)
                if problem is None and path.is_file() and path.stat().st_size == 0:
                    problem = "it is empty: it was truncated"
                if problem is not None:
                    raise LedgerError(damaged_message(workspace, problem))
                ledger = cls._open_read_only(path, work_dir, assume or Assumptions())
                if REBUILD_META_KEY in ledger.meta():
                    ledger.upgrade_notes.append(
                        "the run ledger was lost or damaged and is not rebuilt yet: this may list lessons that are in "
                        "a batch already; a run that is not a dry run rebuilds it from the API's batches first"
                    )
            else:
                work_dir.mkdir(parents=True, exist_ok=True)
                lost = _set_aside_damaged_ledger(workspace, repair)
                ledger = cls(path, _connect(str(path)))
                ledger.upgrade_notes = ledger._bring_up_to_date(work_dir, assume or Assumptions())
                ledger.lost = ledger._note_lost(lost)
            return ledger
        except SchemaError as exc:
            raise LedgerError(f"{path}: cannot use this run ledger: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{path}: cannot open the run ledger ({exc})") from None
        except OSError as exc:
            raise LedgerError(
                f"{work_dir}: cannot hold the run ledger ({exc.strerror or exc}); choose another --work-dir"
            ) from None

    @classmethod
    def in_memory(cls) -> "Ledger":
        """An empty ledger that is never written to disk: for batch ids given on the command line
        where no ledger exists (looking at a batch must not create a work dir)."""
        ledger = cls(None, _connect(":memory:"))
        with ledger._write() as db:
            ledger_schema.create(db)
        return ledger

    @classmethod
    def _open_read_only(cls, path: Path, work_dir: Path, assume: Assumptions) -> "Ledger":
        on_disk = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None)
        version = ledger_schema.version_of(on_disk)
        if version is None:
            raise sqlite3.DatabaseError("it holds no ledger")
        ledger_schema.check_supported(version)
        if version == ledger_schema.SCHEMA_VERSION:
            on_disk.row_factory = sqlite3.Row
            ledger = cls(path, on_disk)
            ledger._read_only = True
            return ledger
        in_memory = _connect(":memory:")
        on_disk.backup(in_memory)
        on_disk.close()
        ledger = cls(path, in_memory)
        ledger._read_only = True
        with ledger._write() as db:
            notes = ledger_schema.migrate(db, version, work_dir, assume)
        ledger.upgrade_notes = [
            f"The run ledger has schema {version}; it is read here as schema {ledger_schema.SCHEMA_VERSION} "
            f"without changing the file. The next run that is not a dry run upgrades it (keeping the old "
            f"file as {Workspace(work_dir).ledger_backup(version).name}), assuming:"
        ] + notes
        return ledger

    def _bring_up_to_date(self, work_dir: Path, assume: Assumptions) -> list[str]:
        with self._write() as db:
            version = ledger_schema.version_of(db)
            if version is None:
                ledger_schema.create(db)
                return []
            ledger_schema.check_supported(version)
            if version == ledger_schema.SCHEMA_VERSION:
                return []
        # An older ledger: keep a copy as it was, then migrate in one transaction. The version is
        # read again inside it: another process may have migrated the ledger in between.
        backup = self.workspace.ledger_backup(version)
        _backup(self._db, backup)
        with self._write() as db:
            version = ledger_schema.version_of(db)
            if version == ledger_schema.SCHEMA_VERSION:
                return []
            notes = ledger_schema.migrate(db, version, work_dir, assume)
        return [
            f"The run ledger was upgraded from schema {version} to {ledger_schema.SCHEMA_VERSION} "
            f"(the old file is kept as {backup.name})."
        ] + notes

    def _note_lost(self, lost: LostLedger | None) -> LostLedger | None:
        """Remember in the ledger that it must be rebuilt until a run has done so (a run that
        cannot, a dry run or one without the API, leaves it for the next)."""
        if lost is not None:
            self.set_meta({REBUILD_META_KEY: json.dumps(lost.__dict__, default=str)})
            return lost
        stored = self.meta().get(REBUILD_META_KEY)
        if not stored:
            return None
        try:
            values = json.loads(stored)
            return LostLedger(
                values["reason"], values.get("detail") or "",
                Path(values["kept_as"]) if values.get("kept_as") else None,
                Path(values["restored_from"]) if values.get("restored_from") else None,
                values.get("backup_time"),
            )
        except (ValueError, KeyError, TypeError):
            return LostLedger("missing")

    def rebuilt(self) -> None:
        """The ledger was brought up to date from what survived (``recovery.rebuild``)."""
        with self._write() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (REBUILD_META_KEY,))
        self.lost = None

    def close(self) -> None:
        """Close; a ledger this run changed is copied to the rolling backup first (when it passes
        its integrity check: a damaged ledger never replaces the last good copy)."""
        try:
            if self.path is not None and not self._read_only and self._db.total_changes > 0:
                self.keep_backup()
        finally:
            self._db.close()

    def keep_backup(self) -> None:
        """Copy the ledger to ``ledger.sqlite3.bak`` (a consistent copy, renamed into place), if it
        is sound. A backup that cannot be written (a full disk) is not worth failing the run for."""
        if self.path is None or _quick_check(self._db) is not None:
            return
        try:
            _backup(self._db, self.workspace.rolling_backup)
        except (OSError, sqlite3.Error):
            pass

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # After some errors (a full disk) SQLite has rolled the transaction back already.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if "database or disk is full" not in str(exc):  # SQLITE_FULL
                raise
            raise LedgerFullError(self.path, exc) from None

    @contextmanager
    def submission_lock(self) -> Iterator[None]:
        """Only one submitting run at a time per work dir. The operating system drops the lock
        when the process ends, however it ends, so a killed run never leaves it held."""
        handle = open(self.workspace.lock_path, "a+b")
        try:
            if not _try_lock(handle):
                raise LedgerError(
                    f"another run is submitting from {self.path.parent} right now; "
                    "wait for it to finish (or stop it) and run again"
                )
            yield
        finally:
            handle.close()

    @contextmanager
    def processing_lock(self, on_wait: Callable[[str], None] = lambda message: None) -> Iterator[None]:
        """One processing run at a time per work dir: a second one waits its turn (after saying so
        through ``on_wait``), then sees what the first did. Dropped when the process ends."""
        handle = open(self.workspace.processing_lock_path, "a+b")
        try:
            if not _try_lock(handle):
                on_wait(f"another run is processing results in {self.path.parent}; waiting for it to finish...")
                while not _try_lock(handle):
                    time.sleep(0.2)
            yield
        finally:
            handle.close()

    def submission_in_progress(self) -> bool:
        """Whether another run holds the submission lock right now (it is submitting)."""
        with open(self.workspace.lock_path, "a+b") as handle:
            return not _try_lock(handle)

    # ----------------------------------------------------------------- cancelling the whole job

    def cancel_requests(self) -> int:
        """How many whole-job cancels were asked for: a submitting run notes the number when it
        starts and submits nothing more once it has grown."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (CANCEL_META_KEY,)).fetchone()
        return int(row["value"]) if row is not None and str(row["value"]).isdigit() else 0

    def request_cancel(self) -> int:
        """Record a cancel of the whole job (``check_batch_status.py --cancel``)."""
        with self._write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (CANCEL_META_KEY,)).fetchone()
            count = (int(row["value"]) if row is not None and str(row["value"]).isdigit() else 0) + 1
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (CANCEL_META_KEY, str(count)),
            )
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                ("cancel_requested_at", str(time.time())),
            )
        return count

    def cancel_requested_at(self) -> float | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'cancel_requested_at'").fetchone()
        try:
            return float(row["value"]) if row is not None else None
        except ValueError:
            return None

    # ----------------------------------------------------------------- what the work dir belongs to

    def meta(self) -> dict[str, str]:
        """The ``meta`` table: ``schema_version`` and what the work dir belongs to (see ``settings``)."""
        return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta").fetchall()}

    def set_meta(self, values: dict[str, str]) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    def has_submitted(self) -> bool:
        """Whether any run has recorded a shard, a batch or a flex run here (an unused ledger belongs
        to nobody yet)."""
        return any(
            self._db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
            for table in ("shards", "batches", "flex_runs")
        )

    # ----------------------------------------------------------------- reading

    def lessons(self, lesson_ids: Iterable[str] | None = None) -> dict[str, LessonRecord]:
        rows = self._db.execute("SELECT * FROM lessons ORDER BY lesson_id").fetchall()
        records = {row["lesson_id"]: _lesson(row) for row in rows}
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
        rows = self._db.execute("SELECT lesson_id, output_tokens FROM lessons WHERE output_tokens IS NOT NULL").fetchall()
        return {row["lesson_id"]: row["output_tokens"] for row in rows}

    def shards(self, states: Iterable[str] | None = None) -> list[ShardRecord]:
        rows = self._db.execute("SELECT * FROM shards ORDER BY created_at, shard_key").fetchall()
        wanted = set(states) if states is not None else None
        return [_shard(row) for row in rows if wanted is None or row["state"] in wanted]

    def batches(self, batch_ids: Iterable[str] | None = None) -> list[BatchRecord]:
        rows = self._db.execute("SELECT * FROM batches ORDER BY created_at, rowid").fetchall()
        records = [_batch(row) for row in rows]
        if batch_ids is None:
            return records
        wanted = list(batch_ids)
        by_id = {record.batch_id: record for record in records}
        return [by_id[batch_id] for batch_id in wanted if batch_id in by_id]

    def batch(self, batch_id: str) -> BatchRecord | None:
        row = self._db.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return _batch(row) if row else None

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
        return _shard(row) if row else None

    def live_prompt_tokens(self) -> int:
        """Estimated prompt tokens of batches still queued or running (the enqueued-token cap)."""
        placeholders = ",".join("?" * len(ACTIVE_BATCH_STATUSES))
        row = self._db.execute(
            f"SELECT COALESCE(SUM(prompt_tokens_estimate), 0) AS total FROM batches WHERE status IN ({placeholders})",
            ACTIVE_BATCH_STATUSES,
        ).fetchone()
        return int(row["total"])

    # ----------------------------------------------------------------- submitting

    def note_pending(self, lesson_ids: Iterable[str]) -> None:
        """Lessons a run means to request: listed as pending until they are submitted, so the
        ledger shows those that wait (e.g. for room under the enqueued-token cap)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO lessons (lesson_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (lesson_id) DO NOTHING",
                [(lesson_id, PENDING, now) for lesson_id in lesson_ids],
            )

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
            for lesson_id in lesson_ids:
                db.execute(
                    "INSERT INTO lessons (lesson_id, state, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (lesson_id) DO NOTHING",
                    (lesson_id, PENDING, now),
                )
                db.execute("UPDATE lessons SET force = ? WHERE lesson_id = ?", (int(force), lesson_id))

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

    def shard_submitted(self, shard_key: str, batch: BatchInfo, give_back: str | None = None) -> None:
        """After batch create: record the batch and mark the shard's lessons submitted, in one
        transaction (``give_back``: as in ``update_batch``)."""
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
                    "ids cannot be followed safely. Nothing was recorded for the new batch (it runs, and is billed, on "
                    "the server: cancel it there if it is not wanted); check OPENAI_BASE_URL (a local test server "
                    "belongs in its own --work-dir)"
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
            db.execute(
                "UPDATE lessons SET state = ?, batch_id = ?, reason = NULL, attempts = attempts + 1, updated_at = ? "
                "WHERE lesson_id IN (SELECT lesson_id FROM shard_lessons WHERE shard_key = ?)",
                (SUBMITTED, batch.id, now, shard_key),
            )
            _store_batch(db, batch, now, give_back)

    def shard_abandoned(self, shard_key: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE shards SET state = ?, updated_at = ? WHERE shard_key = ?",
                (SHARD_ABANDONED, time.time(), shard_key),
            )

    # ----------------------------------------------------------------- status

    def update_batch(self, batch: BatchInfo, give_back: str | None = None) -> BatchRecord | None:
        """Store what the API said about a batch. With ``give_back`` (a reason), in the same
        transaction, its lessons still submitted go back to pending with that reason and their
        attempt given back, and the batch counts as processed: the caller decides when a batch ran
        nothing (``batch_sync.ran_nothing``)."""
        with self._write() as db:
            _store_batch(db, batch, time.time(), give_back)
        return self.batch(batch.id)

    def give_up_batch(self, batch_id: str, reason: str) -> list[str]:
        """The user gives up a batch the API no longer knows: in one transaction it is marked given
        up (and processed: nothing is followed or downloaded for it), and its lessons still in it go
        back to pending with ``reason``, their attempt given back. Returns those lessons."""
        now = time.time()
        with self._write() as db:
            rows = db.execute(
                "SELECT lesson_id FROM lessons WHERE batch_id = ? AND state = ? ORDER BY lesson_id", (batch_id, SUBMITTED)
            ).fetchall()
            db.execute(
                "UPDATE batches SET given_up_at = COALESCE(given_up_at, ?), processed_at = COALESCE(processed_at, ?) "
                "WHERE batch_id = ?",
                (now, now, batch_id),
            )
            db.execute(
                "UPDATE lessons SET state = ?, reason = ?, attempts = MAX(attempts - 1, 0), updated_at = ? "
                "WHERE batch_id = ? AND state = ?",
                (PENDING, reason[:2000], now, batch_id, SUBMITTED),
            )
        return [row["lesson_id"] for row in rows]

    # ----------------------------------------------------------------- results

    def lessons_saved(self, saved: list[Saved]) -> None:
        """Only after the files are on disk."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE lessons SET state = ?, reason = ?, output_tokens = COALESCE(?, output_tokens), "
                "retry_budget = NULL, retry_effort = NULL, force = 0, updated_at = ?, saved_in = COALESCE(?, saved_in) "
                "WHERE lesson_id = ? AND batch_id = ?",
                [(SUCCEEDED, entry.note, entry.output_tokens, now, entry.folder, entry.lesson_id, entry.batch_id)
                 for entry in saved],
            )

    def lessons_not_saved(self, entries: list[NotSaved], max_attempts: int | None = None) -> None:
        """Lessons to request again. A lesson whose request has now run ``max_attempts`` times is
        marked ``needs_attention`` instead (its reason kept): no run requests it again by itself.
        An entry whose state is ``needs_attention`` is held for a person at once."""
        now = time.time()
        rows = []
        for entry in entries:
            if entry.state not in LESSON_STATES or entry.state in (SUBMITTED, FLEX, SUCCEEDED):
                raise ValueError(f"{entry.state!r} is not a state for a lesson that was not saved")
            taken_back = 1 if entry.state in NOT_RUN_STATES else 0
            rows.append((taken_back, max_attempts, taken_back, max_attempts, NEEDS_ATTENTION, entry.state,
                         entry.reason[:2000], entry.retry_budget, entry.retry_effort, now, entry.lesson_id,
                         entry.batch_id, SUBMITTED, FLEX))
        with self._write() as db:
            # Both expressions read the row's attempts as they were before this update.
            db.executemany(
                "UPDATE lessons SET attempts = MAX(attempts - ?, 0), "
                "state = CASE WHEN ? IS NOT NULL AND MAX(attempts - ?, 0) >= ? THEN ? ELSE ? END, "
                "reason = ?, retry_budget = COALESCE(?, retry_budget), "
                "retry_effort = COALESCE(?, retry_effort), updated_at = ? "
                "WHERE lesson_id = ? AND batch_id = ? AND state IN (?, ?)",
                rows,
            )

    def hold_for_attention(self, lesson_ids: Iterable[str]) -> None:
        """Lessons a run held back because they were tried ``max_attempts`` times already."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE lessons SET state = ?, updated_at = ? WHERE lesson_id = ? AND state NOT IN (?, ?, ?, ?)",
                [(NEEDS_ATTENTION, now, lesson_id, SUBMITTED, FLEX, SUCCEEDED, NEEDS_ATTENTION) for lesson_id in lesson_ids],
            )

    def attempts_of_unsaved(self) -> dict[str, int]:
        """How many times the request of each lesson not saved (nor in flight) has run."""
        rows = self._db.execute(
            "SELECT lesson_id, attempts FROM lessons WHERE state NOT IN (?, ?, ?)", (SUBMITTED, FLEX, SUCCEEDED)
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

    def lessons_in_batch(self, batch_id: str, state: str | None = None) -> list[LessonRecord]:
        if state is None:
            rows = self._db.execute("SELECT * FROM lessons WHERE batch_id = ? ORDER BY lesson_id", (batch_id,))
        else:
            rows = self._db.execute(
                "SELECT * FROM lessons WHERE batch_id = ? AND state = ? ORDER BY lesson_id", (batch_id, state)
            )
        return [_lesson(row) for row in rows.fetchall()]

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

    def flex_sending(self, run_id: str, lesson_id: str, force: bool) -> bool:
        """Before a flex request: the lesson is in flight by this run. Refused (False) for a lesson
        already in flight, in a batch or in another flex run, so it is never paid for twice."""
        now = time.time()
        placeholders = ",".join("?" * len(IN_FLIGHT_STATES))
        with self._write() as db:
            db.execute(
                "INSERT INTO lessons (lesson_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (lesson_id) DO NOTHING",
                (lesson_id, PENDING, now),
            )
            changed = db.execute(
                "UPDATE lessons SET state = ?, batch_id = ?, reason = NULL, attempts = attempts + 1, force = ?, "
                f"updated_at = ? WHERE lesson_id = ? AND state NOT IN ({placeholders})",
                (FLEX, run_id, int(force), now, lesson_id, *IN_FLIGHT_STATES),
            ).rowcount
        return changed == 1

    def flex_not_sent(self, run_id: str, lesson_ids: Iterable[str], reason: str) -> None:
        """Flex requests that never ran (refused for capacity, or the run stopped first): their
        lessons are pending again, and the attempt is not counted (nothing was generated or paid)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE lessons SET state = ?, reason = ?, attempts = MAX(0, attempts - 1), updated_at = ? "
                "WHERE lesson_id = ? AND batch_id = ? AND state = ?",
                [(PENDING, reason[:2000], now, lesson_id, run_id, FLEX) for lesson_id in lesson_ids],
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

    def release_flex_lessons(self, lesson_ids: Iterable[str], reason: str, saved: Iterable[str] = ()) -> None:
        """Lessons left in flight by a flex run that is no longer going: pending again (``saved``:
        succeeded, their file having been written before the run stopped)."""
        now = time.time()
        saved = set(saved)
        with self._write() as db:
            db.executemany(
                "UPDATE lessons SET state = ?, reason = ?, force = CASE WHEN ? THEN 0 ELSE force END, updated_at = ? "
                "WHERE lesson_id = ? AND state = ?",
                [
                    (SUCCEEDED if lesson_id in saved else PENDING, reason[:2000], lesson_id in saved, now, lesson_id, FLEX)
                    for lesson_id in lesson_ids
                ],
            )

    def flex_runs(self) -> list[FlexRunRecord]:
        rows = self._db.execute("SELECT * FROM flex_runs ORDER BY started_at, run_id").fetchall()
        return [_from_row(FlexRunRecord, row) for row in rows]

    def flex_answers(self, run_id: str | None = None) -> list[FlexAnswerRecord]:
        if run_id is None:
            rows = self._db.execute("SELECT * FROM flex_answers ORDER BY received_at").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM flex_answers WHERE run_id = ? ORDER BY received_at", (run_id,)
            ).fetchall()
        return [_from_row(FlexAnswerRecord, row) for row in rows]

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

    def requested_lesson_ids(self, batch_id: str) -> list[str]:
        """The lessons a batch was asked for (``batch_requests`` without the settings)."""
        rows = self._db.execute(
            "SELECT sl.lesson_id FROM shard_lessons sl JOIN batches b ON b.shard_key = sl.shard_key "
            "WHERE b.batch_id = ?",
            (batch_id,),
        )
        return [row[0] for row in rows.fetchall()]

    def models_of_lessons(self) -> dict[str, str | None]:
        """Every lesson in the ledger with the model of its batch (None when it has none)."""
        rows = self._db.execute("SELECT l.lesson_id, b.model FROM lessons l LEFT JOIN batches b ON b.batch_id = l.batch_id")
        return dict(rows.fetchall())


def _store_batch(db: sqlite3.Connection, batch: BatchInfo, now: float, give_back: str | None) -> None:
    errors = json.dumps([error.__dict__ for error in batch.errors])
    db.execute(
        "UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, request_total = ?, "
        "request_completed = ?, request_failed = ?, errors = ?, created_at = COALESCE(?, created_at), "
        "expires_at = COALESCE(?, expires_at), checked_at = ?, api_usage = COALESCE(?, api_usage) WHERE batch_id = ?",
        (batch.status, batch.output_file_id, batch.error_file_id, batch.request_total,
         batch.request_completed, batch.request_failed, errors, batch.created_at, batch.expires_at, now,
         json.dumps(batch.usage) if batch.usage is not None else None, batch.id),
    )
    if give_back is None:
        return
    db.execute(
        "UPDATE lessons SET state = ?, reason = ?, attempts = MAX(attempts - 1, 0), updated_at = ? "
        "WHERE batch_id = ? AND state = ?",
        (PENDING, give_back[:2000], now, batch.id, SUBMITTED),
    )
    db.execute("UPDATE batches SET processed_at = COALESCE(processed_at, ?) WHERE batch_id = ?", (now, batch.id))


def _connect(target: str) -> sqlite3.Connection:
    connection = sqlite3.connect(target, timeout=60, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA busy_timeout = 60000")
    connection.execute("PRAGMA synchronous = FULL")
    return connection


def _backup(source: sqlite3.Connection, destination: Path) -> None:
    """A consistent copy of the database, written under a temporary name and renamed."""
    temporary = temporary_path_for(destination)
    try:
        copy = sqlite3.connect(str(temporary))
        try:
            source.backup(copy)
        finally:
            copy.close()
        os.replace(temporary, destination)
    finally:
        if temporary.exists():
            temporary.unlink()


def _quick_check(db: sqlite3.Connection) -> str | None:
    """None for a sound database, else what SQLite's quick check (or opening) says is wrong."""
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(row[0]) for row in rows if str(row[0]) != "ok"]
    return "; ".join(problems[:3]) if problems else None


def _damage(path: Path) -> str | None:
    """What is wrong with the ledger file at ``path`` (None: sound, missing or empty)."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    except (OSError, sqlite3.Error) as exc:
        return str(exc)
    try:
        return _quick_check(connection)
    finally:
        connection.close()


def damaged_message(workspace: Workspace, problem: str) -> str:
    """A damaged ledger, for a run that does not repair it: what is wrong and what to run."""
    backup = workspace.rolling_backup
    kept = f"the last good copy ({backup.name})" if backup.is_file() else "what survives"
    return (
        f"{workspace.ledger_path}: cannot open the run ledger: it is damaged ({problem}); nothing was changed. "
        f"Run {Commands(workspace.root).process}: it keeps the damaged file aside, restores {kept} and brings it "
        "up to date from the API's batches and the files in the work dir, paying for nothing again."
    )


def _set_aside_damaged_ledger(workspace: Workspace, repair: bool) -> LostLedger | None:
    """Before a writing run opens the ledger: a damaged one is set aside, and a missing, empty or
    damaged one is replaced by the rolling backup when there is a sound one. Says what happened
    (None: the ledger is sound, or the work dir was never used). Without ``repair``, a damaged
    ledger is refused with what to run."""
    path = workspace.ledger_path
    problem = _damage(path)
    present = path.is_file() and path.stat().st_size > 0
    if present and problem is None:
        return None
    if problem is not None and not repair:
        raise LedgerError(damaged_message(workspace, problem))
    if not present and not workspace.shows_earlier_use():
        return None  # a new work dir (or one being created right now by another run)
    with open(workspace.recovery_lock_path, "a+b") as handle:
        while not _try_lock(handle):
            time.sleep(0.1)
        problem = _damage(path)  # another run may have set it aside meanwhile
        present = path.is_file() and path.stat().st_size > 0
        if present and problem is None:
            return None
        reason = "damaged" if problem is not None else ("emptied" if path.exists() else "missing")
        kept_as = None
        if problem is not None:
            kept_as = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
            os.replace(path, kept_as)
            for suffix in ("-journal", "-wal", "-shm"):
                companion = path.with_name(path.name + suffix)
                if companion.exists():
                    os.replace(companion, kept_as.with_name(kept_as.name + suffix))
        backup = workspace.rolling_backup
        if backup.is_file() and _damage(backup) is None:
            backup_time = backup.stat().st_mtime
            temporary = temporary_path_for(path)
            shutil.copyfile(backup, temporary)
            os.replace(temporary, path)
            return LostLedger(reason, problem or "", kept_as, backup, backup_time)
        if path.exists():
            path.unlink()  # empty: a new one is made in its place
        return LostLedger(reason, problem or "", kept_as)


def _try_lock(handle) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _from_row(record_type, row: sqlite3.Row, **converted):
    """A record from a row of its table: columns are named like the fields; ``converted`` gives
    the fields stored in another form (JSON text, 0/1)."""
    values = {f.name: row[f.name] for f in fields(record_type) if f.name not in converted}
    return record_type(**values, **converted)


def _lesson(row: sqlite3.Row) -> LessonRecord:
    return _from_row(LessonRecord, row, state=LessonState(row["state"]), force=bool(row["force"]))


def _shard(row: sqlite3.Row) -> ShardRecord:
    return _from_row(
        ShardRecord, row, state=ShardState(row["state"]), required_sections=tuple(json.loads(row["required_sections"]))
    )


def _batch(row: sqlite3.Row) -> BatchRecord:
    return _from_row(
        BatchRecord,
        row,
        errors=tuple(BatchError(**error) for error in json.loads(row["errors"] or "[]")),
        usage=json.loads(row["usage"]) if row["usage"] else None,
        api_usage=json.loads(row["api_usage"]) if row["api_usage"] else None,
    )
