"""The states a lesson, a shard and a batch can be in, as ``str`` enums, and their groupings.

The values are the strings the ledger stores (and the Batch API sends, for batch statuses), so a
member compares equal to its string and prints as it: ``LessonState.PENDING == "pending"``.
Each lesson and shard state is also named at module level (``PENDING`` is
``LessonState.PENDING``), for the modules that read better with the short name.

What moves a lesson from one state to another, and the attempts rule, is ``lifecycle``'s table;
the order shards go through is told in ``ledger``.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A string enum that formats and prints as its value (``enum.StrEnum`` is Python 3.11+)."""

    def __str__(self) -> str:
        return self.value


class LessonState(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    FLEX = "flex"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TRUNCATED = "truncated"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    MISSING = "missing"
    INVALID = "invalid"
    NEEDS_ATTENTION = "needs_attention"


class ShardState(StrEnum):
    PLANNED = "planned"
    UPLOADED = "uploaded"
    SUBMITTED = "submitted"
    ABANDONED = "abandoned"


class BatchStatus(StrEnum):
    """A batch's status as the Batch API names it."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


PENDING = LessonState.PENDING
SUBMITTED = LessonState.SUBMITTED
FLEX = LessonState.FLEX
SUCCEEDED = LessonState.SUCCEEDED
FAILED = LessonState.FAILED
TRUNCATED = LessonState.TRUNCATED
EXPIRED = LessonState.EXPIRED
CANCELLED = LessonState.CANCELLED
MISSING = LessonState.MISSING
INVALID = LessonState.INVALID
NEEDS_ATTENTION = LessonState.NEEDS_ATTENTION
LESSON_STATES = tuple(LessonState)
# A lesson whose request is out (in a batch, or sent through flex) waiting for its outcome.
IN_FLIGHT_STATES = (SUBMITTED, FLEX)
# Lessons no run requests now: saved, on their way, or held for a person.
SETTLED_OR_HELD_STATES = (SUBMITTED, FLEX, SUCCEEDED, NEEDS_ATTENTION)
# How the reason of a lesson held for a person begins when its request failed in a way the very
# same request fails again (an HTTP 400, the request's own fault: longer than the model's context,
# a parameter the model refuses): no run requests it again unchanged, whatever --max-attempts says.
FAILS_AGAIN_UNCHANGED = "the same request would fail again"

SHARD_PLANNED = ShardState.PLANNED
SHARD_UPLOADED = ShardState.UPLOADED
SHARD_SUBMITTED = ShardState.SUBMITTED
SHARD_ABANDONED = ShardState.ABANDONED
UNFINISHED_SHARD_STATES = (SHARD_PLANNED, SHARD_UPLOADED)

ACTIVE_BATCH_STATUSES = (
    BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS, BatchStatus.FINALIZING, BatchStatus.CANCELLING,
)
TERMINAL_BATCH_STATUSES = (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED)
# Terminal statuses whose files hold results to process (a failed batch ran no request).
RESULT_BATCH_STATUSES = (BatchStatus.COMPLETED, BatchStatus.EXPIRED, BatchStatus.CANCELLED)
# Batches that ended without running every request: some of their lessons may need requesting again.
UNFINISHED_BATCH_STATUSES = (BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED)
