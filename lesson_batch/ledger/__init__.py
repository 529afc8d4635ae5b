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
``invalid``, and ``needs_attention``: held for a person (no run requests it again by itself).
``attempts`` counts the times a lesson's request ran. Which event moves a lesson from which state
to which, what counts as an attempt, when one is given back, and the attempts cap are
``lifecycle``'s table: the ledger only stores and queries. A lesson is marked ``succeeded`` only
after its file is on disk. A lesson's ``batch_id`` names the batch, or the flex run
(``flex-...``), it was last sent in.

Flex runs (``flex_runs``) and every flex answer received (``flex_answers``: one row per paid
answer, with its tokens and the tier that served it) are recorded too, so the cost of a run
survives a crash, and a lesson still ``flex`` when no run is going (the run was killed) is known
to have possibly been paid already.

The ledger is split by what it holds: this module opens it (upgrading an older one, restoring a
lost one), runs each write as one transaction, and holds the run-wide facts (``meta``, locks, the
whole-job cancel); ``ledger.lessons`` the lessons, ``ledger.batches`` the shards, batches and
flex runs, ``ledger.records`` the records it hands out, ``ledger.file`` the damaged or lost file
and its backup. ``Ledger`` and the records are imported from here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..lifecycle import DEFAULT_MAX_ATTEMPTS
from ..workspace import Workspace
from . import schema as ledger_schema
from .batches import BatchTable
from .file import (
    LedgerError,
    LedgerFullError,
    LostLedger,
    backup_to,
    damage,
    damaged_message,
    quick_check,
    set_aside_damaged_ledger,
    try_lock,
)
from .lessons import MAX_ATTEMPTS_META_KEY, LessonTable
from .records import (
    BatchRecord,
    FlexAnswerRecord,
    FlexRunRecord,
    LessonRecord,
    NotSaved,
    RequestBudget,
    Saved,
    ShardLesson,
    ShardRecord,
)
from .schema import Assumptions, SchemaError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS", "MAX_ATTEMPTS_META_KEY", "BatchRecord", "FlexAnswerRecord", "FlexRunRecord", "Ledger",
    "LedgerError", "LedgerFullError", "LessonRecord", "LostLedger", "NotSaved", "RequestBudget", "Saved",
    "ShardLesson", "ShardRecord", "damaged_message",
]

REBUILD_META_KEY = "rebuild_needed"  # a lost or damaged ledger not yet rebuilt (see Ledger.lost)
CANCEL_META_KEY = "cancel_requests"  # how many times a whole-job cancel was asked for (see Ledger.request_cancel)


class Ledger(LessonTable, BatchTable):
    """Open with ``Ledger.open(work_dir)``; every method that writes is one transaction. It stores
    what it is told and answers queries; the rules that decide it live in the modules that own
    them: what an event does to a lesson in ``lifecycle``, which batch ran nothing in ``batch_sync``.
    Its lesson methods are ``ledger_lessons.LessonTable``'s, its shard, batch and flex run methods
    ``ledger_batches.BatchTable``'s."""

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

        ``assume`` gives the facts an older ledger lacks (see ``ledger.schema``); what was assumed
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
                problem = damage(path)
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
                lost = set_aside_damaged_ledger(workspace, repair)
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
        backup_to(self._db, backup)
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
        if self.path is None or quick_check(self._db) is not None:
            return
        try:
            backup_to(self._db, self.workspace.rolling_backup)
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
            if not try_lock(handle):
                raise LedgerError(
                    f"another run is submitting from {self.path.parent} right now; "
                    "wait for it to finish (or stop it) and run again"
                )
            yield
        finally:
            handle.close()

    @contextmanager
    def processing_lock(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
        """One processing run at a time per work dir: a second one waits its turn (after calling
        ``on_wait``, once), then sees what the first did. Dropped when the process ends."""
        handle = open(self.workspace.processing_lock_path, "a+b")
        try:
            if not try_lock(handle):
                on_wait()
                while not try_lock(handle):
                    time.sleep(0.2)
            yield
        finally:
            handle.close()

    def submission_in_progress(self) -> bool:
        """Whether another run holds the submission lock right now (it is submitting)."""
        with open(self.workspace.lock_path, "a+b") as handle:
            return not try_lock(handle)

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


def _connect(target: str) -> sqlite3.Connection:
    connection = sqlite3.connect(target, timeout=60, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA busy_timeout = 60000")
    connection.execute("PRAGMA synchronous = FULL")
    return connection
