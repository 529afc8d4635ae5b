"""The fake OpenAI HTTP server and the handle tests use to drive and inspect it.

``FakeOpenAIServer`` is both: it owns a ``ThreadingHTTPServer`` bound to 127.0.0.1, the
``Store`` with every file and batch, the request log, and the one lock that guards all of
them. Tests start it (the ``fake_openai`` fixture does), point the real ``openai`` client at
``base_url``, and afterwards read ``requests``, ``batches`` and ``files`` to check what the
code under test did.

Each HTTP request is read whole, turned into a ``Request``, and passed to ``dispatch``,
which holds the lock while it checks the API key, applies the scenario's transient faults
(503 on upload or download, 429 on batch creation, each with a short ``retry-after-ms`` so
the client's own retries recover fast; a download cut halfway), routes to the endpoint, and
logs the outcome. ``POST /v1/chat/completions`` and ``POST /v1/responses`` add flex behaviour: capacity 429s and a
latency, which (like ``slow_ms``) is slept outside the lock.
Refusals are ``ApiError`` exceptions rendered in the API's error format; every response
carries an ``x-request-id``. The optional ``slow_ms`` delay is slept outside the lock, so a
slow server still answers several clients at once.

Besides the OpenAI routes under ``/v1`` there are a few unauthenticated control routes, so a
test can steer a server it only reaches over HTTP (for example one started by hand with
``python -m tests.fake_openai``): ``GET``/``POST /_control/scenario``, ``GET /_control/log``,
``GET /_control/state`` and ``POST /_control/reset``. They are not logged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from .checks import check_chat_body
from .errors import ApiError, error_body, missing_parameter
from .model import system_text, user_text
from .multipart import MultipartError, parse_form_data
from .responses import chat_view, check_responses_body
from .scenario import TRANSIENT_FAULTS, Scenario, ScenarioError
from .store import Store, StoredFile

JSON_TYPE = "application/json"
CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
LESSON_ID_LINE = re.compile(r"^[ \t]*Lesson id:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)
LESSON_ID = re.compile(r"\bM\d+-L\d{3}\b")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (slept outside the lock)
    cut_at: int | None = None  # send only this many body bytes, then drop the connection
    drop: bool = False  # send nothing at all: close the connection (the flex drop_connection fault)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(data).encode("utf-8"), JSON_TYPE, dict(headers or {}))


@dataclass
class LoggedRequest:
    """One API request as the server saw it (``body`` for JSON requests, ``upload`` for files)."""

    method: str
    path: str
    query: dict[str, str]
    status: int  # 0: the connection was closed with no answer (the flex drop_connection fault)
    body: Any = None
    upload: dict | None = None  # {"filename", "purpose", "size", "sha256"}
    retry_count: int = 0  # the client's x-stainless-retry-count: 0 for a first attempt
    lesson: str | None = None  # chat requests: the lesson id found in the user message

    def to_dict(self) -> dict:
        return asdict(self)


class FakeOpenAIServer:
    """A local OpenAI Files + Batches API (see the package docstring); also the test handle."""

    def __init__(self, scenario: Scenario | Mapping[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self._initial_scenario = _as_scenario(scenario)
        self._lock = threading.RLock()
        self._store = Store(self._initial_scenario)
        self._log: list[LoggedRequest] = []
        self._transient_left: dict[str, int] = {}
        self._arm_transient_faults()
        self._request_counter = 0
        self._httpd = _HTTPServer((host, port), _Handler, app=self)
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> "FakeOpenAIServer":
        """Serve in a background thread; returns self."""
        # A short poll interval makes stop() quick: shutdown() waits for the next poll.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop`` is called or Ctrl-C."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()
            self._httpd.close_connections()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- where to reach it -------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def env(self, api_key: str = "sk-test-fake-key-0000") -> dict[str, str]:
        """Environment variables that point an ``openai`` client (or a subprocess) here."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    # ---- steering ----------------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        with self._lock:
            return self._store.scenario

    def set_scenario(self, scenario: Scenario | Mapping[str, Any] | None) -> None:
        """Switch to ``scenario`` (raises ``ScenarioError`` if it is malformed)."""
        parsed = _as_scenario(scenario)
        with self._lock:
            self._store.set_scenario(parsed)
            self._arm_transient_faults()

    def reset(self) -> None:
        """Back to a fresh server: no files, batches or log, and the scenario it started with."""
        with self._lock:
            self._store.reset(self._initial_scenario)
            self._log.clear()
            self._arm_transient_faults()

    # ---- inspecting --------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """The request log, oldest first (a copy)."""
        with self._lock:
            return copy.deepcopy(self._log)

    @property
    def batches(self) -> dict[str, dict]:
        """Every batch as the API would show it now, by id, oldest first (polls are not counted)."""
        with self._lock:
            return {batch_id: self._store.batch(batch_id).to_api() for batch_id in self._store.batches}

    @property
    def files(self) -> dict[str, StoredFile]:
        """Every stored file (uploads and batch results), by id, oldest first."""
        with self._lock:
            return {file_id: copy.copy(stored) for file_id, stored in self._store.files.items()}

    def created_batches(self) -> list[dict]:
        """The batches created so far, oldest first, as the API would show them now."""
        return list(self.batches.values())

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._store.file(file_id).content

    def chat_requests(self, lesson: str | None = None, path: str = CHAT_PATH) -> list[LoggedRequest]:
        """The logged ``POST /v1/chat/completions`` requests (or those to ``path``; only ``lesson``'s,
        if given), oldest first.

        Those with ``status == 200`` are the ones a real API would have billed.
        """
        return [
            entry
            for entry in self.requests
            if (entry.method, entry.path) == ("POST", path) and lesson in (None, entry.lesson)
        ]

    def responses_requests(self, lesson: str | None = None) -> list[LoggedRequest]:
        """The logged ``POST /v1/responses`` requests, as ``chat_requests`` gives chat ones."""
        return self.chat_requests(lesson, RESPONSES_PATH)

    @property
    def today(self) -> str:
        """The date the server lives in ("YYYY-MM-DD"): the scenario's ``today``, else the real date."""
        with self._lock:
            return self._store.today()

    def file_lines(self, file_id: str | None) -> list[dict]:
        """A JSONL file's parsed lines ([] for ``None``, handy for a null ``error_file_id``)."""
        if file_id is None:
            return []
        return [json.loads(line) for line in self.file_content(file_id).splitlines() if line.strip()]

    # ---- request handling --------------------------------------------------------------

    def response_delay(self) -> float:
        with self._lock:
            return self._store.scenario.faults.slow_ms / 1000

    def dispatch(self, request: Request) -> Response:
        """Answer one request (called by the HTTP handler threads)."""
        with self._lock:
            if request.path.startswith("/_control/"):
                return self._control(request)
            entry = LoggedRequest(request.method, request.path, request.query, status=0)
            entry.retry_count = _int_or_zero(request.headers.get("x-stainless-retry-count"))
            if request.body and request.headers.get("content-type", "").startswith(JSON_TYPE):
                entry.body = _parsed_or_none(request.body)
            try:
                response = self._api(request, entry)
            except ApiError as error:
                response = Response.json(error.status, error.body(), error.headers)
            entry.status = response.status
            self._log.append(entry)
            return response

    def next_request_id(self) -> str:
        with self._lock:
            self._request_counter += 1
            return "req_" + hashlib.sha256(f"{id(self)}:{self._request_counter}".encode()).hexdigest()[:32]

    def _api(self, request: Request, entry: LoggedRequest) -> Response:
        route, params = _match_route(request.method, request.path)
        if route is None:
            raise ApiError(404, f"Invalid URL ({request.method} {request.path})")
        self._check_api_key(request.headers.get("authorization", ""))
        if route == "upload_file":
            return self._upload(request, entry)
        if route == "file_content":
            self._maybe_transient("content_503")
            content = self._store.file(params["id"]).content
            response = Response(200, content, "application/octet-stream")
            if self._transient_left.get("cut_download", 0) > 0:
                self._transient_left["cut_download"] -= 1
                response.cut_at = len(content) // 2
            return response
        if route == "chat":
            return self._chat(_json_body(request), entry)
        if route == "responses":
            return self._responses(_json_body(request), entry)
        if route == "get_batch":
            self._maybe_transient("retrieve_503")
        if route == "create_batch":
            body = _json_body(request)
            self._maybe_transient("create_429")
            return Response.json(200, self._store.create_batch(body).to_api())
        handlers: dict[str, Callable[[], Any]] = {
            "list_files": lambda: self._store.list_files(request.query),
            "get_file": lambda: self._store.file(params["id"]).to_api(),
            "delete_file": lambda: self._store.delete_file(params["id"]),
            "list_batches": lambda: self._store.list_batches(request.query),
            "get_batch": lambda: self._store.batch(params["id"], poll=True).to_api(),
            "cancel_batch": lambda: self._store.cancel_batch(params["id"]).to_api(),
            "list_models": lambda: self._store.list_models(),
            "get_model": lambda: self._store.model(params["id"]),
        }
        return Response.json(200, handlers[route]())

    def _upload(self, request: Request, entry: LoggedRequest) -> Response:
        try:
            form = parse_form_data(request.body, request.headers.get("content-type", ""))
        except MultipartError as error:
            raise ApiError(400, f"Could not parse the multipart form: {error}") from None
        upload = form.get("file")
        purpose = form["purpose"].text() if "purpose" in form else None
        if upload is not None:
            entry.upload = {
                "filename": upload.filename,
                "purpose": purpose,
                "size": len(upload.content),
                "sha256": hashlib.sha256(upload.content).hexdigest(),
            }
        self._maybe_transient("upload_503")
        for name, part in (("file", upload), ("purpose", purpose)):
            if part is None:
                raise missing_parameter(name)
        expires_after = None
        if "expires_after[anchor]" in form or "expires_after[seconds]" in form:
            expires_after = {
                "anchor": form["expires_after[anchor]"].text() if "expires_after[anchor]" in form else None,
                "seconds": form["expires_after[seconds]"].text() if "expires_after[seconds]" in form else None,
            }
        stored = self._store.upload(
            filename=upload.filename or "upload", purpose=purpose, content=upload.content, expires_after=expires_after
        )
        return Response.json(200, stored.to_api())

    def _chat(self, body: dict, entry: LoggedRequest) -> Response:
        """A direct chat completion: the batch path's checks, faults and answer, plus flex behaviour."""
        entry.lesson = _lesson_id(body)
        flex = body.get("service_tier") == "flex"
        if flex:
            check_chat_body(body, self._store.model_spec(body.get("model")))  # a 400/404 comes before capacity
            self._maybe_capacity_429()
            if self._flex_fault("drop_connection", entry.lesson):
                return Response(0, b"", drop=True)
        prompt = system_text(body)
        seen = bool(prompt) and prompt in self._chat_prompts_seen
        self._chat_prompts_seen.add(prompt)
        completion, _ = self._store.answer_chat(
            body, fault_key=entry.lesson, title=entry.lesson or "Lesson", prompt_seen=seen, batch=False
        )
        if flex and self._flex_fault("unreadable", entry.lesson):
            completion = {key: value for key, value in completion.items() if key != "choices"}
        delay = self._store.scenario.flex.latency_ms / 1000 if flex else 0.0
        return Response(200, json.dumps(completion).encode("utf-8"), delay=delay)

    def _responses(self, body: dict, entry: LoggedRequest) -> Response:
        """A direct ``POST /v1/responses``: its own checks, then the chat path's faults and answer
        (see ``responses.py``), with the same flex behaviour."""
        view = chat_view(body)
        entry.lesson = _lesson_id(view)
        flex = body.get("service_tier") == "flex"
        if flex:
            check_responses_body(body, self._store.model_spec(body.get("model")))  # a 400/404 comes before capacity
            self._maybe_capacity_429()
            if self._flex_fault("drop_connection", entry.lesson):
                return Response(0, b"", drop=True)
        prompt = system_text(view)
        seen = bool(prompt) and prompt in self._chat_prompts_seen
        self._chat_prompts_seen.add(prompt)
        answer, _ = self._store.answer_responses(
            body, fault_key=entry.lesson, title=entry.lesson or "Lesson", prompt_seen=seen, batch=False
        )
        if flex and self._flex_fault("unreadable", entry.lesson):
            answer = {key: value for key, value in answer.items() if key != "output"}
        delay = self._store.scenario.flex.latency_ms / 1000 if flex else 0.0
        return Response(200, json.dumps(answer).encode("utf-8"), delay=delay)

    def _maybe_capacity_429(self) -> None:
        """Refuse this flex request for lack of capacity if the scenario's pattern says so."""
        settings = self._store.scenario.flex
        position, self._flex_requests = self._flex_requests, self._flex_requests + 1
        if settings.capacity_every:
            refused = position % (settings.capacity_every + settings.capacity_burst) >= settings.capacity_every
        else:
            refused = position < settings.capacity_429
        if refused:
            seconds = settings.retry_after_s
            headers = {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}
            raise ApiError(
                429,
                "Resource Unavailable: there is not enough flex processing capacity for this request right now. "
                "Please retry later, or send it without service_tier 'flex'.",
                error_type="rate_limit_error",
                code="resource_unavailable",
                headers=headers,
            )

    def _flex_fault(self, fault: str, lesson: str | None) -> bool:
        """Whether the scenario's per-lesson flex ``fault`` hits this request (counting the hit)."""
        times_by_lesson = getattr(self._store.scenario.flex, fault)
        if lesson not in times_by_lesson:
            return False
        times = times_by_lesson[lesson]
        if times is not None and self._flex_fault_hits[fault, lesson] >= times:
            return False
        self._flex_fault_hits[fault, lesson] += 1
        return True

    def _check_api_key(self, authorization: str) -> None:
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        valid_keys = self._store.scenario.valid_api_keys
        if valid_keys is not None and key not in valid_keys:
            raise ApiError(
                401,
                f"Incorrect API key provided: {mask_api_key(key)}. "
                "You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _maybe_transient(self, fault: str) -> None:
        """Answer with the scenario's transient error if this fault still has answers left."""
        if self._transient_left.get(fault, 0) <= 0:
            return
        self._transient_left[fault] -= 1
        headers = {"retry-after-ms": str(self._store.scenario.faults.retry_after_ms)}
        if fault == "create_429":
            raise ApiError(
                429,
                "Rate limit reached for requests (fault injected by the fake server). Please try again shortly.",
                error_type="requests",
                code="rate_limit_exceeded",
                headers=headers,
            )
        raise ApiError(503, "The server is overloaded or not ready yet.", error_type="server_error", headers=headers)

    def _arm_transient_faults(self) -> None:
        faults = self._store.scenario.faults
        self._transient_left = {name: getattr(faults, name) for name in TRANSIENT_FAULTS}
        self._flex_requests = 0
        self._flex_fault_hits: Counter = Counter()
        self._chat_prompts_seen: set[str] = set()

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path)
        if route == ("GET", "/_control/scenario"):
            return Response.json(200, self._store.scenario.to_dict())
        if route == ("POST", "/_control/scenario"):
            try:
                self.set_scenario(json.loads(request.body or b"{}"))
            except (ValueError, ScenarioError) as error:
                return Response.json(400, error_body(str(error)))
            return Response.json(200, self._store.scenario.to_dict())
        if route == ("GET", "/_control/log"):
            return Response.json(200, {"requests": [entry.to_dict() for entry in self._log]})
        if route == ("GET", "/_control/state"):
            files = [stored.to_api() for stored in self._store.files.values()]
            return Response.json(200, {"batches": list(self.batches.values()), "files": files})
        if route == ("POST", "/_control/reset"):
            self.reset()
            return Response.json(200, {"reset": True})
        return Response.json(404, error_body(f"Invalid URL ({request.method} {request.path})"))


def mask_api_key(key: str) -> str:
    """The key as the API echoes it in errors: a few characters at each end, never the whole key."""
    if len(key) < 12:
        return key[:2] + "***"
    return f"{key[:7]}***{key[-4:]}"


_ROUTES = [
    ("POST", re.compile(r"/v1/files"), "upload_file"),
    ("GET", re.compile(r"/v1/files"), "list_files"),
    ("GET", re.compile(r"/v1/files/(?P<id>[^/]+)"), "get_file"),
    ("DELETE", re.compile(r"/v1/files/(?P<id>[^/]+)"), "delete_file"),
    ("GET", re.compile(r"/v1/files/(?P<id>[^/]+)/content"), "file_content"),
    ("POST", re.compile(r"/v1/batches"), "create_batch"),
    ("GET", re.compile(r"/v1/batches"), "list_batches"),
    ("GET", re.compile(r"/v1/batches/(?P<id>[^/]+)"), "get_batch"),
    ("POST", re.compile(r"/v1/batches/(?P<id>[^/]+)/cancel"), "cancel_batch"),
    ("GET", re.compile(r"/v1/models"), "list_models"),
    ("GET", re.compile(r"/v1/models/(?P<id>[^/]+)"), "get_model"),
    ("POST", re.compile(CHAT_PATH), "chat"),
    ("POST", re.compile(RESPONSES_PATH), "responses"),
]


def _match_route(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path.rstrip("/"))
        if match and route_method == method:
            return name, {key: unquote(value) for key, value in match.groupdict().items()}
    return None, {}


def _lesson_id(body: dict) -> str | None:
    """The lesson a chat request is for: its ``Lesson id:`` line, else the first id like ``M0-L001``, in the
    user text."""
    text = user_text(body)
    line = LESSON_ID_LINE.search(text)
    if line:
        return line.group(1)
    match = LESSON_ID.search(text)
    return match.group(0) if match else None


def _parsed_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _json_body(request: Request) -> dict:
    body = _parsed_or_none(request.body) if request.body else {}
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.",
        )
    return body


def _as_scenario(scenario: Scenario | Mapping[str, Any] | None) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)


def _int_or_zero(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, *, app: FakeOpenAIServer):
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request, client_address) -> None:
        """A client that left before its answer was written (it timed out, or its process was
        killed) is no fault of the server's, as on the real API: not printed. Other errors are."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Drop the clients' kept-alive connections, so no handler thread outlives the server."""
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every response has a Content-Length
    timeout = 60  # an idle kept-alive connection gives up its thread after this long
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two small writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the request log replaces the default stderr chatter

    def _handle(self) -> None:
        app = self.server.app
        request_id = app.next_request_id()
        try:
            split = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=unquote(split.path),
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self._read_body(),
            )
            response = app.dispatch(request)
        except Exception as error:  # a bug in the fake must show up in the test, not hang it
            traceback.print_exc(file=sys.stderr)
            body = error_body(f"fake server error: {error!r}", "server_error")
            response = Response.json(500, body, {"x-should-retry": "false"})
        delay = app.response_delay() + response.delay
        if delay:
            time.sleep(delay)
        if response.drop:  # the flex drop_connection fault: no status line, no headers, no body
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("x-request-id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if response.cut_at is None:
            self.wfile.write(response.body)
            return
        # The cut_download fault: part of the promised body, then the connection drops.
        self.wfile.write(response.body[: response.cut_at])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
