"""The one place that talks to the OpenAI API (Files, Batches, flex Chat Completions), and finds the API key.

Everything else sees plain data (``BatchInfo``) and one exception, ``ApiError``, whose message
says in plain words what went wrong and what to do next. The ``openai`` client does the HTTP
work, including its own retries of rate limits, server errors and dropped connections (with
the server's ``retry-after`` hints); what is still failing after those retries reaches the user.

Flex requests (``flex_completion``) are the exception to the client's own retries: they go out
with none, and every HTTP answer comes back as plain data (``ChatReply``), so that the flex
runner can tell a capacity refusal (429) from a model that does not take flex (400) and back off
its own way. Only a request that got no HTTP answer at all raises ``ApiError``.

The key comes from ``OPENAI_API_KEY``, else from a ``.env`` file, else from ``openaiapikey.txt``
(each file looked for in the current folder, then in the project folder). ``OPENAI_BASE_URL``
(also read from ``.env``) points the client at any compatible server. The key is handed to the
client and nowhere else: it is never printed, logged or written to disk by this tool.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable, Iterator

from . import crashpoints
from .batch_info import BATCH_ENDPOINT, RESPONSES_ENDPOINT, BatchError, BatchInfo
from .defaults import PROJECT_DIR
from .errors import LessonBatchError
from .files import atomic_stream

KEY_FILE_NAME = "openaiapikey.txt"
DOTENV_NAME = ".env"
COMPLETION_WINDOW = "24h"
SHARD_METADATA_KEY = "lesson_batch_shard"
RUN_METADATA_KEY = "lesson_batch_run"
UPLOAD_PREFIX = "lesson_batch-"
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the openai client's own default
CALL_TIMEOUT = 120.0  # seconds per call (the client retries a timed-out call)
TRANSFER_TIMEOUT = 900.0  # uploads and downloads of files up to 200 MB
# A download cut off in the middle is started again this many times (the client's own retries
# cover only the request, not the body it streams afterwards).
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_PAUSE = 0.5  # seconds, times the attempt number
# OpenAI's flex guide: "increase default timeout to 15 minutes" (flex answers are slower).
FLEX_TIMEOUT = 900.0
FLEX_SERVICE_TIER = "flex"

KEY_HELP = (
    "No OpenAI API key found. Set one of:\n"
    "  - the environment variable OPENAI_API_KEY "
    "(export OPENAI_API_KEY=sk-... ; on Windows: set OPENAI_API_KEY=sk-...)\n"
    "  - a file .env in this folder with the line OPENAI_API_KEY=sk-...\n"
    "  - a file openaiapikey.txt in this folder holding only the key\n"
    "Create a key at https://platform.openai.com/api-keys."
)
# The client logs each retry it is about to make, at INFO, before it waits (openai 3.x,
# ``_base_client.py``, ``_sleep_for_retry``: "Retrying request in %f seconds (retry %i of %s)").
# Turned into a note for the user, it tells within a second that a server does not answer,
# instead of a silent quarter of a minute of retries.
CLIENT_LOGGER = "openai._base_client"


class ApiError(LessonBatchError):
    """An API call that failed after the client's retries; the message is for the user."""

    def __init__(self, message: str, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient  # worth trying again later (network, 5xx, 429)


class NoAnswerError(ApiError):
    """A request that got no HTTP answer (connection lost, timed out). ``timed_out``: it was sent
    and may have run (and been paid for)."""

    def __init__(self, message: str, timed_out: bool):
        super().__init__(message, transient=True)
        self.timed_out = timed_out


@dataclass(frozen=True)
class ChatReply:
    """An HTTP answer to a Chat Completions request: the status, the JSON body as sent by the API
    (for an error, the ``error`` object is under ``"error"``), and the ``retry-after`` hint in seconds."""

    status: int
    body: dict
    retry_after: float | None = None


class MissingKeyError(ApiError):
    def __init__(self, hint: str = "") -> None:
        super().__init__(KEY_HELP + (f" {hint}" if hint else ""))


@dataclass(frozen=True)
class ApiRetrying:
    """The client retries a call (what ``on_retry`` hears): the call, the address, which retry of
    how many and in how long (None where the client did not say)."""

    what: str
    where: str
    retry: int | None = None
    of: int | None = None
    seconds: float | None = None


class _RetryNotes(logging.Handler):
    """Passes each retry the client announces to ``notify``, for the length of one call."""

    def __init__(self, what: str, where: str, notify: Callable[[ApiRetrying], None]):
        super().__init__(logging.INFO)
        self.what, self.where, self.notify = what, where, notify

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("Retrying request"):
            return
        try:
            seconds, attempt, attempts = record.args
            self.notify(ApiRetrying(self.what, self.where, int(attempt), int(attempts), float(seconds)))
        except (TypeError, ValueError):
            self.notify(ApiRetrying(self.what, self.where))


def _search_dirs() -> list[Path]:
    cwd = Path.cwd()
    return [cwd] if cwd.resolve() == PROJECT_DIR else [cwd, PROJECT_DIR]


def load_environment() -> None:
    """Load the first ``.env`` found into the environment, without overriding what is set."""
    from dotenv import load_dotenv

    for folder in _search_dirs():
        candidate = folder / DOTENV_NAME
        if candidate.is_file():
            load_dotenv(candidate, override=False)
            return


def effective_base_url() -> str:
    """The API address the scripts use: ``OPENAI_BASE_URL`` (environment or ``.env``), or OpenAI's."""
    load_environment()
    return (os.environ.get("OPENAI_BASE_URL") or "").strip().rstrip("/") or DEFAULT_BASE_URL


def find_api_key() -> str | None:
    load_environment()
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if key:
        return key
    for folder in _search_dirs():
        candidate = folder / KEY_FILE_NAME
        if candidate.is_file():
            for line in candidate.read_text(encoding="utf-8-sig").splitlines():
                if line.strip():
                    return line.strip()
    return None


@dataclass(frozen=True)
class RemoteModel:
    id: str
    shutdown_date: date | None  # None: no shutdown announced (or a date the API gave unreadably)


@dataclass(frozen=True)
class RemoteFile:
    id: str
    filename: str
    purpose: str
    created_at: float


def _batch_info(batch) -> BatchInfo:
    counts = batch.request_counts
    errors = ()
    if batch.errors is not None and batch.errors.data:
        errors = tuple(
            BatchError(code=error.code, message=error.message, line=error.line, param=error.param)
            for error in batch.errors.data
        )
    timestamps = {
        name: float(value)
        for name in (
            "in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at",
            "cancelled_at",
        )
        if (value := getattr(batch, name, None)) is not None
    }
    return BatchInfo(
        id=batch.id,
        status=batch.status,
        input_file_id=batch.input_file_id,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        created_at=float(batch.created_at) if batch.created_at is not None else None,
        expires_at=float(batch.expires_at) if batch.expires_at is not None else None,
        request_total=counts.total if counts else 0,
        request_completed=counts.completed if counts else 0,
        request_failed=counts.failed if counts else 0,
        errors=errors,
        metadata=dict(batch.metadata or {}),
        timestamps=timestamps,
        model=getattr(batch, "model", None),
        usage=_batch_usage(getattr(batch, "usage", None)),
        endpoint=getattr(batch, "endpoint", None),
    )


def _batch_usage(usage) -> dict[str, int] | None:
    """The Batch object's ``usage`` (openai 3.63, types/batch_usage.py: ``input_tokens``,
    ``input_tokens_details.cached_tokens``, ``output_tokens``, ``output_tokens_details.reasoning_tokens``)
    as plain counts; None when the API gives none."""
    if usage is None:
        return None

    def count(owner, name: str) -> int:
        value = getattr(owner, name, None) if owner is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    return {
        "input_tokens": count(usage, "input_tokens"),
        "cached_tokens": count(getattr(usage, "input_tokens_details", None), "cached_tokens"),
        "output_tokens": count(usage, "output_tokens"),
        "reasoning_tokens": count(getattr(usage, "output_tokens_details", None), "reasoning_tokens"),
    }


class BatchApi:
    """Files and Batches calls, each returning plain data or raising ApiError."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        max_retries: int = 5,
        timeout: float = CALL_TIMEOUT,
        on_retry: Callable[[ApiRetrying], None] | None = None,
    ):
        import openai

        self._openai = openai
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._client = openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=max_retries, timeout=timeout)
        self._flex_client = self._client.with_options(max_retries=0, timeout=FLEX_TIMEOUT)
        self._on_retry = on_retry

    @classmethod
    def from_environment(
        cls, on_retry: Callable[[ApiRetrying], None] | None = None, key_hint: str = ""
    ) -> "BatchApi":
        """A client for the key and address the environment gives; ``on_retry`` hears of each retry."""
        key = find_api_key()
        if not key:
            raise MissingKeyError(key_hint)
        return cls(key, on_retry=on_retry)

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        openai = self._openai
        where = self.base_url or "the OpenAI API"
        logger = logging.getLogger(CLIENT_LOGGER)
        notes = _RetryNotes(what, where, self._on_retry) if self._on_retry else None
        level = logger.level
        if notes is not None:
            logger.addHandler(notes)
            if not logger.isEnabledFor(logging.INFO):
                logger.setLevel(logging.INFO)
        try:
            yield
        except openai.AuthenticationError as exc:
            raise ApiError(
                f"{what}: the API rejected the key (401): {_message(exc)}\n"
                "Check OPENAI_API_KEY, .env or openaiapikey.txt.",
                401,
            ) from None
        except openai.PermissionDeniedError as exc:
            raise ApiError(f"{what}: this key is not allowed to do that (403): {_message(exc)}", 403) from None
        except openai.NotFoundError as exc:
            raise ApiError(f"{what}: not found (404): {_message(exc)}", 404) from None
        except openai.RateLimitError as exc:
            raise ApiError(
                f"{what}: the API is still rate-limiting after retries (429): {_message(exc)}\n"
                "Wait a few minutes and run the same command again; the ledger keeps your place.",
                429,
                transient=True,
            ) from None
        except openai.APIStatusError as exc:
            transient = exc.status_code >= 500
            advice = (
                "The API had a server error; run the same command again later, the ledger keeps your place."
                if transient
                else "The request was refused."
            )
            raise ApiError(f"{what}: {exc.status_code} {_message(exc)}\n{advice}", exc.status_code, transient) from None
        except openai.APIConnectionError as exc:
            raise ApiError(
                f"{what}: cannot reach {where} ({exc.__class__.__name__}: {exc}).\n"
                "Check your network connection (or OPENAI_BASE_URL) and run the same command again; "
                "the ledger keeps your place.",
                transient=True,
            ) from None
        finally:
            if notes is not None:
                logger.removeHandler(notes)
                logger.setLevel(level)

    def check_access(self) -> None:
        """One cheap call that fails fast on a wrong key or address, before anything is recorded."""
        with self._calling("checking access to the API"):
            self._client.batches.list(limit=1)

    def retrieve_model(self, model: str) -> RemoteModel | None:
        """What the API says about a model (``GET /v1/models/{model}``), or None when it does not know it."""
        try:
            with self._calling(f"looking up the model {model}"):
                found = self._client.models.retrieve(model)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        shutdown = getattr(found, "shutdown_date", None)
        try:
            shutdown_date = date.fromisoformat(str(shutdown)[:10]) if shutdown else None
        except ValueError:
            shutdown_date = None
        return RemoteModel(found.id, shutdown_date)

    # ----------------------------------------------------------------- files

    def upload(self, path: Path, upload_name: str) -> str:
        with self._calling(f"uploading {path}"), open(path, "rb") as handle:
            created = self._client.files.create(
                file=(upload_name, handle, "application/jsonl"), purpose="batch", timeout=TRANSFER_TIMEOUT
            )
        return created.id

    def find_uploads(self, upload_name: str) -> list[RemoteFile]:
        """Batch input files with this name (left by a run that died before recording them)."""
        found = []
        with self._calling("listing uploaded files"):
            for item in self._client.files.list(purpose="batch"):
                if item.filename == upload_name:
                    found.append(RemoteFile(item.id, item.filename, item.purpose, float(item.created_at)))
        return found

    def delete_file(self, file_id: str) -> None:
        try:
            with self._calling(f"deleting file {file_id}"):
                self._client.files.delete(file_id)
        except ApiError as exc:
            if exc.status != 404:
                raise

    def download(self, file_id: str, destination: Path, chunk_size: int = 1 << 20) -> int:
        """Stream a file's content to ``destination`` (temporary name, then rename); return its size.

        A connection dropped in the middle of the body raises the HTTP library's own error (the
        ``openai`` client passes it through): the download starts again, a few times, and then
        fails with an ``ApiError`` in plain words. A partial file never takes the final name."""
        transfer_errors = _http_library_errors()
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                return self._download_once(file_id, Path(destination), chunk_size)
            except transfer_errors as exc:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise ApiError(
                        f"downloading file {file_id}: the connection was cut before the whole file arrived, "
                        f"{DOWNLOAD_ATTEMPTS} times ({exc.__class__.__name__}: {exc}).\n"
                        "Nothing was lost: the batch's results stay on the API. Run the same command again "
                        "later to download them.",
                        transient=True,
                    ) from None
                time.sleep(DOWNLOAD_RETRY_PAUSE * attempt)
        raise AssertionError("unreachable")

    def _download_once(self, file_id: str, destination: Path, chunk_size: int) -> int:
        size = 0
        with self._calling(f"downloading file {file_id}"):
            streaming = self._client.files.with_streaming_response
            with streaming.content(file_id, timeout=TRANSFER_TIMEOUT) as response:
                with atomic_stream(destination) as handle:
                    for chunk in response.iter_bytes(chunk_size):
                        handle.write(chunk)
                        size += len(chunk)
                        crashpoints.reached("download_chunk")
        return size

    # ----------------------------------------------------------------- batches

    def create_batch(self, input_file_id: str, metadata: dict[str, str], endpoint: str = BATCH_ENDPOINT) -> BatchInfo:
        """A batch of the uploaded requests, sent to ``endpoint`` (the url of every line)."""
        with self._calling("creating the batch"):
            batch = self._client.batches.create(
                input_file_id=input_file_id,
                endpoint=endpoint,
                completion_window=COMPLETION_WINDOW,
                metadata=metadata,
            )
        return _batch_info(batch)

    def get_batch(self, batch_id: str) -> BatchInfo:
        with self._calling(f"reading batch {batch_id}"):
            return _batch_info(self._client.batches.retrieve(batch_id))

    def cancel_batch(self, batch_id: str) -> BatchInfo:
        with self._calling(f"cancelling batch {batch_id}"):
            return _batch_info(self._client.batches.cancel(batch_id))

    # ----------------------------------------------------------------- flex

    def flex_completion(self, body: dict, endpoint: str = BATCH_ENDPOINT) -> ChatReply:
        """Send one request body with ``service_tier: "flex"`` to Chat Completions, or to the
        Responses API when ``endpoint`` is ``/v1/responses`` (``responses.create``, as OpenAI's flex
        guide shows it); any HTTP answer comes back as a ``ChatReply``. Safe to call from several
        threads at once."""
        openai = self._openai
        create = (
            self._flex_client.responses.with_raw_response.create
            if endpoint == RESPONSES_ENDPOINT
            else self._flex_client.chat.completions.with_raw_response.create
        )
        try:
            raw = create(**body, service_tier=FLEX_SERVICE_TIER)
            return ChatReply(raw.http_response.status_code, _json_object(raw.http_response))
        except openai.APIStatusError as exc:
            error = exc.body if isinstance(exc.body, dict) else {"message": str(exc.body or exc.message)}
            return ChatReply(exc.status_code, {"error": error}, _retry_after(exc.response.headers))
        except openai.APITimeoutError:
            raise NoAnswerError(
                f"no answer from {self.base_url or 'the OpenAI API'} within {FLEX_TIMEOUT / 60:.0f} minutes", True
            ) from None
        except openai.APIConnectionError as exc:
            raise NoAnswerError(f"cannot reach {self.base_url or 'the OpenAI API'} ({exc.__class__.__name__}: {exc})",
                                False) from None

    def list_batches(self) -> list[BatchInfo]:
        """Every batch the key can see, all pages (``GET /v1/batches`` documents no order: the
        caller sorts what it needs). For rebuilding a lost ledger."""
        with self._calling("listing batches"):
            return [_batch_info(batch) for batch in self._client.batches.list(limit=100)]

    def find_batch_for_shard(self, shard_key: str, created_after: float) -> BatchInfo | None:
        """The batch whose metadata names this shard and that was created after ``created_after``
        (the newest, should there be several).

        ``GET /v1/batches`` documents no order, so every page is read: stopping at the first
        batch older than the shard could miss the one being looked for, and a missed batch
        would be created, and paid for, a second time. This runs only for a shard that an
        interrupted run left between upload and record."""
        found = None
        with self._calling("listing batches"):
            for batch in self._client.batches.list(limit=100):
                if (batch.metadata or {}).get(SHARD_METADATA_KEY) != shard_key:
                    continue
                if batch.created_at is not None and batch.created_at < created_after:
                    continue
                if found is None or (batch.created_at or 0) > (found.created_at or 0):
                    found = batch
        return _batch_info(found) if found is not None else None


def _http_library_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's own transfer errors (``httpx2`` under openai 3.x, ``httpx`` before it)."""
    for name in ("httpx2", "httpx"):
        try:
            library = __import__(name)
        except ImportError:
            continue
        return (library.TransportError, library.DecodingError)
    return ()


def _json_object(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(headers) -> float | None:
    """The server's hint in seconds: ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return None


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
    return str(getattr(exc, "message", exc))
