"""Helpers shared by the tests that run the project's scripts.

``run_script("generate_datagov_lessons_batch.py", "--dry-run", cwd=tmp_path)`` runs a top-level
script of the repository and returns a ``subprocess.CompletedProcess`` (returncode, text stdout
and stderr). The script sees:

- an environment without any ``OPENAI_*`` variable from the developer's shell (no real key, no
  real address), plus whatever the test passes in ``env`` (for example ``OPENAI_BASE_URL`` and
  ``OPENAI_API_KEY`` pointing at the fake server); a value of ``None`` removes a variable;
- the network guard that refuses every connection that is not loopback (installed in the test
  process by ``tests/conftest.py``, and through ``PYTHONPATH`` in a process of its own);
- ``cwd`` as its current folder, an empty stdin that is not a terminal (or ``input``), and
  stdout and stderr captured as UTF-8.

Where it runs:

- by default its ``main`` runs in this process, as its command line would (``cli.run`` around
  it): an interpreter costs most of a second per run (importing and building the ``openai``
  client), an in-process run milliseconds;
- in a process of its own (``own_process``, and every run that sets a crash point, which kills
  its process with SIGKILL) where the process boundary is the point: signals, a terminal, a
  closed pipe. That process is forked from the tests' fork server (``tests/script_forkserver.py``,
  which has imported everything once): a real process, started in milliseconds;
- in a fresh interpreter (``as_program``), as a user starts it: one smoke test per script
  (``tests/test_scripts_as_programs.py``); every own-process run is one on a platform without
  ``fork``.

``run_python`` runs any Python file in a process of its own the same way; ``start_python`` starts
one and returns the process (``pid``, ``poll``, ``wait``, ``send_signal``), for the tests that
kill or interrupt it themselves.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest

from lesson_batch import cli, crashpoints
from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger
from lesson_batch.process_job import ProcessRequest, WaitingForAnotherRun, process_results
from tests import script_forkserver

REPO_ROOT = Path(__file__).resolve().parent.parent
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"

BUNDLED_CURRICULUM = REPO_ROOT / "src" / "data" / "data_gov" / "Content Structure.md"
# Real Batch API result lines kept next to the repository, never inside it (see its PROVENANCE.md).
# REAL_BATCH_LINES_DIR points elsewhere, e.g. from a worktree whose parent has no shared/ folder.
REAL_BATCH_LINES = Path(os.environ.get("REAL_BATCH_LINES_DIR") or REPO_ROOT.parent / "shared" / "real_batch_lines")
BUNDLED_TEMPLATE = REPO_ROOT / "prompts" / "lesson_generation_prompt.md"


def write_cacheable_template(path: Path) -> Path:
    """The bundled template with a system part long enough for the API to cache (1,024 tokens or
    more; the bundled one is shorter): for tests of cached reads and prompt-cache writes."""
    text = BUNDLED_TEMPLATE.read_text(encoding="utf-8")
    filler = "Ground every claim in the curriculum entry and the named frameworks. " * 300
    path.write_text(text.replace("<!-- system -->\n", "<!-- system -->\n" + filler + "\n", 1), encoding="utf-8")
    return path

GENERATE_SCRIPT = "generate_datagov_lessons_batch.py"
STATUS_SCRIPT = "check_batch_status.py"
PROCESS_SCRIPT = "process_batch_results.py"
SCRIPTS = (GENERATE_SCRIPT, STATUS_SCRIPT, PROCESS_SCRIPT)

CRASH_AT = crashpoints.ENV_VAR


def as_typed(script: str) -> str:
    """A script as the scripts print it in a next step, for a run whose current folder is not the
    project folder (a test's ``tmp_path``): ``python <its absolute path>``."""
    return f"python {REPO_ROOT / script}"


def script_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment for a script: os.environ minus OPENAI_*, plus the network guard and ``env``."""
    result = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    result["PYTHONPATH"] = str(NETGUARD_DIR)
    result["PYTHONIOENCODING"] = "utf-8"
    for name, value in (env or {}).items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = str(value)
    return result


def _script_path(name: str) -> Path:
    script = REPO_ROOT / name
    if not script.is_file():
        raise FileNotFoundError(f"no script {script}")
    return script


@contextlib.contextmanager
def _folder(cwd: Path | str | None) -> Iterator[Path | str]:
    """``cwd``, or a fresh empty folder that is removed afterwards."""
    if cwd is not None:
        yield cwd
        return
    with tempfile.TemporaryDirectory(prefix="run_script-") as folder:
        yield folder


def run_script(
    name: str,
    *args: object,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | str | None = None,
    input: str | None = None,
    timeout: float = 120,
    own_process: bool = False,
    as_program: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``<repo>/<name>`` with ``args`` and return the finished run (text stdout/stderr).

    ``cwd`` should be the test's ``tmp_path`` so that relative paths and files the script looks
    for in the current folder (``.env``, ``openaiapikey.txt``) stay inside the test. Without one,
    the script runs in a fresh empty folder that is removed afterwards. ``timeout`` applies to a
    run in a process of its own (see the module's docstring for where a run goes).
    """
    script = _script_path(name)
    with _folder(cwd) as folder:
        if as_program or own_process or (env or {}).get(CRASH_AT):
            return run_python(
                script, *args, env=script_env(env), cwd=folder, input=input, timeout=timeout, program=as_program
            )
        return _run_in_process(script, [str(arg) for arg in args], script_env(env), folder, input)


def run_python(
    path: Path | str,
    *args: object,
    env: Mapping[str, str],
    cwd: Path | str,
    input: str | None = None,
    timeout: float = 120,
    program: bool = False,
) -> subprocess.CompletedProcess:
    """``subprocess.run([<python>, path, *args], ...)`` with text stdout and stderr captured and
    ``env`` as the whole environment: forked from the fork server, or with ``program`` (or where
    there is no fork) a fresh interpreter. Stdin is ``input``, or empty (never the developer's
    terminal: no script waits for an answer)."""
    if script_forkserver.AVAILABLE and not program:
        return script_forkserver.run(path, args, env=env, cwd=cwd, input=input, timeout=timeout)
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(
        [sys.executable, str(path), *(str(arg) for arg in args)], cwd=str(cwd), env=dict(env), **stdin,
        capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout,
    )


class _Program(subprocess.Popen):
    """A fresh interpreter (where there is no fork server), with the fork server's ``wait_for_exit``
    and ``release``."""

    def wait_for_exit(self, timeout: float | None = None) -> int:
        return self.wait(timeout)

    def release(self) -> None:
        pass


def start_python(
    path: Path | str,
    *args: object,
    env: Mapping[str, str],
    cwd: Path | str,
    stdin=None,
    stdout=None,
    stderr=None,
    start_new_session: bool = False,
):
    """Start ``<python> path args...`` (forked from the fork server where there is ``fork``) and
    return the running process: ``pid``, ``poll()``, ``wait(timeout)``, ``send_signal()``,
    ``kill()``, ``returncode``; and ``wait_for_exit(timeout)``, which waits for the end but keeps
    the pid taken until ``release()`` (or ``wait()``), so a late kill reaches nobody else.
    ``env`` is the whole environment; ``stdin``, ``stdout`` and ``stderr`` are files or file
    descriptors (None: the null device)."""
    if script_forkserver.AVAILABLE:
        return script_forkserver.start(
            path, args, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr,
            start_new_session=start_new_session,
        )
    null = subprocess.DEVNULL
    return _Program(
        [sys.executable, str(path), *(str(arg) for arg in args)], cwd=str(cwd), env=dict(env),
        stdin=null if stdin is None else stdin, stdout=null if stdout is None else stdout,
        stderr=null if stderr is None else stderr, start_new_session=start_new_session,
    )


# ---- a script's main in this process


_SCRIPT_MODULES: dict[Path, object] = {}


def _load_script(script: Path):
    """A top-level script as a module (loaded once), to call its ``main`` in this process."""
    if script not in _SCRIPT_MODULES:
        spec = importlib.util.spec_from_file_location(f"lesson_batch_script_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPT_MODULES[script] = module
    return _SCRIPT_MODULES[script]


def _captured() -> io.TextIOWrapper:
    """A UTF-8 text stream into memory, like a pipe: not a terminal, no fileno, reconfigurable."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _text_of(stream: io.TextIOWrapper) -> str:
    """What was written, read back as ``subprocess.run(text=True)`` reads a pipe (universal newlines)."""
    stream.flush()
    return io.TextIOWrapper(io.BytesIO(stream.buffer.getvalue()), encoding="utf-8", errors="replace").read()


@contextlib.contextmanager
def _process_state_restored() -> Iterator[None]:
    """Whatever a script run changes in this process is put back afterwards: the environment
    (``load_dotenv`` writes into it), the current folder, argv, the standard streams, the Ctrl-C
    handler, logging handlers and levels, and the crash-point counters."""
    saved_environ = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv = sys.argv[:]
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_sigint = signal.getsignal(signal.SIGINT)
    loggers = [logging.getLogger(), *(
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    )]
    saved_logging = [(logger, logger.level, logger.handlers[:]) for logger in loggers]
    crashpoints._counts.clear()  # they count the times a point is reached in one run
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(saved_cwd)
        sys.argv[:] = saved_argv
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        signal.signal(signal.SIGINT, saved_sigint)
        for logger, level, handlers in saved_logging:
            logger.setLevel(level)
            logger.handlers[:] = handlers
        crashpoints._counts.clear()


def _run_in_process(
    script: Path, argv: list[str], env: dict[str, str], folder: Path | str, input: str | None
) -> subprocess.CompletedProcess:
    """The script's ``main(argv)`` under ``cli.run``, as its ``if __name__ == "__main__"`` block
    runs it, with an exit through ``SystemExit`` (argparse's usage errors and ``--help``) and an
    uncaught exception (a traceback on stderr, exit 1) ending the run as they would end the
    interpreter."""
    module = _load_script(script)
    out, err = _captured(), _captured()
    with _process_state_restored():
        os.environ.clear()
        os.environ.update(env)
        os.chdir(folder)
        sys.argv[:] = [str(script), *argv]
        sys.stdin = io.StringIO(input or "")
        sys.stdout, sys.stderr = out, err
        try:
            code = cli.run(lambda: module.main(argv))
        except SystemExit as exiting:
            code = _exit_status(exiting.code, err)
        except Exception:
            traceback.print_exc(file=err)
            code = 1
    return subprocess.CompletedProcess([sys.executable, str(script), *argv], code, _text_of(out), _text_of(err))


def _exit_status(code: object, err: io.TextIOWrapper) -> int:
    """The exit status ``sys.exit(code)`` gives an interpreter."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)
    return 1


FULL_FUZZ = os.environ.get("FUZZ_EXAMPLES") == "full"


def examples(full: int, default: int) -> int:
    """A Hypothesis example count: ``default`` in the everyday run, ``full`` with
    ``FUZZ_EXAMPLES=full`` (for a change to what the property tests cover, and before a release)."""
    return full if FULL_FUZZ else default


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``condition`` until it holds; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(interval)


def write_curriculum(path: Path, titles: list[str], name: str = "Test Curriculum") -> Path:
    """A one-module curriculum (M0) with one foundational lesson per title, written to ``path``."""
    lines = [f"# {name}", "", "# M0: Foundations — Lesson Map", ""]
    for number, title in enumerate(titles, start=1):
        lines += [f"## L{number:03d}: {title} [F]", f"Key topics: topic {number}.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def success_record(custom_id, content="# Lesson\n", finish_reason="stop", usage=None) -> dict:
    """One line of a Batch API output file: a 200 chat completion for ``custom_id``."""
    if usage is None:
        usage = {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 80},
            "completion_tokens_details": {"reasoning_tokens": 10},
        }
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
    return {
        "id": "batch_req_1",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": {"object": "chat.completion", "choices": [choice], "usage": usage},
        },
        "error": None,
    }


def open_as_on_windows(file, mode="r", *args, **kwargs):
    """``open`` as on a system whose locale is not UTF-8 (Windows' cp1252): a file opened as text
    without an encoding is read and written as cp1252."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "cp1252")
    return builtins.open(file, mode, *args, **kwargs)


def unreadable_record(custom_id, usage: dict) -> dict:
    """One line of a batch's output file that cannot be read: a 200 for ``custom_id`` whose body has
    its ``usage`` (billed) and no choices."""
    return {"id": "batch_req_9", "custom_id": custom_id, "error": None,
            "response": {"status_code": 200, "request_id": "req_9", "body": {"usage": usage}}}


def responses_record(custom_id, output=None, *, status="completed", incomplete_reason=None, usage=None) -> dict:
    """One line of a ``/v1/responses`` batch's output file: a 200 ``response`` for ``custom_id``, in
    the shape of the real lines (round2's responses_output.jsonl). ``output`` is the list of output
    items (default: one message with one ``output_text`` part, "# Lesson\n")."""
    if output is None:
        output = [responses_message("# Lesson\n")]
    if usage is None:
        usage = {
            "input_tokens": 100, "input_tokens_details": {"cached_tokens": 80},
            "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 150,
        }
    body = {
        "id": "resp_1", "object": "response", "created_at": 1750231688, "status": status, "error": None,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": None, "max_output_tokens": None, "model": "gpt-6.1-terra", "output": output,
        "parallel_tool_calls": True, "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
        "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
        "usage": usage, "metadata": {},
    }
    return {
        "id": "batch_req_1", "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": "req_1", "body": body}, "error": None,
    }


def responses_message(*texts: str, refusal: str | None = None) -> dict:
    """A ``message`` output item with an ``output_text`` part per text (and a ``refusal`` part)."""
    content = [{"type": "output_text", "annotations": [], "text": text} for text in texts]
    if refusal is not None:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": "msg_1", "type": "message", "status": "completed", "content": content, "role": "assistant"}


def ledger_awaiting_results(work_dir: Path, lesson_ids: list[str], required_sections: list[str]) -> Ledger:
    """A ledger whose one completed batch ``batch_1`` awaits the results of ``lesson_ids``, as after
    a real submit (model gpt-6.1-terra, a 16,000-token budget each)."""
    ledger = Ledger.open(work_dir)
    ledger.record_shard(
        shard_key="run1-s001", run_id="run1", model="gpt-6.1-terra", input_path="input.jsonl", sha256="0" * 64,
        lessons=[(lesson_id, 16_000, None) for lesson_id in lesson_ids], prompt_tokens=1000, output_tokens=3000,
        required_sections=required_sections,
    )
    ledger.shard_uploaded("run1-s001", "file-input")
    ledger.shard_submitted("run1-s001", BatchInfo(id="batch_1", status="completed", input_file_id="file-input",
                                                   request_total=len(lesson_ids)))
    return ledger


def process_while_another_run_processes(request: ProcessRequest) -> tuple[list, list]:
    """``process_results`` for ``request`` on a second thread while another run holds the work
    dir's processing lock, let go once the second run says it waits (checking that it has
    processed nothing and saved no lesson until then): what it said, and its summaries."""
    work_dir = request.work_dir
    said, summaries = [], []

    def second_run() -> None:
        with Ledger.open(work_dir) as ledger:
            summaries.append(process_results(ledger, request, said.append))

    with Ledger.open(work_dir) as other_run, other_run.processing_lock():
        second = threading.Thread(target=second_run)
        second.start()
        wait_until(lambda: WaitingForAnotherRun(work_dir) in said, "the second run says it waits")
        assert summaries == [] and not any(Path(request.output_dir).glob("*.md")), "processed while it waited"
    second.join(timeout=30)
    return said, summaries


def write_modules_curriculum(
    path: Path, modules: int, lessons_per_module: int, name: str = "Test Curriculum"
) -> list[str]:
    """A curriculum of ``modules`` modules of ``lessons_per_module`` lessons; returns the lesson ids."""
    lines, lesson_ids = [f"# {name}", ""], []
    for module in range(modules):
        lines += [f"# M{module}: Module {module} — Lesson Map", ""]
        for number in range(1, lessons_per_module + 1):
            lines += [f"## L{number:03d}: Topic {module}.{number} [F]", f"Key topics: point {number}.", ""]
            lesson_ids.append(f"M{module}-L{number:03d}")
    path.write_text("\n".join(lines), encoding="utf-8")
    return lesson_ids


def batches_per_lesson(server) -> Counter:
    """How many batches the fake server was asked to run each lesson in (each one is paid for)."""
    return Counter(
        line["custom_id"] for batch in server.created_batches() for line in server.file_lines(batch["input_file_id"])
    )


WATCH_INTERVAL = "0.01"  # seconds between polls of ``check_batch_status.py --watch`` in tests


class ScriptDriver:
    """The three scripts run on one project against the fake server: a curriculum, a work dir and
    a lessons folder under ``root`` (the scripts' current folder).

    ``server`` is the fake Batch API (None: no API address, no key); ``api_key`` the key the
    scripts are given (None: the server's default). ``env`` is added to every run. A subclass in
    a test module adds that module's own arguments and readings.
    """

    def __init__(
        self,
        root: Path,
        server=None,
        *,
        curriculum: Path | None = None,
        work: Path | None = None,
        out: Path | None = None,
        api_key: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ):
        self.root = root
        self.server = server
        self.curriculum = curriculum if curriculum is not None else root / "curriculum.md"
        self.work = work if work is not None else root / "work"
        self.out = out if out is not None else root / "lessons"
        self.api_key = api_key
        self.extra_env = dict(env or {})

    def env(self, crash_at: str | None = None) -> dict[str, str | None]:
        """The variables every run gets; ``crash_at`` names a crash point (the run then is a subprocess)."""
        env: dict[str, str | None] = {}
        if self.server is not None:
            env.update(self.server.env() if self.api_key is None else self.server.env(api_key=self.api_key))
        env.update(self.extra_env)
        env[CRASH_AT] = crash_at  # None: not set
        return env

    def run(
        self, script: str, *args, crash_at: str | None = None, env: Mapping[str, str | None] | None = None,
        input: str | None = None, timeout: float = 120, own_process: bool = False, as_program: bool = False,
    ) -> subprocess.CompletedProcess:
        return run_script(
            script, *args, env={**self.env(crash_at), **(env or {})}, cwd=self.root, input=input, timeout=timeout,
            own_process=own_process, as_program=as_program,
        )

    def generate(self, *args, **options) -> subprocess.CompletedProcess:
        return self.run(
            GENERATE_SCRIPT, "--curriculum", self.curriculum, "--work-dir", self.work, "--output-dir", self.out,
            *args, **options,
        )

    def status(self, *args, **options) -> subprocess.CompletedProcess:
        return self.run(STATUS_SCRIPT, "--work-dir", self.work, *args, **options)

    def watch(self, **options) -> subprocess.CompletedProcess:
        return self.status("--watch", "--interval", WATCH_INTERVAL, **options)

    def process(self, *args, **options) -> subprocess.CompletedProcess:
        return self.run(PROCESS_SCRIPT, "--work-dir", self.work, "--output-dir", self.out, *args, **options)

    def status_json(self) -> dict:
        """What ``check_batch_status.py --json --lessons`` says about the work dir."""
        result = self.status("--json", "--lessons")
        assert "Traceback" not in result.stderr, result.stderr
        return json.loads(result.stdout)["result"]

    def states(self) -> dict[str, str]:
        """Every lesson in the ledger, with its state."""
        with Ledger.open(self.work) as ledger:
            return {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}

    def saved_lessons(self) -> set[str]:
        """The ids of the lesson files in the lessons folder."""
        return {path.stem for path in self.out.glob("*.md")} if self.out.is_dir() else set()
