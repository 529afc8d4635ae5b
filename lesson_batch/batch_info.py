"""What the Batch API says about a batch (``BatchInfo``, ``BatchError``), and the endpoint its
requests go to.

Plain data, shared by the module that asks the API (``api``) and the one that stores the
answers (``ledger``), so that neither depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The endpoint of every request in a batch input file, and of the batch made from it.
BATCH_ENDPOINT = "/v1/chat/completions"


@dataclass(frozen=True)
class BatchError:
    code: str | None
    message: str | None
    line: int | None = None
    param: str | None = None


@dataclass(frozen=True)
class BatchInfo:
    """What the API says about a batch (built by ``api``; stored by ``ledger``)."""

    id: str
    status: str
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: float | None = None
    expires_at: float | None = None
    request_total: int = 0
    request_completed: int = 0
    request_failed: int = 0
    errors: tuple[BatchError, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    timestamps: dict[str, float] = field(default_factory=dict)  # in_progress_at, completed_at, ...
    model: str | None = None
    # The batch's own token count (the bill), for batches created since 2025-09-07: ``input_tokens``,
    # ``cached_tokens``, ``output_tokens``, ``reasoning_tokens``; None when the API gives none.
    usage: dict[str, int] | None = None
