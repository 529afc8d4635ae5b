"""Helpers shared by the tests that run the project's scripts as subprocesses.

``run_script("generate_datagov_lessons_batch.py", "--dry-run", cwd=tmp_path)`` runs a top-level
script of the repository with the interpreter running the tests, in an environment that:

- has no ``OPENAI_*`` variable from the developer's shell (no real key, no real address);
- puts ``tests/netguard`` on ``PYTHONPATH``, whose ``sitecustomize`` refuses every connection
  that is not loopback, so a slip fails loudly instead of reaching the real API;
- adds whatever the test passes in ``env`` (for example ``OPENAI_BASE_URL`` and
  ``OPENAI_API_KEY`` pointing at the fake server); a value of ``None`` removes a variable.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
import sys
import tempfile
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"

BUNDLED_CURRICULUM = REPO_ROOT / "src" / "data" / "data_gov" / "Content Structure.md"
# Real Batch API result lines kept next to the repository, never inside it (see its PROVENANCE.md).
# REAL_BATCH_LINES_DIR points elsewhere, e.g. from a worktree whose parent has no shared/ folder.
REAL_BATCH_LINES = Path(os.environ.get("REAL_BATCH_LINES_DIR") or REPO_ROOT.parent / "shared" / "real_batch_lines")
BUNDLED_TEMPLATE = REPO_ROOT / "prompts" / "lesson_generation_prompt.md"

GENERATE_SCRIPT = "generate_datagov_lessons_batch.py"
STATUS_SCRIPT = "check_batch_status.py"
PROCESS_SCRIPT = "process_batch_results.py"


def script_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment for a script subprocess: os.environ minus OPENAI_*, plus the network guard."""
    result = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    result["PYTHONPATH"] = str(NETGUARD_DIR)
    result["PYTHONIOENCODING"] = "utf-8"
    for name, value in (env or {}).items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = str(value)
    return result


def run_script(
    name: str,
    *args: object,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | str | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run ``<repo>/<name>`` with ``args`` and return the finished process (text stdout/stderr).

    ``cwd`` should be the test's ``tmp_path`` so that relative paths and files the script looks
    for in the current folder (``.env``, ``openaiapikey.txt``) stay inside the test. Without one,
    the script runs in a fresh empty folder that is removed afterwards.
    """
    script = REPO_ROOT / name
    if not script.is_file():
        raise FileNotFoundError(f"no script {script}")
    command = [sys.executable, str(script), *(str(arg) for arg in args)]

    # Without input, stdin is empty (never the developer's terminal): no script waits for an answer.
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}

    def _run(folder: Path | str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            cwd=str(folder),
            env=script_env(env),
            **stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )

    if cwd is not None:
        return _run(cwd)
    with tempfile.TemporaryDirectory(prefix="run_script-") as folder:
        return _run(folder)


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


def write_modules_curriculum(path: Path, modules: int, lessons_per_module: int, name: str = "Test Curriculum") -> list[str]:
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
