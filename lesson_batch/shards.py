"""Splitting requests into Batch API input files (shards) that respect the API's limits.

A batch input file holds at most 50,000 requests and 200 MB, and one model. An optional cap on
estimated prompt tokens per batch keeps each batch under the organisation's enqueued-token limit
(the API fails a batch with ``token_limit_exceeded`` above it).

Requests are streamed straight into the files: a new shard starts when the next request would
break a limit. Only a summary of each shard is kept in memory (ids, sizes, a checksum), so a
50,000-lesson plan does not hold every request body at once. Each file is written to a temporary
name and renamed when complete (``files.AtomicStream``), so a crash never leaves a half-written
shard under its real name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LessonBatchError
from .files import AtomicStream, naming
from .requests import LessonRequest
from .workspace import Workspace

MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1000 * 1000  # 200 MB; the decimal reading is the safe one


class ShardError(LessonBatchError, ValueError):
    """A request that no shard can hold."""


@dataclass(frozen=True)
class ShardLimits:
    max_requests: int = MAX_REQUESTS_PER_FILE
    max_bytes: int = MAX_BYTES_PER_FILE
    max_enqueued_tokens: int | None = None


@dataclass
class Shard:
    index: int  # 0-based
    path: Path
    lesson_ids: list[str] = field(default_factory=list)
    budgets: list[tuple[int, str | None]] = field(default_factory=list)  # per lesson: max tokens, effort
    size_bytes: int = 0
    prompt_tokens: int = 0  # estimated
    output_tokens: int = 0  # estimated
    sha256: str = ""
    first_prompt_tokens: int = 0  # estimated prompt of its first request (the one taken to write the cache)

    @property
    def request_count(self) -> int:
        return len(self.lesson_ids)


class ShardWriter:
    """Writes requests into shard files as they come, starting a new file at each limit."""

    def __init__(self, work_dir: Path, limits: ShardLimits):
        self.work_dir = Path(work_dir)
        self.workspace = Workspace(work_dir)
        self.limits = limits
        self.shards: list[Shard] = []
        self._streams: list[AtomicStream] = []  # one a shard, each given its final name by ``close``
        self._handle = None
        self._digest = None

    def add(self, request: LessonRequest, output_tokens: int) -> None:
        line_size = len(request.line)
        if line_size > self.limits.max_bytes:
            raise ShardError(
                f"the request for {request.lesson_id} is {line_size:,} bytes, more than a whole input file may hold"
            )
        current = self.shards[-1] if self.shards else None
        cap = self.limits.max_enqueued_tokens
        if (
            current is None
            or current.request_count >= self.limits.max_requests
            or current.size_bytes + line_size > self.limits.max_bytes
            or (cap is not None and current.request_count and current.prompt_tokens + request.prompt_tokens > cap)
        ):
            current = self._start_shard()
        if not current.request_count:
            current.first_prompt_tokens = request.prompt_tokens
        try:
            self._handle.write(request.line)
        except OSError as exc:  # a full disk: say which file
            raise naming(exc, self._streams[-1].path) from None
        self._digest.update(request.line)
        current.lesson_ids.append(request.lesson_id)
        current.budgets.append((request.max_completion_tokens, request.reasoning_effort))
        current.size_bytes += line_size
        current.prompt_tokens += request.prompt_tokens
        current.output_tokens += output_tokens

    def close(self) -> list[Shard]:
        """Finish the last file and give every shard its final name (numbered when several)."""
        self._finish_current()
        count = len(self.shards)
        for stale in self.workspace.input_files():
            stale.unlink()  # a previous plan's files: they would be mistaken for this plan's
        for shard, stream in zip(self.shards, self._streams, strict=True):
            shard.path = stream.publish(self.workspace.input_file(shard.index, count))
        return self.shards

    def abort(self) -> None:
        self._handle = None
        for stream in self._streams:
            stream.discard()
        for shard in self.shards:
            shard.path.unlink(missing_ok=True)  # a file ``close`` gave its final name before failing

    def _start_shard(self) -> Shard:
        self._finish_current()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        index = len(self.shards)
        stream = AtomicStream(self.workspace.input_file_being_written(index))
        shard = Shard(index=index, path=stream.temporary)
        self.shards.append(shard)
        self._streams.append(stream)
        self._handle = stream.handle
        self._digest = hashlib.sha256()
        return shard

    def _finish_current(self) -> None:
        if self._handle is None:
            return
        try:
            self._streams[-1].finish()
        except OSError as exc:
            raise naming(exc, self._streams[-1].path) from None
        self._handle = None
        self.shards[-1].sha256 = self._digest.hexdigest()
