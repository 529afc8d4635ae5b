"""The one place that writes files atomically.

A file is written to a temporary sibling, flushed to disk, then renamed over its target,
so a reader (or a re-run after a crash) sees either the old file or the whole new one,
never a partial one. Temporary files carry a recognisable suffix so they can be cleaned up.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_SUFFIX = ".partial"


def write_atomic(path: Path, data: str | bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    ``durable=False`` skips the per-file fsync for writers of many small files; they call
    ``flush_to_disk`` once per group instead, before recording that the files exist.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp_name = temporary_path_for(path)
    try:
        handle = open(tmp_name, "wb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
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


def flush_to_disk() -> None:
    """Push every written file to disk (one system call instead of an fsync per file)."""
    if hasattr(os, "sync"):
        os.sync()


def temporary_path_for(path: Path) -> Path:
    """A temporary sibling of ``path`` for writers that stream (they rename it when done)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def display_path(path: Path) -> str:
    """A path as a person would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files left in ``folder`` by an interrupted writer; return how many."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for candidate in folder.glob(f".*{TEMP_SUFFIX}"):
        try:
            candidate.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def remove_abandoned_temporaries_of(path: Path) -> int:
    """Delete the temporaries of ``path`` left by writers that died (a killed download, say).

    Only files named by ``temporary_path_for(path)`` with the id of a process that is no longer
    running are removed, so a writer still at work on the same file is never disturbed. Where a
    process cannot be checked (Windows), nothing is removed. Returns how many were removed.
    """
    path = Path(path)
    if os.name == "nt" or not path.parent.is_dir():
        return 0
    removed = 0
    prefix = f".{path.name}."
    for candidate in path.parent.glob(f".{_glob_escape(path.name)}.*{TEMP_SUFFIX}"):
        pid_text = candidate.name[len(prefix) : -len(TEMP_SUFFIX)]
        if not pid_text.isdigit() or _process_is_running(int(pid_text)):
            continue
        try:
            candidate.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


def _process_is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to someone else
    return True
