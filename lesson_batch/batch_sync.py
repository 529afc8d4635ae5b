"""Keeping the ledger in step with the API: asking about batches, cancelling them, and watching
them until they finish.

``refresh`` asks the API about each batch and stores the answer in the ledger, so the
processing step knows which batches are ready. This module owns the rule for a batch that ran
nothing (``ran_nothing``): a ``failed`` batch was rejected before any request ran; what that does
to its lessons (back to pending, their attempt given back) is ``lifecycle``'s ``RAN_NOTHING``.

``watch`` polls until every batch is terminal. The interval starts at ``--interval`` and grows
by half each poll that brings no change, up to ``MAX_INTERVAL`` (so a 24-hour batch costs a
bounded number of calls per hour), and drops back to the start when something moves. A network
hiccup or a 5xx is reported and retried at the next poll instead of ending the watch.

How a batch reads to a person is ``text.status``'s business.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from . import crashpoints
from .api import ApiError, BatchApi
from .batch_info import CHAT_ENDPOINT, BatchInfo
from .ledger import BatchRecord, Ledger
from .lifecycle import RanNothing
from .output import Events, no_events
from .states import BatchStatus

MAX_INTERVAL = 300.0
BACKOFF_FACTOR = 1.5
# The error code of a batch over the organisation's enqueued-token limit.
TOKEN_LIMIT_CODE = "token_limit_exceeded"


def ran_nothing(info: BatchInfo) -> RanNothing | None:
    """For a batch that failed (it ran no request): that it ran nothing, with the reason its
    lessons go back to pending, naming its errors. None for any other status."""
    if info.status != BatchStatus.FAILED:
        return None
    reason = "; ".join(
        f"{error.code or 'error'}: {error.message or ''}".strip() for error in info.errors
    ) or "the batch failed"
    return RanNothing(f"batch {info.id} failed: {reason}")


def store(ledger: Ledger, info: BatchInfo) -> BatchRecord | None:
    """Store what the API said about a batch the ledger knows, applying ``ran_nothing``."""
    return ledger.update_batch(info, ran_nothing=ran_nothing(info))


def hit_token_limit(record: BatchRecord) -> bool:
    """A batch the API refused for being over the enqueued-token limit (its lessons wait for room)."""
    return record.status == BatchStatus.FAILED and any(error.code == TOKEN_LIMIT_CODE for error in record.errors)


@dataclass(frozen=True)
class RefreshProblem:
    batch_id: str
    message: str
    transient: bool
    everywhere: bool = False  # not about this batch (e.g. no network): the other batches are not asked
    lost: bool = False  # the API answered 404: it does not know this batch (for this key and project)


@dataclass(frozen=True)
class Polled:
    """One look at the batches being watched (``watch``'s event): their records as they are now,
    and the problems met reading them."""

    records: list[BatchRecord]
    problems: list[RefreshProblem]


def lost_message(batch_id: str) -> str:
    return (
        f"batch {batch_id} is not found for this API key and project (the API answered 404: another key or "
        "project, or a local test server that was started again)"
    )


def problem_messages(problems: Iterable[RefreshProblem]) -> list[str]:
    """Each distinct problem once (one unreachable server is one problem, however many batches)."""
    return list(dict.fromkeys(problem.message for problem in problems))


def refresh(ledger: Ledger, api: BatchApi, batch_ids: Iterable[str]) -> tuple[list[BatchRecord], list[RefreshProblem]]:
    """Ask the API about each batch (terminal ones already known are not asked again)."""
    records, problems = [], []
    for batch_id in batch_ids:
        known = ledger.batch(batch_id)
        if known is not None and known.is_terminal and known.checked_at is not None:
            records.append(known)
            continue
        if problems and problems[-1].everywhere:
            # The API itself is out of reach (network, key, server): asking again for every batch
            # would only repeat the same error after the same retries. The ledger's view stands.
            problems.append(RefreshProblem(batch_id, problems[-1].message, problems[-1].transient, True))
            if known is not None:
                records.append(known)
            continue
        try:
            info = api.get_batch(batch_id)
        except ApiError as exc:
            if exc.status == 404:
                # Lost to this key: the other batches are asked as usual, and its lessons stay held.
                problems.append(RefreshProblem(batch_id, lost_message(batch_id), False, lost=True))
            else:
                problems.append(RefreshProblem(batch_id, str(exc), exc.transient, True))
            if known is not None:
                records.append(known)
            continue
        record = store(ledger, info) if known is not None else None
        records.append(record or _unrecorded(info))
    return records, problems


def _unrecorded(info: BatchInfo) -> BatchRecord:
    """A batch the ledger does not know (an id given on the command line): shown, not stored."""
    return BatchRecord(
        batch_id=info.id, shard_key="", model=info.model or "", status=info.status,
        input_file_id=info.input_file_id, output_file_id=info.output_file_id, error_file_id=info.error_file_id,
        request_total=info.request_total, request_completed=info.request_completed,
        request_failed=info.request_failed, errors=info.errors, created_at=info.created_at,
        expires_at=info.expires_at, prompt_tokens_estimate=0, output_tokens_estimate=0, checked_at=time.time(),
        processed_at=None, usage=None, api_usage=info.usage, endpoint=info.endpoint or CHAT_ENDPOINT,
    )


def cancel(
    ledger: Ledger, api: BatchApi, batch_ids: list[str], on_lost: Callable[[str], None] | None = None
) -> list[BatchInfo]:
    """Ask the API to cancel each batch; the ledger records the new status of those it knows.
    With ``on_lost``, a batch the API answers 404 for is told to it and the others are cancelled."""
    cancelled = []
    for batch_id in batch_ids:
        try:
            info = api.cancel_batch(batch_id)
        except ApiError as exc:
            if exc.status != 404 or on_lost is None:
                raise
            on_lost(batch_id)
            continue
        if ledger.batch(batch_id) is not None:
            store(ledger, info)
        cancelled.append(info)
    return cancelled


def next_interval(current: float, start: float, changed: bool, ceiling: float = MAX_INTERVAL) -> float:
    if changed:
        return start
    return min(max(current, start) * BACKOFF_FACTOR, max(ceiling, start))


def watch(
    ledger: Ledger,
    api: BatchApi,
    batch_ids: list[str],
    interval: float,
    events: Events = no_events,
    sleep: Callable[[float], None] = time.sleep,
    max_interval: float = MAX_INTERVAL,
    stop_when: Callable[[list[BatchRecord]], bool] | None = None,
) -> list[BatchRecord]:
    """Poll until every batch is terminal (or ``stop_when`` says so); return the last records.
    A batch the API does not know (404) is not waited for: it cannot end."""
    current = interval
    previous: dict[str, tuple] = {}
    while True:
        records, problems = refresh(ledger, api, batch_ids)
        events(Polled(records, problems))
        crashpoints.reached("watch_poll")
        fatal = [problem for problem in problems if not problem.transient and not problem.lost]
        if fatal:
            raise ApiError(fatal[0].message)
        if stop_when is not None and stop_when(records):
            return records
        lost = {problem.batch_id for problem in problems if problem.lost}
        by_id = {record.batch_id: record for record in records}
        followed = [batch_id for batch_id in batch_ids if batch_id not in lost]
        if all(batch_id in by_id and by_id[batch_id].is_terminal for batch_id in followed):
            return records
        snapshot = {r.batch_id: (r.status, r.request_completed, r.request_failed) for r in records}
        changed = snapshot != previous and bool(previous)
        previous = snapshot
        current = next_interval(current, interval, changed, max_interval)
        sleep(current)
