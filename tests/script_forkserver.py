"""A fork server for the tests: a Python file started as a process of its own in milliseconds.

Starting an interpreter for a script costs most of a second (importing ``openai`` and the
package). The tests that need a real process (a crash point kills it with SIGKILL, a test kills
its process group or sends it Ctrl-C, its stdin is a terminal) get one from here instead: one
long-lived helper process per test process (started on first use) has imported everything once
and forks a fresh process for each run. The run is a real separate process: a kill is a real
kill, its exit status is read by ``waitid`` (``-9`` for SIGKILL, as ``subprocess`` reports it),
its files and streams are its own.

Three processes take part, all single-threaded, so that a fork never copies a thread:

- the *server* (``python -m tests.script_forkserver FD``) imports ``openai``, the package and the
  scripts' modules, installs the network guard, loads the TLS certificates once, opens no socket,
  then waits on its control socket (FD) for connections;
- for each run, a *supervisor* forked from the server receives the request (file, arguments,
  environment, folder, new session or not) and the run's stdin, stdout and stderr (passed as
  file descriptors), forks the run, tells its process id, then waits for its end without
  reaping it, tells its exit status and reaps it only once the test has let go of the process id
  (so a kill sent until then can never reach a recycled one);
- the *run* sets its streams, folder, environment and argv and executes the file as
  ``__main__`` (``runpy.run_path``), then the interpreter exits as it ends any program: an
  uncaught exception prints its traceback and gives 1, ``sys.exit`` its code, atexit handlers
  run, buffers are flushed. Never forked from the test process, which has threads (the local
  Batch API server).

The test side is ``start()``, which returns a ``ForkedProcess`` (``pid``, ``poll``, ``wait``,
``send_signal``, ``kill``, ``returncode``, like ``subprocess.Popen``). ``AVAILABLE`` says whether
this platform can fork and pass file descriptors (POSIX); elsewhere ``tests/helpers.py`` starts
an interpreter as before.
"""

from __future__ import annotations

import atexit
import importlib.util
import io
import json
import locale
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
NETGUARD = Path(__file__).resolve().parent / "netguard" / "sitecustomize.py"

AVAILABLE = hasattr(os, "fork") and hasattr(socket, "send_fds") and hasattr(os, "waitid")

_LENGTH = struct.Struct("!I")
_READY = b"R"
_STARTUP_TIMEOUT = 120.0


# --------------------------------------------------------------------------- messages


def _send(conn: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    """One message (and ``fds``). Nothing more is written once its last byte is out: the reader
    may close its end as soon as it has the message (the test side lets go of a run at once),
    and a further write, even of nothing (``sendall(b"")`` still calls send), would then fail
    with EPIPE."""
    payload = json.dumps(message).encode("utf-8")
    data = _LENGTH.pack(len(payload)) + payload
    sent = socket.send_fds(conn, [data], list(fds)) if fds else 0
    if sent < len(data):
        conn.sendall(data[sent:])


def _receive(conn: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message and the file descriptors that came with it; None when the other side is gone.
    Reads exactly one message's bytes: the next one stays in the socket for the next call."""
    if max_fds:
        data, fds, _flags, _address = socket.recv_fds(conn, _LENGTH.size, max_fds)
    else:
        data, fds = conn.recv(_LENGTH.size), []
    data = _exactly(conn, data, _LENGTH.size)
    if data is None:
        return None, fds
    (length,) = _LENGTH.unpack(data)
    payload = _exactly(conn, b"", length)
    return (None if payload is None else json.loads(payload)), fds


def _exactly(conn: socket.socket, data: bytes, size: int) -> bytes | None:
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            return None
        data += more
    return data


# --------------------------------------------------------------------------- the server side


def _preload() -> None:
    """Import what a script run imports, install the network guard and load the TLS certificates
    once (``share_one_tls_context``); open nothing."""
    if getattr(socket.socket.connect, "__name__", "") != "_guarded_connect":  # not yet in via PYTHONPATH
        spec = importlib.util.spec_from_file_location("lesson_batch_tests_netguard", NETGUARD)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

    import openai
    import openai.resources.batches  # noqa: F401
    import openai.resources.chat  # noqa: F401
    import openai.resources.files  # noqa: F401

    for path in sorted((REPO_ROOT / "lesson_batch").glob("*.py")):
        if path.stem != "__init__":
            importlib.import_module(f"lesson_batch.{path.stem}")
    if share_one_tls_context():
        openai.DefaultHttpxClient().close()  # builds the context every run would build (no socket is opened)


def share_one_tls_context() -> bool:
    """Every HTTP client the ``openai`` client builds loads the machine's CA certificates into a new
    TLS context: about 30 ms of CPU, more than half of a typical script run in the tests. The tests
    talk plain HTTP to 127.0.0.1 only, so in the test process and in the fork server (whose runs
    inherit it) every client gets the one context built first. False where the HTTP library is not
    the one this knows (nothing is changed then)."""
    try:
        import httpcore2
    except ImportError:
        return False
    build = getattr(httpcore2, "default_ssl_context", None)
    if build is None or getattr(build, "shared", False):
        return build is not None
    contexts: dict = {}

    def default_ssl_context(**options):
        key = (tuple(sorted(options.items())), os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        if key not in contexts:
            contexts[key] = build(**options)
        return contexts[key]

    default_ssl_context.shared = True
    httpcore2.default_ssl_context = default_ssl_context
    return True


def _serve(control: socket.socket) -> tuple[dict, list[int]] | None:
    """Fork a supervisor for each connection the test process sends; returns only in a run."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the supervisors are reaped by the kernel
    # Ctrl-C in the terminal reaches every process: the server and the supervisors end when the
    # test process does (a run gets Python's own handler back).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control.sendall(_READY)
    while True:
        data, fds, _flags, _address = socket.recv_fds(control, 1, 1)
        if not data:
            return None  # the test process is gone
        conn = socket.socket(fileno=fds[0])
        if os.fork() == 0:
            control.close()
            return _supervise(conn)
        conn.close()


def _supervise(conn: socket.socket) -> tuple[dict, list[int]]:
    """Start one run, tell its pid and exit status; returns only in the run itself."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        request, fds = _receive(conn, max_fds=3)
        if request is None:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            conn.close()
            return request, fds
        for fd in fds:
            os.close(fd)
        _send(conn, {"pid": pid})
        try:
            ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
            _send(conn, {"returncode": code})
            conn.recv(1)  # the test has let go of the pid (or is gone)
        finally:
            os.waitpid(pid, 0)
    except BaseException:  # noqa: BLE001 - a supervisor never returns into the server's loop
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _std_stream(fd: int, write: bool, encoding: str, errors: str) -> io.TextIOWrapper:
    """A standard stream on ``fd`` as the interpreter makes it at startup."""
    unbuffered = write and bool(os.environ.get("PYTHONUNBUFFERED"))
    binary = open(fd, "wb" if write else "rb", buffering=0 if unbuffered else -1, closefd=False)
    line_buffering = not unbuffered and write and (fd == 2 or os.isatty(fd))
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline="\n",
                            line_buffering=line_buffering, write_through=unbuffered)


def _become_the_run(request: dict, fds: list[int]) -> None:
    """In the forked run: its session, streams, folder, environment and argv."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if request["new_session"]:
        os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    encoding, _, errors = (os.environ.get("PYTHONIOENCODING") or "").partition(":")
    encoding = encoding or locale.getpreferredencoding(False)
    sys.stdin = sys.__stdin__ = _std_stream(0, False, encoding, errors or "strict")
    sys.stdout = sys.__stdout__ = _std_stream(1, True, encoding, errors or "strict")
    sys.stderr = sys.__stderr__ = _std_stream(2, True, encoding, "backslashreplace")
    path = request["path"]
    sys.argv = [path, *request["args"]]
    # The module search path of ``python path``: the file's folder, the run's PYTHONPATH, then
    # the interpreter's own.
    given = [os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = [os.path.dirname(os.path.abspath(path)), *given, *_INTERPRETER_PATH]
    from lesson_batch import crashpoints

    crashpoints._counts.clear()  # the server never reached one; a run counts its own


_INTERPRETER_PATH: list[str] = []


def main(argv: list[str]) -> object:
    control = socket.socket(fileno=int(argv[1]))
    # sys.path without this server's own first entry and PYTHONPATH: what every run starts from.
    own = {os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry}
    _INTERPRETER_PATH[:] = [entry for entry in sys.path[1:] if os.path.abspath(entry or ".") not in own]
    _preload()
    started = _serve(control)
    if started is None:
        return 0
    request, fds = started
    _become_the_run(request, fds)
    import runpy

    runpy.run_path(request["path"], run_name="__main__")  # its sys.exit() ends this interpreter
    return 0


# --------------------------------------------------------------------------- the test side


class ForkedProcess:
    """A run started by the fork server, used like ``subprocess.Popen``."""

    def __init__(self, conn: socket.socket, pid: int, args: list[str]):
        self._conn = conn
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def _read_returncode(self, timeout: float | None) -> bool:
        if self.returncode is not None:
            return True
        if not select.select([self._conn], [], [], timeout)[0]:
            return False
        message, _ = _receive(self._conn)
        if message is None:
            raise RuntimeError(f"the fork server lost process {self.pid}")
        self.returncode = message["returncode"]
        return True

    def wait_for_exit(self, timeout: float | None = None) -> int:
        """Wait until the process has ended, without letting go of its pid: until ``release``
        (or ``wait``), no other process can get it, so a late kill reaches nobody."""
        if not self._read_returncode(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def release(self) -> None:
        """Let the supervisor reap the process, and wait until it has: until then the ended process
        is a zombie whose pid still looks alive, and a run started next would take the temporary
        files it left for a live writer's and leave them."""
        if self._conn is not None and self.returncode is not None:
            try:
                self._conn.sendall(b"x")
                self._conn.settimeout(30)
                self._conn.recv(1)  # b"": the supervisor has reaped the process and exited
            except OSError:
                pass
            self._conn.close()
            self._conn = None

    def wait(self, timeout: float | None = None) -> int:
        code = self.wait_for_exit(timeout)
        self.release()
        return code

    def poll(self) -> int | None:
        if self._conn is not None:
            self._read_returncode(0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self):
        if getattr(self, "_conn", None) is not None:
            self._conn.close()


class _Server:
    """This test process's fork server, started on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._process: subprocess.Popen | None = None

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("OPENAI_", "LESSON_BATCH_"))}
        env["PYTHONPATH"] = str(NETGUARD.parent)
        env["PYTHONIOENCODING"] = "utf-8"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.script_forkserver", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )
        theirs.close()
        ours.settimeout(_STARTUP_TIMEOUT)
        try:
            ready = ours.recv(1)
        except socket.timeout:
            ready = b""
        if ready != _READY:
            self._process.kill()
            raise RuntimeError(f"the tests' fork server did not start (exit {self._process.wait()})")
        ours.settimeout(None)
        self._control = ours
        atexit.register(self.stop)
        return ours

    def warm_up(self) -> None:
        with self._lock:
            if self._control is None:
                self._start()

    def connect(self) -> socket.socket:
        """A new connection to the server, for one run."""
        with self._lock:
            for attempt in (1, 2):
                if self._control is None:
                    self._start()
                ours, theirs = socket.socketpair()
                try:
                    socket.send_fds(self._control, [b"C"], [theirs.fileno()])
                    return ours
                except OSError:  # the server died: start another once
                    ours.close()
                    self.stop()
                    if attempt == 2:
                        raise
                finally:
                    theirs.close()
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


_server = _Server()


def warm_up() -> None:
    """Start this process's fork server now instead of at the first run (it takes about a second)."""
    _server.warm_up()


def _fd(stream, default_mode: str) -> tuple[int, object | None]:
    """The file descriptor of ``stream`` (a file, a descriptor, or None for the null device)."""
    if stream is None:
        null = open(os.devnull, default_mode)
        return null.fileno(), null
    return (stream if isinstance(stream, int) else stream.fileno()), None


def start(
    path: str | Path,
    args: Sequence[object] = (),
    *,
    env: Mapping[str, str],
    cwd: str | Path,
    stdin=None,
    stdout=None,
    stderr=None,
    start_new_session: bool = False,
) -> ForkedProcess:
    """Run the Python file ``path`` with ``args`` in a process of its own, forked from the server.

    ``env`` is its whole environment. ``stdin``, ``stdout`` and ``stderr`` are files or file
    descriptors (None: the null device). Returns once the process exists (its ``pid`` is known).
    """
    path, argv = str(path), [str(arg) for arg in args]
    conn = _server.connect()
    opened = []
    try:
        fds = []
        for stream, mode in ((stdin, "rb"), (stdout, "wb"), (stderr, "wb")):
            fd, null = _fd(stream, mode)
            fds.append(fd)
            if null is not None:
                opened.append(null)
        request = {"path": path, "args": argv, "env": dict(env), "cwd": str(cwd), "new_session": start_new_session}
        _send(conn, request, fds)
    finally:
        for null in opened:
            null.close()
    reply, _ = _receive(conn)
    if reply is None:
        conn.close()
        raise RuntimeError(f"the fork server could not start {path}")
    return ForkedProcess(conn, reply["pid"], [sys.executable, path, *argv])


def run(
    path: str | Path,
    args: Sequence[object] = (),
    *,
    env: Mapping[str, str],
    cwd: str | Path,
    input: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """``subprocess.run([python, path, *args], capture_output=True, text=True)`` through the server:
    stdin ``input`` (or empty), stdout and stderr read as UTF-8 with universal newlines."""
    import tempfile

    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        given.write((input or "").encode("utf-8"))
        given.flush()
        given.seek(0)
        process = start(path, args, env=env, cwd=cwd, stdin=given, stdout=out, stderr=err)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            process.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except BaseException:  # our timeout, or the test's (pytest-timeout), or Ctrl-C: no run outlives it
            process.kill()
            process.wait()
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, _text(out), _text(err))


def _text(file) -> str:
    """What was written, read as ``subprocess.run(text=True, encoding="utf-8", errors="replace")`` reads it."""
    file.seek(0)
    return io.TextIOWrapper(io.BytesIO(file.read()), encoding="utf-8", errors="replace").read()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
