"""The one place that writes files atomically.

A file is written to a temporary sibling, then given its name in one step, so a reader (or a
re-run after a crash) sees either the old file or the whole new one, never a partial one.
Temporary files carry a recognisable suffix so they can be cleaned up.

Two ways to give the name: ``write_atomic`` replaces whatever was there (``os.replace``);
``write_temporary`` then ``publish`` never replaces: the name is taken with a hard link
(``os.link``), which fails if the name exists, so there is no separate existence check to race
with. (A filesystem without hard links falls back to a check then a rename; Windows' rename
never replaces.)

Writers of many files skip the per-file fsync and call ``flush_to_disk`` once per group, before
recording that the files exist: on Linux one ``syncfs`` of the folder's filesystem (an fsync
per file doubled a 15,000-lesson run on an ext4 disk: docs/benchmark.md), elsewhere an fsync of
each file, then of the folder.

A file written as a stream (a download, a request file) goes through ``AtomicStream`` (or
``atomic_stream``, its context-manager form): the same temporary sibling, fsynced, then renamed.
The one file that another library writes (SQLite's backup of the ledger) takes its temporary
name from here too (``temporary_path_for``). So ``remove_stale_temporaries`` finds whatever a
killed writer left.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import stat
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from .errors import LessonBatchError

TEMP_SUFFIX = ".partial"
WINDOWS_ABANDON_SECONDS = 3600
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_temporary_numbers = itertools.count()


def write_atomic(path: Path, data: str | bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically, replacing the file if there is one.

    ``durable=False`` skips the per-file fsync for writers of many small files; they call
    ``flush_to_disk`` once per group instead, before recording that the files exist.
    """
    path = os.fspath(path)  # plain strings: this can run once per lesson, tens of thousands of times
    temporary = write_temporary(path, data, durable)
    try:
        os.replace(temporary, path)
    except BaseException:
        discard(temporary)
        raise


def write_temporary(path: Path | str, data: str | bytes, durable: bool = False) -> str:
    """Write ``data`` to a new temporary sibling of ``path`` (never one another writer uses) and
    return its name; ``publish`` or ``os.replace`` then gives it the name ``path``."""
    path = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    while True:
        temporary = _temporary_name(path)
        try:
            descriptor = os.open(temporary, _OPEN_NEW, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            continue
        except FileExistsError:
            # Left by a dead process that had the same id: it is nobody's.
            discard(temporary)
            continue
        break
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view):]
            if durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        discard(temporary)
        raise naming(exc, path) from None
    except BaseException:
        discard(temporary)
        raise
    return temporary


def publish(temporary: str, path: str) -> bool:
    """Give ``temporary`` the name ``path`` unless that exists; False (``temporary`` left as it
    is, for the caller to discard or keep) when it does."""
    try:
        os.link(temporary, path)  # fails if ``path`` exists
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        return _rename_unless_taken(temporary, path)
    discard(temporary)
    return True


def _rename_unless_taken(temporary: str, path: str) -> bool:
    """``publish`` on a filesystem without hard links (FAT, some network shares)."""
    if os.name == "nt":
        try:
            os.rename(temporary, path)  # never replaces on Windows
        except FileExistsError:
            return False
        return True
    # A check, then a rename: a race only with another writer saving the same lesson at the same moment.
    if os.path.lexists(path):
        return False
    os.rename(temporary, path)
    return True


def _syncfs():
    """Linux's ``syncfs(fd)`` from the C library (flush the one filesystem holding ``fd``, not
    every disk as ``sync()`` does), or None off Linux or where the C library lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int,)
    function.restype = ctypes.c_int
    return function


_syncfs_call = _syncfs()


def discard(path: str) -> None:
    """Remove ``path`` if it is there (a temporary no longer wanted)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FolderError(LessonBatchError):
    """A folder the run needs cannot be used (it is a file, or cannot be created or written)."""


# A write that failed because the disk (or the user's quota on it) is full.
DISK_FULL_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)


def naming(exc: OSError, path: Path | str) -> OSError:
    """``exc`` with ``path`` as its file name when it has none (a write through a descriptor or a
    file object names no file), so the message can say which file could not be written."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), os.fspath(path))


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def disk_full_message(exc: OSError, kept: str) -> str:
    """A full disk in plain words: the folder whose disk is full, the file that could not be
    written, what was kept (``kept``), and what to do."""
    if exc.filename:
        written = Path(os.fsdecode(exc.filename))
        where = f"the disk holding {display_path(written.parent)} is full (cannot write {display_path(written)})"
    else:
        where = "the disk is full"
    return f"{where}; {kept}. Free some space, then run the same command again: nothing is paid for twice."


def is_lesson_file(path: Path | str) -> bool:
    """Whether a regular file (a lesson already generated) is at ``path``: not a folder, and not a
    symbolic link, even one to a file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def lesson_path_problem(path: Path | str) -> str | None:
    """Why ``path`` cannot take a lesson file, in words that name it: something that is not a
    regular file is there (a folder, a symbolic link, even one to a file, or a dangling one).
    None when nothing is there or a regular file is (a lesson already generated)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    shown = os.path.join(display_path(Path(path).parent), os.path.basename(path))  # the link, not its target
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        dangling = "" if os.path.exists(path) else ", which does not exist"
        what = f"a symbolic link (to {target}{dangling})"
    elif stat.S_ISDIR(mode):
        what = "a folder"
    else:
        what = "not a regular file"
    return f"{shown} is {what}, not a lesson file: move it away and run again"


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


def flush_to_disk(paths: Iterable[str]) -> None:
    """Make files written without an fsync durable, with their names, before they are recorded.

    On Linux, one ``syncfs`` per folder's filesystem (only those, unlike ``sync()``, which waits
    for every disk of the machine); elsewhere, or if that fails, an fsync of each file and folder.
    """
    paths = list(paths)
    folders = {os.path.dirname(path) or "." for path in paths}
    if _syncfs_call is not None and _sync_filesystems(folders):
        return
    for path in paths:
        descriptor = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0) if os.name == "nt" else os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    if os.name != "nt":  # Windows cannot open a folder to sync it; NTFS journals the names
        for folder in folders:
            descriptor = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            except OSError:
                pass  # some filesystems refuse to sync a folder; its files are synced
            finally:
                os.close(descriptor)


def _sync_filesystems(folders: set[str]) -> bool:
    for folder in folders:
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            if _syncfs_call(descriptor) != 0:
                return False
        finally:
            os.close(descriptor)
    return True


class AtomicStream:
    """A file written piece by piece under a temporary sibling's name, given its final name only
    once complete (``publish``): a crash never leaves part of it under that name.

    ``finish`` (flush, fsync, close) may come before ``publish``, for a writer that learns the
    final name later; ``discard`` drops the file.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.temporary = temporary_path_for(self.path)
        self.temporary.parent.mkdir(parents=True, exist_ok=True)
        self.handle: BinaryIO = open(self.temporary, "wb")

    def finish(self) -> None:
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def publish(self, path: Path | str | None = None) -> Path:
        """Finish, then give the file its name (``path``, else the one it was opened for),
        replacing the file there if any; returns that name."""
        self.finish()
        final = Path(path) if path is not None else self.path
        os.replace(self.temporary, final)
        return final

    def discard(self) -> None:
        try:
            self.handle.close()  # flushes what is buffered: fails again on a full disk
        except OSError:
            pass
        discard(os.fspath(self.temporary))


class DurableLog:
    """A file of lines, each on disk (fsynced) before ``append`` returns: what a run received and
    must not lose, kept before it is processed. A line that cannot be written whole (a full disk)
    is taken back, so the file holds only whole lines; readers skip a last line a crash cut short."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._descriptor: int | None = None

    def append(self, line: bytes) -> None:
        try:
            if self._descriptor is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
                self._descriptor = os.open(self.path, flags, 0o666)
            start = os.lseek(self._descriptor, 0, os.SEEK_END)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._descriptor, view):]
                os.fsync(self._descriptor)
            except OSError:
                try:
                    os.ftruncate(self._descriptor, start)
                except OSError:
                    pass
                raise
        except OSError as exc:
            raise naming(exc, self.path) from None

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


@contextmanager
def atomic_stream(path: Path | str) -> Iterator[BinaryIO]:
    """A binary handle whose content takes the name ``path`` (replacing that file) when the block
    ends normally; nothing takes it when the block raises."""
    stream = AtomicStream(path)
    try:
        yield stream.handle
        stream.publish()
    except OSError as exc:
        stream.discard()
        if not is_disk_full(exc):
            raise  # e.g. a connection reset while downloading: the caller's to handle
        raise naming(exc, path) from None
    except BaseException:
        stream.discard()
        raise


def temporary_path_for(path: Path) -> Path:
    """A temporary sibling of ``path`` for writers that stream (they rename it when done)."""
    return Path(_temporary_name(os.fspath(path)))


def _temporary_name(path: str) -> str:
    # The writer's process id ends the name: it tells remove_stale_temporaries whether the writer
    # still runs. The number before it keeps two temporaries of one file apart within one process.
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{next(_temporary_numbers)}.{os.getpid()}{TEMP_SUFFIX}")


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
