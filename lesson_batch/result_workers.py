"""Preparing result lines for saving: in this process, or in worker processes for a large file.

Preparing a line is the part of processing that needs no ledger and decides nothing: read it,
clean and check the lesson (``lesson_text.clean_and_check``), and write a good one to a temporary
file beside its final name (``files.write_temporary``). The caller (``results``) then takes the
prepared lines in file order and decides: which of two lines with one ``custom_id`` wins, whether
the lesson may take its final name (``files.publish``, which never replaces a file), what the
ledger records. So the outcome is the same wherever the lines were prepared.

A large file is cut into byte ranges of whole lines (``result_lines.line_ranges``); worker
processes, started with "spawn" (as Windows and macOS do anyway), each read and prepare a range,
and the results come back in file order, only a few ranges ahead, so temporaries never pile up.
A worker that dies loses nothing: nothing is recorded for a line not yet decided (a re-run
prepares it again), and the next run removes the temporaries left behind, whose names carry the
dead worker's process id (``files.remove_stale_temporaries``).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from . import crashpoints, ids
from .errors import LessonBatchError
from .files import write_temporary
from .lesson_text import LessonCheck, clean_and_check
from .result_lines import MAX_LINE_BYTES, BadLine, ResultLine, line_ranges, numbered_result_lines

WORKERS_FROM_BYTES = 16 * 1024 * 1024  # below this (~3,500 lessons), starting workers costs more than they save
RANGE_BYTES = 4 * 1024 * 1024
RANGES_AHEAD_PER_WORKER = 2
WORKERS: int | None = None  # worker processes for a large file; None: one per CPU (one CPU: none)


class WorkerDied(LessonBatchError):
    """A worker process ended before finishing its part of a results file (killed, out of memory)."""


@dataclass
class Prepared:
    """One line of a results file, ready for the caller to decide on.

    ``line_number`` counts from the start of the file (``item``'s own, from its range's start, is
    not used). For a success answering an awaited lesson, ``check`` says whether the cleaned
    lesson is good: if so, it waits in ``temporary``; if not, ``text`` holds it when it is not
    blank (kept under rejected/ for inspection). ``refused`` marks a refusal with no content.
    ``item`` keeps no content: the lesson is in the temporary file, or in ``text``.
    """

    line_number: int
    item: ResultLine | BadLine
    check: LessonCheck | None = None
    temporary: str | None = None
    text: str | None = None
    refused: bool = False


def prepare(
    line_number: int, item: ResultLine | BadLine, sections: tuple[str, ...] | None, output_dir: str
) -> Prepared:
    """Prepare one line. ``sections`` are the required sections of the lesson it answers, or None
    when no lesson awaits it (it is then only read, never cleaned or written)."""
    if isinstance(item, BadLine) or item.kind != "success" or sections is None:
        return Prepared(line_number, item)
    content = item.content or ""
    item = replace(item, content=None)
    if item.refusal and not content.strip():
        return Prepared(line_number, item, refused=True)
    text, check = clean_and_check(content, item.finish_reason, list(sections))
    if not check.ok:
        return Prepared(line_number, item, check, text=text if text.strip() else None)
    temporary = write_temporary(ids.lesson_file(output_dir, item.custom_id), text)
    crashpoints.reached("lesson_prepared")
    return Prepared(line_number, item, check, temporary=temporary)


def _prepare_file(
    path: str, sections_by_lesson: dict[str, tuple[str, ...]], output_dir: str, start: int = 0, end: int | None = None
) -> Iterator[Prepared]:
    for line_number, item in numbered_result_lines(path, MAX_LINE_BYTES, start, end):
        if item is not None:
            yield prepare(line_number, item, sections_by_lesson.get(item.custom_id or ""), output_dir)


class Preparer:
    """Prepares the lines of results files for one scope of awaited lessons; use as a context
    manager (it owns the worker processes, started only when a large file needs them)."""

    def __init__(self, sections_by_lesson: dict[str, tuple[str, ...]], output_dir: Path):
        self.sections_by_lesson = sections_by_lesson
        self.output_dir = os.fspath(output_dir)
        self.workers = (os.cpu_count() or 1) if WORKERS is None else WORKERS
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Preparer":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            # cancel_futures: after an error or Ctrl-C, ranges not started are dropped, not prepared.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def lines(self, path: Path) -> Iterator[Prepared]:
        """Every non-blank line of ``path`` prepared, in file order."""
        path = os.fspath(path)
        if self.workers < 2 or os.path.getsize(path) < WORKERS_FROM_BYTES:
            yield from _prepare_file(path, self.sections_by_lesson, self.output_dir)
            return
        pool = self._start_pool()
        ranges = iter(line_ranges(path, RANGE_BYTES))
        pending: deque = deque()

        def submit_next() -> None:
            span = next(ranges, None)
            if span is not None:
                pending.append(pool.submit(_prepare_range, path, *span))

        try:
            for _ in range(self.workers * RANGES_AHEAD_PER_WORKER):
                submit_next()
        except BrokenProcessPool:
            raise _worker_died(path) from None
        lines_before = 0
        while pending:
            try:
                line_count, prepared = pending.popleft().result()
                # A worker that died since may be noticed here first: submitting to a broken pool raises.
                submit_next()
            except BrokenProcessPool:
                raise _worker_died(path) from None
            for entry in prepared:
                entry.line_number += lines_before
                yield entry
            lines_before += line_count

    def _start_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.sections_by_lesson, self.output_dir),
            )
        return self._pool


def _worker_died(path: str) -> WorkerDied:
    return WorkerDied(
        f"a worker process preparing {path} ended unexpectedly; every lesson decided before "
        "that is saved and recorded, and nothing is half-written: run the same command again "
        "to finish"
    )


# --------------------------------------------------------------------------- in a worker process

_worker_scope: tuple[dict[str, tuple[str, ...]], str] | None = None


def _start_worker(sections_by_lesson: dict[str, tuple[str, ...]], output_dir: str) -> None:
    global _worker_scope
    _worker_scope = (sections_by_lesson, output_dir)
    # Ctrl-C reaches every process of the terminal: the main process stops the work (it waits for
    # the ranges being prepared and records what it decided); a worker stopping on its own would
    # only add tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()


def _end_with(parent_sentinel) -> None:
    # A main process killed outright (kill -9, a power cut of the terminal) cannot stop its
    # workers, and they would wait for work forever: each ends itself when its parent is gone.
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


def _prepare_range(path: str, start: int, end: int) -> tuple[int, list[Prepared]]:
    """A worker's job: the range's line count (blank lines too) and its prepared lines."""
    sections_by_lesson, output_dir = _worker_scope
    prepared = []
    line_count = 0
    for line_count, item in numbered_result_lines(path, MAX_LINE_BYTES, start, end):
        if item is not None:
            prepared.append(prepare(line_count, item, sections_by_lesson.get(item.custom_id or ""), output_dir))
    return line_count, prepared
