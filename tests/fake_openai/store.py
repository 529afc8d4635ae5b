"""The fake OpenAI world: stored files, batches, their validation and the batch state machine.

``Store`` knows nothing about HTTP. It takes already-parsed parameters, returns objects
that render themselves as the API's JSON (``to_api()``), and signals every refusal by
raising ``ApiError`` with the status, message, ``param`` and ``code`` the API would use.
It is not thread-safe on its own: the server calls it only while holding its one lock.

Batches move through the real status machine::

    validating -> in_progress -> finalizing -> completed
         |             |  \\-> expired            (outcome "expire")
         |             \\-> (stays)               (outcome "stuck")
         \\-> failed                              (bad input file, "fail_validation", "token_limit")
    validating / in_progress / finalizing -> cancelling -> cancelled   (POST .../cancel)

A batch moves one step at a time: in "poll" mode after every ``polls_per_step``-th
``GET /v1/batches/{id}``, in "time" mode once per ``seconds_per_step`` of wall time (worked
out lazily whenever the batch is looked at). The input file is checked when the batch
leaves ``validating``; that is also when every request is answered at once by the fake
model (see ``model.py``) and per-request faults are applied. While ``in_progress`` a growing
prefix of those answers counts as "done" (``request_counts`` grow); when the batch ends, the
done answers are written to the output file (successes, in a shuffled order, as the real API
gives no order guarantee) and the error file (failed requests, then the unfinished ones as
``batch_expired`` / ``batch_cancelled``). A file that would be empty is not created and its
id stays null.

Every request line is checked (``checks.py``) when the batch runs, against the server's own
model table (``catalog.py``) as of the scenario's "today"; ``answer_chat`` is shared with the
direct ``POST /v1/chat/completions``. ``list_batches`` follows the scenario's
``batch_list_order``, because the real API documents no order.

IDs are derived from a per-server counter and a salt drawn when the store is made: ``reset``
keeps the counter going, and a server started again draws another salt, so an id never means
two different objects, on one server or across restarts (the real API never reuses an id, and a
client that kept an old id must get a 404 for it, not another batch).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from .catalog import OWNED_BY, ModelSpec, listed_ids, resolve
from .checks import check_chat_body, model_not_found
from .errors import ApiError, bad_request, error_body, invalid_type, invalid_value, missing_parameter
from .model import Quirks, TokenUsage, chat_completion, system_text
from .responses import chat_view, check_responses_body, response_object
from .scenario import DEFAULT_FORCED_VALIDATION_ERROR, BatchPlan, Scenario

SECONDS_PER_DAY = 24 * 60 * 60
BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
ANSWERED_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
ANSWERED_ENDPOINTS = (ANSWERED_ENDPOINT, RESPONSES_ENDPOINT)
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
REQUIRED_LINE_FIELDS = ("custom_id", "method", "url", "body")
CANCELLABLE = ("validating", "in_progress", "finalizing")
TERMINAL = ("completed", "failed", "expired", "cancelled")
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
BATCH_CREATE_PARAMS = ("input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    expires_at: int | None = None

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": self.expires_at,
        }


@dataclass
class RequestLine:
    """One valid request of a batch input file."""

    line: int
    custom_id: str
    body: dict


@dataclass
class Answer:
    """The fake model's answer to one request: a success (200) or a per-request error."""

    result_id: str
    custom_id: str
    request_id: str
    status_code: int
    body: dict
    usage: TokenUsage = field(default_factory=TokenUsage)

    @property
    def succeeded(self) -> bool:
        return self.status_code == 200

    def result_line(self) -> dict:
        response = {"status_code": self.status_code, "request_id": self.request_id, "body": self.body}
        return {"id": self.result_id, "custom_id": self.custom_id, "response": response, "error": None}

    def unfinished_line(self, code: str) -> dict:
        message = {
            "batch_expired": "This request could not be executed before the completion window expired.",
            "batch_cancelled": "This request was not executed because the batch was cancelled.",
        }[code]
        error = {"code": code, "message": message}
        return {"id": self.result_id, "custom_id": self.custom_id, "response": None, "error": error}


@dataclass
class Batch:
    id: str
    input_file_id: str
    input_content: bytes  # snapshot: deleting the input file later does not change the batch
    endpoint: str
    completion_window: str
    metadata: dict | None
    created_at: int
    plan: BatchPlan
    output_expires_after: int | None = None
    status: str = "validating"
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    model: str | None = None
    errors: list[dict] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    answers: list[Answer] = field(default_factory=list)
    done: int = 0  # answers[:done] count as processed
    steps_in_progress: int = 0
    polls_since_step: int = 0
    last_step_at: float = 0.0  # time.monotonic() of the last step (time mode)

    def request_counts(self) -> dict:
        done = self.answers[: self.done]
        completed = sum(1 for answer in done if answer.succeeded)
        return {"total": len(self.answers), "completed": completed, "failed": len(done) - completed}

    def usage(self) -> dict | None:
        if not self.done:
            return None
        done = [answer.usage for answer in self.answers[: self.done] if answer.succeeded]
        extra = self.plan.usage_extra
        input_tokens = sum(u.prompt_tokens for u in done) + extra.get("input_tokens", 0)
        output_tokens = sum(u.completion_tokens for u in done) + extra.get("output_tokens", 0)
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {
                "cached_tokens": sum(u.cached_tokens for u in done) + extra.get("cached_tokens", 0)
            },
            "output_tokens": output_tokens,
            "output_tokens_details": {
                "reasoning_tokens": sum(u.reasoning_tokens for u in done) + extra.get("reasoning_tokens", 0)
            },
            "total_tokens": input_tokens + output_tokens,
        }

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.created_at + SECONDS_PER_DAY,
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": self.request_counts(),
            "metadata": self.metadata,
            "model": self.model,
            "usage": self.usage(),
        }


class Store:
    """All files and batches of one fake server, and the rules they follow."""

    def __init__(self, scenario: Scenario, *, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._ids = itertools.count(1)
        self._salt = secrets.token_hex(8)  # ids never repeat across restarts
        self.reset(scenario)

    def reset(self, scenario: Scenario) -> None:
        """Forget every file and batch and start over under ``scenario`` (ids keep counting)."""
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}
        self.set_scenario(scenario)

    def set_scenario(self, scenario: Scenario) -> None:
        """Use ``scenario`` from now on; its ``batches`` plans apply to batches created from now on."""
        self.scenario = scenario
        self.batches_created_under_scenario = 0
        self.shared_second: int | None = None  # same_second_batches: the created_at they all get
        self.fault_hits: Counter = Counter()

    # ---- models ------------------------------------------------------------------------

    def today(self) -> str:
        return self.scenario.current_date()

    def model_spec(self, model_id: Any) -> ModelSpec | None:
        """The rules of ``model_id`` if the API serves it today; None if it is unknown or gone."""
        if not isinstance(model_id, str):
            return None
        spec = resolve(model_id, self.scenario.models)
        return None if spec is None or spec.is_gone(self.today()) else spec

    def model(self, model_id: str) -> dict:
        spec = self.model_spec(model_id)
        if spec is None:
            raise model_not_found(model_id)
        return {
            "id": spec.id,
            "object": "model",
            "created": spec.created_timestamp(),
            "owned_by": OWNED_BY,
            "shutdown_date": spec.shutdown_date,
        }

    def list_models(self) -> dict:
        ids = [model_id for model_id in listed_ids(self.scenario.models) if self.model_spec(model_id) is not None]
        return {"object": "list", "data": [self.model(model_id) for model_id in ids]}

    # ---- files -------------------------------------------------------------------------

    def upload(self, *, filename: str, purpose: str, content: bytes, expires_after: dict | None = None) -> StoredFile:
        if purpose not in UPLOAD_PURPOSES:
            raise ApiError(400, invalid_value(purpose, UPLOAD_PURPOSES), param="purpose", code="invalid_value")
        if purpose == "batch" and not filename.lower().endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Batch API. Must be .jsonl")
        limit = self.scenario.max_file_bytes
        if len(content) > limit:
            raise ApiError(
                400,
                f"File is too large: {len(content)} bytes, but the maximum for purpose '{purpose}' is {limit} bytes.",
                param="file",
                code="file_too_large",
            )
        expires_in = _expires_after_seconds(expires_after, "expires_after")
        if expires_in is None and purpose == "batch":
            expires_in = 30 * SECONDS_PER_DAY
        return self._add_file(filename, purpose, content, expires_in)

    def file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def delete_file(self, file_id: str) -> dict:
        self.file(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(self, query: dict[str, str]) -> dict:
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(400, invalid_value(order, ("asc", "desc")), param="order", code="invalid_value")
        files = [f for f in self.files.values() if query.get("purpose") in (None, f.purpose)]
        if order == "desc":
            files.reverse()
        return _page(files, query, default_limit=10_000, max_limit=10_000)

    # ---- batches -----------------------------------------------------------------------

    def create_batch(self, params: dict[str, Any]) -> Batch:
        for name in params:
            if name not in BATCH_CREATE_PARAMS:
                raise bad_request(f"Unrecognized request argument supplied: {name}", name, "unknown_parameter")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if params.get(name) is None:
                raise missing_parameter(name)
            if not isinstance(params[name], str):
                raise bad_request(invalid_type(name, "a string", params[name]), name, "invalid_type")
        if params["completion_window"] != "24h":
            message = invalid_value(params["completion_window"], ("24h",))
            raise bad_request(message, "completion_window", "invalid_value")
        if params["endpoint"] not in BATCH_ENDPOINTS:
            raise bad_request(invalid_value(params["endpoint"], BATCH_ENDPOINTS), "endpoint", "invalid_value")
        metadata = params.get("metadata")
        _check_metadata(metadata)
        output_expires_in = _expires_after_seconds(params.get("output_expires_after"), "output_expires_after")

        file_id = params["input_file_id"]
        input_file = self.files.get(file_id)
        if input_file is None:
            raise ApiError(400, f"No such File object: {file_id}", param="input_file_id", code="invalid_value")
        if input_file.purpose != "batch":
            raise ApiError(
                400,
                f"Invalid 'input_file_id': '{file_id}'. The file has purpose '{input_file.purpose}', "
                "but a batch input file must be uploaded with purpose 'batch'.",
                param="input_file_id",
                code="invalid_value",
            )

        plan = self.scenario.plan_for(self.batches_created_under_scenario)
        self.batches_created_under_scenario += 1
        created_at = self._now()
        if self.scenario.same_second_batches:
            self.shared_second = created_at = self.shared_second or created_at
        batch = Batch(
            id=self._new_batch_id(),
            input_file_id=file_id,
            input_content=input_file.content,
            endpoint=params["endpoint"],
            completion_window="24h",
            metadata=dict(metadata) if metadata is not None else None,
            created_at=created_at,
            plan=plan,
            output_expires_after=output_expires_in,
            last_step_at=time.monotonic(),
        )
        self.batches[batch.id] = batch
        return batch

    def batch(self, batch_id: str, *, poll: bool = False) -> Batch:
        """The batch, brought up to date; ``poll`` marks a client's status poll (it may advance it)."""
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        if self.scenario.advance == "time":
            self._catch_up(batch)
        elif poll:
            batch.polls_since_step += 1
            if batch.polls_since_step >= self.scenario.polls_per_step:
                batch.polls_since_step = 0
                self.step(batch)
        return batch

    def list_batches(self, query: dict[str, str]) -> dict:
        """A page of batches in the scenario's ``batch_list_order`` (the API documents no order)."""
        batches = [self.batch(batch_id) for batch_id in self.batches]
        order = self.scenario.batch_list_order
        if order == "newest_first":
            batches.reverse()
        elif order == "shuffled":
            batches = _shuffled(batches, seed=",".join(batch.id for batch in batches))
        return _page(batches, query, default_limit=20, max_limit=100)

    def cancel_batch(self, batch_id: str) -> Batch:
        batch = self.batch(batch_id)
        if batch.status in CANCELLABLE:
            batch.status = "cancelling"
            batch.cancelling_at = self._now()
            batch.polls_since_step = 0
            batch.last_step_at = time.monotonic()
        elif batch.status != "cancelling":
            raise ApiError(409, f"Cannot cancel a batch with status '{batch.status}'.")
        return batch

    def step(self, batch: Batch) -> None:
        """Move ``batch`` one step along the status machine."""
        if batch.status == "validating":
            self._finish_validating(batch)
        elif batch.status == "in_progress":
            self._make_progress(batch)
        elif batch.status == "finalizing":
            self._write_result_files(batch, unfinished_code=None)
            batch.status, batch.completed_at = "completed", self._now()
        elif batch.status == "cancelling":
            self._write_result_files(batch, unfinished_code="batch_cancelled")
            batch.status, batch.cancelled_at = "cancelled", self._now()

    # ---- the state machine, step by step ------------------------------------------------

    def _catch_up(self, batch: Batch) -> None:
        period = self.scenario.seconds_per_step
        now = time.monotonic()
        for _ in range(100_000):  # a stuck batch never ends: bound the catch-up work
            if batch.status in TERMINAL or now - batch.last_step_at < period:
                return
            self.step(batch)
            batch.last_step_at += period
        batch.last_step_at = now

    def _finish_validating(self, batch: Batch) -> None:
        plan = batch.plan
        if plan.outcome == "fail_validation":
            return self._fail(batch, [plan.error or dict(DEFAULT_FORCED_VALIDATION_ERROR)])
        limit = self.scenario.max_requests_per_batch
        requests, errors = validate_input_file(batch.input_content, batch.endpoint, limit)
        if errors:
            return self._fail(batch, errors)
        batch.model = requests[0].body["model"]
        if plan.outcome == "token_limit":
            return self._fail(batch, [_token_limit_error(batch.model, plan.enqueued_token_limit)])
        batch.answers = [self._answer(batch, request, seen) for seen, request in _with_seen_prompts(requests)]
        batch.status, batch.in_progress_at = "in_progress", self._now()

    def _make_progress(self, batch: Batch) -> None:
        plan, total = batch.plan, len(batch.answers)
        target = int(total * plan.fraction_done()) if plan.outcome in ("expire", "stuck") else total
        steps = self.scenario.in_progress_steps
        if batch.steps_in_progress < steps:
            batch.steps_in_progress += 1
            batch.done = max(batch.done, -(-target * batch.steps_in_progress // steps))
            return
        batch.done = target
        if plan.outcome == "stuck":
            return
        if plan.outcome == "expire":
            self._write_result_files(batch, unfinished_code="batch_expired")
            batch.status, batch.expired_at = "expired", self._now()
            return
        batch.status, batch.finalizing_at = "finalizing", self._now()

    def _fail(self, batch: Batch, errors: list[dict]) -> None:
        batch.status, batch.failed_at, batch.errors = "failed", self._now(), errors

    def _answer(self, batch: Batch, request: RequestLine, prompt_seen_before: bool) -> Answer:
        custom_id, usage = request.custom_id, TokenUsage()
        if batch.endpoint not in ANSWERED_ENDPOINTS:
            answered = " and ".join(ANSWERED_ENDPOINTS)
            message = f"The fake OpenAI server only answers {answered} requests, not {batch.endpoint}."
            status, body = 400, error_body(message, param="url", code="unsupported_endpoint")
        else:
            answer = self.answer_responses if batch.endpoint == RESPONSES_ENDPOINT else self.answer_chat
            try:
                body, usage = answer(
                    request.body, fault_key=custom_id, title=custom_id, prompt_seen=prompt_seen_before, batch=True
                )
                status = 200
            except ApiError as error:
                status, body = error.status, error.body()
        seed = hashlib.sha256(f"{batch.id}:{request.line}".encode()).hexdigest()
        return Answer(f"batch_req_{seed[:32]}", custom_id, seed[32:64], status, body, usage)

    def answer_responses(
        self, body: dict, *, fault_key: str | None, title: str, prompt_seen: bool, batch: bool
    ) -> tuple[dict, TokenUsage]:
        """The ``response`` object answering a ``/v1/responses`` ``body`` (see ``responses.py``),
        or the ``ApiError`` the API would give; the same faults as ``answer_chat``."""
        check_responses_body(body, self.model_spec(body.get("model")))
        completion, usage = self.answer_chat(
            chat_view(body), fault_key=fault_key, title=title, prompt_seen=prompt_seen, batch=batch, checked=True
        )
        return response_object(body, completion, usage, created=self._now()), usage

    def answer_chat(
        self, body: dict, *, fault_key: str | None, title: str, prompt_seen: bool, batch: bool, checked: bool = False
    ) -> tuple[dict, TokenUsage]:
        """The ``chat.completion`` answering ``body``, or the ``ApiError`` the API would give.

        Both paths use it: a batch line (``batch=True``, faults keyed by its custom_id) and a
        direct ``POST /v1/chat/completions`` (faults keyed by the lesson id in its user message).
        ``checked``: the body was checked already (a Responses request, by its own rules).
        """
        if not checked:
            check_chat_body(body, self.model_spec(body.get("model")))
        if fault_key is not None and self._fault_applies("fail_500", fault_key):
            message = "The server had an error while processing your request. Sorry about that!"
            raise ApiError(500, message, error_type="server_error")
        if fault_key is not None and self._fault_applies("fail_400", fault_key):
            message = f"Invalid request for '{fault_key}' (fault injected by the fake server)."
            raise bad_request(message, "messages", "invalid_value")
        applies = (lambda fault: self._fault_applies(fault, fault_key)) if fault_key is not None else (lambda _: False)
        quirks = Quirks(
            truncate=applies("truncate"), fence=applies("fence"), preamble=applies("preamble"),
            refusal=applies("refusal"),
        )
        tier = self._served_tier(body.get("service_tier"), batch=batch, wrong=applies("wrong_tier"))
        return chat_completion(
            body,
            custom_id=title,
            created=self._now(),
            lesson_bytes=self.scenario.lesson_bytes,
            quirks=quirks,
            prefix_cached=prompt_seen,
            service_tier=tier,
        )

    def _served_tier(self, requested: str | None, *, batch: bool, wrong: bool) -> str:
        """The ``service_tier`` an answer reports.

        Real Batch API output lines say "default" (every real line in the shared fixtures does);
        a direct request gets the tier it asked for ("fast" shows as "priority", as documented,
        "auto"/absent as "default"), or the scenario's flex ``served_tier`` for a flex request.
        """
        if batch:
            normal = "default"
        elif requested == "flex":
            normal = self.scenario.flex.served_tier or "flex"
        else:
            normal = {"fast": "priority", "priority": "priority", "scale": "scale"}.get(requested, "default")
        if not wrong:
            return normal
        return self.scenario.faults.wrong_tier_value or ("priority" if normal == "default" else "default")

    def _fault_applies(self, fault: str, custom_id: str) -> bool:
        """Whether ``fault`` hits ``custom_id`` this time (counting the hit)."""
        times_by_id = getattr(self.scenario.faults, fault)
        if custom_id not in times_by_id:
            return False
        times = times_by_id[custom_id]
        if times is not None and self.fault_hits[fault, custom_id] >= times:
            return False
        self.fault_hits[fault, custom_id] += 1
        return True

    def _write_result_files(self, batch: Batch, *, unfinished_code: str | None) -> None:
        done, unfinished = batch.answers[: batch.done], batch.answers[batch.done :]
        successes = _shuffled([a.result_line() for a in done if a.succeeded], seed=batch.id)
        errors = [a.result_line() for a in done if not a.succeeded]
        if unfinished_code:
            errors += [a.unfinished_line(unfinished_code) for a in unfinished]
        expires_in = batch.output_expires_after
        if successes and batch.plan.outcome != "no_output_file":
            output = self._add_file(f"{batch.id}_output.jsonl", "batch_output", _jsonl(successes), expires_in)
            batch.output_file_id = output.id
        if errors:
            error_file = self._add_file(f"{batch.id}_error.jsonl", "batch_output", _jsonl(errors), expires_in)
            batch.error_file_id = error_file.id

    # ---- helpers -----------------------------------------------------------------------

    def _add_file(self, filename: str, purpose: str, content: bytes, expires_in: int | None) -> StoredFile:
        created = self._now()
        if expires_in is None and purpose == "batch_output":
            expires_in = 30 * SECONDS_PER_DAY
        stored = StoredFile(
            id=self._new_id("file"),
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=created,
            expires_at=created + expires_in if expires_in is not None else None,
        )
        self.files[stored.id] = stored
        return stored

    def _new_id(self, kind: str) -> str:
        digest = hashlib.sha256(f"{self._salt}:{kind}:{next(self._ids)}".encode()).digest()
        if kind == "batch":
            return "batch_" + digest.hex()[:32]
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(22):
            number, remainder = divmod(number, 62)
            chars.append(_BASE62[remainder])
        return "file-" + "".join(chars)

    def _new_batch_id(self) -> str:
        """A batch id; its order against earlier ids follows the scenario's ``batch_id_order``."""
        number = next(self._ids)
        digest = hashlib.sha256(f"{self._salt}:batch:{number}".encode()).hexdigest()
        order = self.scenario.batch_id_order
        if order == "random":
            return "batch_" + digest[:32]
        rank = number if order == "ascending" else 0xFFFFFFFF - number
        return f"batch_{rank:08x}{digest[:24]}"

    def _now(self) -> int:
        return int(self._clock())


def validate_input_file(content: bytes, endpoint: str, max_requests: int) -> tuple[list[RequestLine], list[dict]]:
    """The requests of a batch input file, or the errors that make the batch fail (1-based lines)."""
    raw_lines = content.split(b"\n")
    if raw_lines and not raw_lines[-1].strip():
        raw_lines.pop()  # the newline that ends the last line does not start another
    if not raw_lines:
        return [], [_line_error("empty_file", "The batch input file is empty.", None, None)]
    if len(raw_lines) > max_requests:
        message = (
            f"The batch input file contains {len(raw_lines)} requests, "
            f"more than the maximum of {max_requests} requests per batch."
        )
        return [], [_line_error("too_many_tasks", message, None, None)]

    requests: list[RequestLine] = []
    errors: list[dict] = []
    seen_ids: set[str] = set()
    first_model: str | None = None
    for number, raw in enumerate(raw_lines, start=1):
        try:
            item = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            item = None
        if not isinstance(item, dict):
            errors.append(_line_error("invalid_json_line", "This line is not parseable as valid JSON.", None, number))
            continue
        missing = next((name for name in REQUIRED_LINE_FIELDS if item.get(name) is None), None)
        if missing:
            message = f"Missing required parameter: '{missing}'."
            errors.append(_line_error("missing_required_parameter", message, missing, number))
            continue
        custom_id, body = item["custom_id"], item["body"]
        if not isinstance(body, dict):
            errors.append(_line_error("invalid_type", invalid_type("body", "an object", body), "body", number))
            continue
        if item["url"] != endpoint:
            message = f"The URL '{item['url']}' of this request does not match the batch endpoint '{endpoint}'."
            errors.append(_line_error("url_mismatch", message, "url", number))
            continue
        if custom_id in seen_ids:
            message = f"The custom_id '{custom_id}' is a duplicate: each request in a batch needs a unique custom_id."
            errors.append(_line_error("duplicate_custom_id", message, "custom_id", number))
            continue
        seen_ids.add(custom_id)
        model = body.get("model")
        if not isinstance(model, str):
            message = "Missing required parameter: 'body.model'."
            errors.append(_line_error("missing_required_parameter", message, "body.model", number))
            continue
        if first_model is None:
            first_model = model
        elif model != first_model:
            message = (
                f"The model '{model}' differs from '{first_model}' used earlier: "
                "all requests in a batch must use the same model."
            )
            errors.append(_line_error("model_mismatch", message, "body.model", number))
            continue
        requests.append(RequestLine(line=number, custom_id=str(custom_id), body=body))
    return requests, errors


def _with_seen_prompts(requests: list[RequestLine]):
    """Each request with whether an earlier one in the batch had the same system prompt (a cache hit)."""
    seen: set[str] = set()
    for request in requests:
        prompt = system_text(request.body if "messages" in request.body else chat_view(request.body))
        yield bool(prompt) and prompt in seen, request
        seen.add(prompt)


def _shuffled(items: list, *, seed: str) -> list:
    """``items`` in a deterministic order that differs from the given one, and from its reverse, whenever it can."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    in_order, reverse = sorted(order), sorted(order, reverse=True)
    if (order == in_order and len(order) > 1) or (order == reverse and len(order) > 2):
        order = order[1:] + order[:1]
    return [items[i] for i in order]


def _jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")


def _page(items: list, query: dict[str, str], *, default_limit: int, max_limit: int) -> dict:
    """One page of a cursor-paged list (``after`` = id of the last item of the previous page)."""
    try:
        limit = int(query.get("limit", default_limit))
    except ValueError:
        raise bad_request(invalid_type("limit", "an integer", query["limit"]), "limit", "invalid_type") from None
    if not 1 <= limit <= max_limit:
        message = f"Invalid 'limit': expected an integer from 1 to {max_limit}, but got {limit} instead."
        raise bad_request(message, "limit", "invalid_value")
    start = 0
    after = query.get("after")
    if after is not None:
        ids = [item.id for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return {
        "object": "list",
        "data": [item.to_api() for item in chunk],
        "first_id": chunk[0].id if chunk else None,
        "last_id": chunk[-1].id if chunk else None,
        "has_more": start + limit < len(items),
    }


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise ApiError(400, invalid_type("metadata", "an object", metadata), param="metadata", code="invalid_type")
    if len(metadata) > MAX_METADATA_PAIRS:
        raise ApiError(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise ApiError(
                400,
                f"Invalid 'metadata': key too long. Expected a key with maximum length {MAX_METADATA_KEY}, "
                f"but got a key with length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(value, str):
            raise bad_request(invalid_type(f"metadata.{key}", "a string", value), f"metadata.{key}", "invalid_type")
        if len(value) > MAX_METADATA_VALUE:
            raise ApiError(
                400,
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_VALUE}, but got a string with length {len(value)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )


def _expires_after_seconds(value: Any, param: str) -> int | None:
    """Seconds from an ``{"anchor": "created_at", "seconds": n}`` policy (None when absent)."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("anchor") != "created_at":
        raise bad_request(f"Invalid '{param}.anchor': expected 'created_at'.", f"{param}.anchor", "invalid_value")
    try:
        seconds = int(value.get("seconds"))
    except (TypeError, ValueError):
        seconds = -1
    if not 3600 <= seconds <= 30 * SECONDS_PER_DAY:
        raise ApiError(
            400,
            f"Invalid '{param}.seconds': expected an integer from 3600 to 2592000.",
            param=f"{param}.seconds",
            code="invalid_value",
        )
    return seconds


def _token_limit_error(model: str, limit: int) -> dict:
    message = (
        f"Enqueued token limit reached for {model} in organization org-test. Limit: {limit:,} enqueued tokens. "
        "Please try again once some in_progress batches have been completed."
    )
    return _line_error("token_limit_exceeded", message, None, None)


def _line_error(code: str, message: str, param: str | None, line: int | None) -> dict:
    return {"code": code, "message": message, "param": param, "line": line}
