"""Flex, one request: sending it, and what its answer means for the run (``flex`` runs many).

``send`` sends one lesson's request (the very body of its input-file line, plus
``service_tier: "flex"``) through ``api.flex_completion``, on a worker thread of the run:

- capacity refusals (429, not billed) are retried after the server's ``retry-after``, else an
  exponential backoff, with jitter; the ``CapacityGate``, shared by every request of a run, says
  when they went on too long with no answer served (the run then gives up on flex);
- server errors (5xx) and lost connections are retried a few times;
- anything else ends the request with an ``Outcome``: an answer, a failed lesson, a model that does
  not take flex (a 400 naming ``service_tier``), a refusal no request can get past (401, 403, 404,
  ``insufficient_quota``), or no answer at all (timed out: it may have run and been paid).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from ..api import BatchApi, ChatReply, NoAnswerError
from ..plan import Plan
from ..requests import body_prompt_tokens

MAX_SERVER_ERRORS = 3  # retries of one request after a 5xx or a lost connection
BACKOFF_BASE = 1.0
BACKOFF_CAP = 120.0
MAX_RETRY_AFTER = 600.0  # a longer hint is not believed: the backoff is used instead
JITTER = 0.25

# What one request came to (see ``classify`` and ``send``).
ANSWER = "answer"  # 200: an answer, billed
LESSON_ERROR = "lesson_error"  # a 4xx about this request: recorded as a failed lesson
SERVER_ERROR = "server_error"  # 5xx, still failing after retries: recorded as a failed lesson
UNSUPPORTED = "unsupported"  # 400 naming service_tier: the model does not take flex
FATAL = "fatal"  # 401, 403, 404, insufficient_quota: no request can succeed
CAPACITY = "capacity"  # 429: no capacity now (retried)
REFUSED = "refused"  # capacity refusals went on too long: the run gave up on flex
NOT_SENT = "not_sent"  # the run stopped while the request waited to be retried
NO_ANSWER = "no_answer"  # timed out (it may have run and been paid) or unreachable


@dataclass(frozen=True)
class FlexRequest:
    lesson_id: str
    body: dict
    budget: int
    effort: str | None
    prompt_tokens: int  # estimated


@dataclass(frozen=True)
class Outcome:
    request: FlexRequest
    kind: str
    reply: ChatReply | None = None
    detail: str = ""
    timed_out: bool = False  # NO_ANSWER: sent, and no answer in time (the run goes on)
    crash: BaseException | None = None  # a bug on the worker thread, raised again on the main one


def classify(reply: ChatReply) -> str:
    """What an HTTP answer to a flex request means for the run."""
    if reply.status == 200:
        return ANSWER
    error = reply.body.get("error") if isinstance(reply.body.get("error"), dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or "").lower()
    if reply.status == 429:
        return FATAL if code == "insufficient_quota" else CAPACITY
    if reply.status == 400 and (error.get("param") == "service_tier" or "service_tier" in message):
        return UNSUPPORTED
    if reply.status in (401, 403, 404):
        return FATAL
    if reply.status >= 500 or reply.status in (408, 409):
        return SERVER_ERROR
    return LESSON_ERROR


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before retry number ``attempt`` (1, 2, ...): the server's ``retry-after`` when it
    gives a believable one, else an exponential backoff; jittered so that requests refused
    together do not all come back together."""
    if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
        return retry_after * (1 + JITTER * rng.random())
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt - 1, 16))
    return ceiling * (1 - JITTER * rng.random())


def read_requests(plan: Plan) -> Iterator[FlexRequest]:
    """The plan's requests, read back from its input files one line at a time."""
    for shard in plan.shards:
        with open(shard.path, "rb") as handle:
            for line, (budget, effort) in zip(handle, shard.budgets, strict=True):
                record = json.loads(line)
                body = record["body"]
                yield FlexRequest(record["custom_id"], body, budget, effort, body_prompt_tokens(body))


class CapacityGate:
    """Capacity refusals across all requests of a run; says when to give up on flex."""

    def __init__(self, patience: float, min_refusals: int, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.patience = patience
        self.min_refusals = min_refusals
        self.in_a_row = 0
        self.total = 0
        self.last_served = clock()
        self.gave_up = False

    def served(self) -> None:
        with self._lock:
            self.in_a_row = 0
            self.last_served = self._clock()

    def refused(self) -> bool:
        """Count a refusal; True once the run should stop trying."""
        with self._lock:
            self.in_a_row += 1
            self.total += 1
            if self.in_a_row >= self.min_refusals and self._clock() - self.last_served >= self.patience:
                self.gave_up = True
            return self.gave_up


def send(
    api: BatchApi, request: FlexRequest, halt: threading.Event, gate: CapacityGate, rng: random.Random, endpoint: str
) -> Outcome:
    """One lesson's request, retried after capacity refusals and server errors (on a worker thread);
    ``halt`` ends a wait to retry (the request is then not sent again)."""
    refusals = failures = 0
    while True:
        if gate.gave_up:
            return Outcome(request, REFUSED)
        try:
            reply = api.flex_completion(request.body, endpoint)
        except NoAnswerError as exc:
            if exc.timed_out or failures >= MAX_SERVER_ERRORS:
                return Outcome(request, NO_ANSWER, detail=str(exc), timed_out=exc.timed_out)
            failures += 1
            delay = backoff_delay(failures, None, rng)
        else:
            kind = classify(reply)
            if kind == ANSWER:
                gate.served()
            if kind == CAPACITY:
                refusals += 1
                if gate.refused():
                    return Outcome(request, REFUSED, reply)
                delay = backoff_delay(refusals, reply.retry_after, rng)
            elif kind == SERVER_ERROR and failures < MAX_SERVER_ERRORS:
                failures += 1
                delay = backoff_delay(failures, reply.retry_after, rng)
            else:
                return Outcome(request, kind, reply)
        if halt.wait(delay):
            return Outcome(request, NOT_SENT)


def error_message(reply: ChatReply | None) -> str:
    if reply is None:
        return ""
    error = reply.body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return f"{reply.status} {message or ''}".strip()
