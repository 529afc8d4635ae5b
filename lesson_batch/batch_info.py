"""What the Batch API says about a batch (``BatchInfo``, ``BatchError``), and the endpoint its
requests go to.

Plain data, shared by the module that asks the API (``api``) and the one that stores the
answers (``ledger``), so that neither depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The endpoint of every request in a batch input file, and of the batch made from it: Chat
# Completions unless a run asks for the Responses API (``--endpoint responses``). The Batch API
# takes both (openai 3.63, types/batch_create_params.py: endpoint "/v1/responses",
# "/v1/chat/completions", ...). A batch's endpoint is recorded in the ledger; a ledger from before
# it was recorded holds only Chat Completions batches.
CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
BATCH_ENDPOINT = CHAT_ENDPOINT  # the default
# ``--endpoint`` values and the paths they stand for.
ENDPOINTS = {"chat": CHAT_ENDPOINT, "responses": RESPONSES_ENDPOINT}


def endpoint_name(path: str | None) -> str:
    """``chat`` or ``responses`` for an endpoint path (None: a record that predates endpoints: chat)."""
    return next((name for name, known in ENDPOINTS.items() if known == path), "chat" if path is None else path)


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
    endpoint: str | None = None  # the batch's endpoint, as the API says (None: not said)
