"""The ledger's file: opening it can fail, the disk can fill, and it can be lost or damaged.

A damaged ledger is refused with what to run, or (``repair``) set aside and replaced by its
rolling backup ``ledger.sqlite3.bak`` when that is sound; ``LostLedger`` says what happened, and
``recovery`` rebuilds the rest from the API. The backup is a consistent SQLite copy, renamed
into place. The locks the ledger takes (one submitting run, one processing run, one recovery) are
operating-system locks on files beside it, dropped when the process ends however it ends.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import LessonBatchError
from ..files import display_path, temporary_path_for
from ..wording import Commands
from ..workspace import Workspace


class LedgerError(LessonBatchError):
    """The ledger cannot be opened or is from an incompatible version."""


class LedgerFullError(LedgerError):
    """The disk holding the ledger is full: a step could not be recorded (nothing of it was)."""

    def __init__(self, path: Path | None, exc: Exception):
        where = f"the disk holding {display_path(path.parent)} is full" if path is not None else "the disk is full"
        super().__init__(
            f"{where}: the run ledger{' ' + display_path(path) if path else ''} cannot be written ({exc}). "
            "Every step recorded before this one is kept, and so are the lesson files saved and the answers and "
            "results downloaded into the work dir. "
            "Free some space, then run the same command again: nothing is paid for twice."
        )


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


def backup_to(source: sqlite3.Connection, destination: Path) -> None:
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


def quick_check(db: sqlite3.Connection) -> str | None:
    """None for a sound database, else what SQLite's quick check (or opening) says is wrong."""
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(row[0]) for row in rows if str(row[0]) != "ok"]
    return "; ".join(problems[:3]) if problems else None


def damage(path: Path) -> str | None:
    """What is wrong with the ledger file at ``path`` (None: sound, missing or empty)."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        if path.with_name(path.name + "-journal").exists():
            # A run killed in the middle of a write left its journal: SQLite rolls the write back when
            # the file is opened for writing, which a read-only open cannot do (it would look damaged).
            connection = sqlite3.connect(str(path), timeout=60)
        else:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    except (OSError, sqlite3.Error) as exc:
        return str(exc)
    try:
        return quick_check(connection)
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


def set_aside_damaged_ledger(workspace: Workspace, repair: bool) -> LostLedger | None:
    """Before a writing run opens the ledger: a damaged one is set aside, and a missing, empty or
    damaged one is replaced by the rolling backup when there is a sound one. Says what happened
    (None: the ledger is sound, or the work dir was never used). Without ``repair``, a damaged
    ledger is refused with what to run."""
    path = workspace.ledger_path
    problem = damage(path)
    present = path.is_file() and path.stat().st_size > 0
    if present and problem is None:
        return None
    if problem is not None and not repair:
        raise LedgerError(damaged_message(workspace, problem))
    if not present and not workspace.shows_earlier_use():
        return None  # a new work dir (or one being created right now by another run)
    with open(workspace.recovery_lock_path, "a+b") as handle:
        while not try_lock(handle):
            time.sleep(0.1)
        problem = damage(path)  # another run may have set it aside meanwhile
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
        if backup.is_file() and damage(backup) is None:
            backup_time = backup.stat().st_mtime
            temporary = temporary_path_for(path)
            shutil.copyfile(backup, temporary)
            os.replace(temporary, path)
            return LostLedger(reason, problem or "", kept_as, backup, backup_time)
        if path.exists():
            path.unlink()  # empty: a new one is made in its place
        return LostLedger(reason, problem or "", kept_as)


def try_lock(handle) -> bool:
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
