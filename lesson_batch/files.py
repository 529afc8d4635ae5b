"""The one place that writes files atomically.

A file is written to a temporary sibling, flushed to disk, then renamed over its target,
so a reader (or a re-run after a crash) sees either the old file or the whole new one,
never a partial one. Temporary files carry a recognisable suffix so they can be cleaned up.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .errors import LessonBatchError

TEMP_SUFFIX = ".partial"
WINDOWS_ABANDON_SECONDS = 3600


def write_atomic(path: Path, data: str | bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    ``durable=False`` skips the per-file fsync for writers of many small files; they call
    ``flush_to_disk`` once per group instead, before recording that the files exist.
    """
    path = os.fspath(path)  # plain strings: this runs once per lesson, tens of thousands of times
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp_name = _temporary_name(path)
    try:
        handle = open(tmp_name, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        handle = open(tmp_name, "wb")
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            if durable or not hasattr(os, "sync"):
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


class FolderError(LessonBatchError):
    """A folder the run needs cannot be used (it is a file, or cannot be created or written)."""


def check_folder(path: Path, option: str, create: bool = True) -> None:
    """Make sure ``path`` can hold the run's files, before anything is paid for.

    With ``create``, the folder is created if needed and a probe file is written and removed
    (the only sure test of writing: permissions alone do not tell, e.g. for an administrator or on
    a read-only disk). Without it (a dry run's lessons folder), only the shape is checked: neither
    the folder nor an existing parent of it may be a file.
    """
    path = Path(path)
    shown = display_path(path)
    fix = f"choose another {option}, or move the file away" if option else "move the file away"
    if path.exists() and not path.is_dir():
        raise FolderError(f"{shown} is a file, not a folder: {fix}")
    if not create:
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise FolderError(f"{shown} cannot be created: {display_path(parent)} is a file; {fix}")
                return
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = _temporary_name(os.path.join(path, ".write-check"))
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        what = "created" if not path.is_dir() else "written"
        raise FolderError(
            f"{shown} cannot be {what} ({exc.strerror or exc}): choose another {option}, or fix its permissions"
        ) from None


def flush_to_disk() -> None:
    """Push every written file to disk (one system call instead of an fsync per file)."""
    if hasattr(os, "sync"):
        os.sync()


def temporary_path_for(path: Path) -> Path:
    """A temporary sibling of ``path`` for writers that stream (they rename it when done)."""
    return Path(_temporary_name(os.fspath(path)))


def _temporary_name(path: str) -> str:
    # The writer's process id in the name tells remove_stale_temporaries whether it still runs.
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}{TEMP_SUFFIX}")


def display_path(path: Path) -> str:
    """A path as a person would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporaries in ``folder`` whose writer died (a killed run); return how many.

    A temporary's name carries its writer's process id; one whose process is still running is
    left alone, so a writer at work in the same folder is never disturbed. Where a process cannot
    be checked safely (Windows), a temporary is taken as abandoned once it is an hour old.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for candidate in folder.glob(f".*{TEMP_SUFFIX}"):
        pid_text = candidate.name[: -len(TEMP_SUFFIX)].rpartition(".")[2]
        if pid_text.isdigit() and _writer_may_be_running(int(pid_text), candidate):
            continue
        try:
            candidate.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _writer_may_be_running(pid: int, candidate: Path) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process there, not probe it
        try:
            return time.time() - candidate.stat().st_mtime < WINDOWS_ABANDON_SECONDS
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to someone else
    return True
