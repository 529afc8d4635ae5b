"""A newcomer never gets stuck (issue 10): one run, one place, honest exits, checks before paying.

Each section is one of the issue's numbered problems, played the way a user meets it: the real
scripts (their ``main`` in this process, a subprocess where the process itself matters), the real
``openai`` client against the local fake Batch API server, a small curriculum, work dir and lessons
folder in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import (
    GENERATE_SCRIPT,
    PROCESS_SCRIPT,
    REPO_ROOT,
    STATUS_SCRIPT,
    WATCH_INTERVAL,
    ScriptDriver,
    as_typed,
    run_script,
    script_env,
    start_python,
)

INTERVAL = WATCH_INTERVAL
CURRICULUM = """\
# Tiny Course

# M0: Basics

## L001: What Data Governance Is [F]
Key topics: decision rights.

## L002: Why Organisations Govern Data [F]
Key topics: risk; value.

## L003: Roles and Responsibilities [I]
Key topics: owner; steward.
"""
LESSONS = ["M0-L001", "M0-L002", "M0-L003"]


class Project(ScriptDriver):
    """A course, a work dir and a lessons folder in tmp_path, and the scripts run on them."""

    def __init__(self, root: Path, server: FakeOpenAIServer):
        super().__init__(root, server, curriculum=root / "course" / "Content Structure.md", out=root / "out")
        self.curriculum.parent.mkdir()
        self.curriculum.write_text(CURRICULUM, encoding="utf-8")

    def process(self, *args, **options) -> subprocess.CompletedProcess:
        """``process_batch_results.py`` with the lessons folder the work dir remembers."""
        return self.run(PROCESS_SCRIPT, "--work-dir", self.work, *args, **options)


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    return Project(tmp_path, fake_openai)


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def failed(result) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def uploads(server) -> list:
    return [entry for entry in server.requests if entry.method == "POST" and entry.path == "/v1/files"]


def submitted_lessons(server) -> list[str]:
    """Every custom_id of every batch created, with repeats."""
    return sorted(
        line["custom_id"] for batch in server.created_batches() for line in server.file_lines(batch["input_file_id"])
    )


# ---------------------------------------------------------------- 1. one API and one course per work dir


def test_a_work_dir_used_with_one_api_refuses_another_and_submits_nothing_there(project, tmp_path):
    ok(project.generate("--yes", "--limit", "1"))
    with FakeOpenAIServer() as other:
        result = run_script(
            GENERATE_SCRIPT, "--curriculum", project.curriculum, "--work-dir", project.work, "--yes",
            env=other.env(), cwd=tmp_path,
        )
        stderr = failed(result)
        assert f"belongs to the API at {project.server.base_url}" in stderr
        assert f"talks to {other.base_url}" in stderr
        assert "--work-dir" in stderr
        assert other.requests == []


def test_status_against_another_api_refuses_instead_of_showing_not_found_batches(project, tmp_path):
    ok(project.generate("--yes", "--limit", "1"))
    with FakeOpenAIServer() as other:
        result = run_script(STATUS_SCRIPT, "--work-dir", project.work, env=other.env(), cwd=tmp_path)
        assert "belongs to the API at" in failed(result)
        assert other.requests == []


def test_processing_against_another_api_refuses_and_asks_that_api_nothing(project, tmp_path):
    """(Mutation run of 2026-12-07, processing.py ``process_results``: the processing run must
    give the work dir the API it talks to.)"""
    ok(project.generate("--yes", "--limit", "1"))
    with FakeOpenAIServer() as other:
        result = run_script(PROCESS_SCRIPT, "--work-dir", project.work, env=other.env(), cwd=tmp_path)
        assert f"belongs to the API at {project.server.base_url}" in failed(result)
        assert other.requests == []


def test_a_work_dir_used_with_one_curriculum_refuses_another_even_in_a_dry_run(project):
    ok(project.generate("--yes", "--limit", "1"))
    other = project.root / "other.md"
    other.write_text(CURRICULUM, encoding="utf-8")
    for extra in ((), ("--dry-run",)):
        result = project.run(GENERATE_SCRIPT, "--curriculum", other, "--work-dir", project.work, "--yes", *extra)
        stderr = failed(result)
        assert "belongs to the curriculum course/Content Structure.md" in stderr
        assert "Use another --work-dir" in stderr
    assert len(project.server.created_batches()) == 1


def test_the_ledger_records_the_api_address_and_the_course_but_never_the_key(project):
    ok(project.generate("--yes", "--limit", "1"))
    with Ledger.open(project.work) as ledger:
        meta = ledger.meta()
    assert meta["api_base_url"] == project.server.base_url
    assert meta["curriculum"] == str(project.curriculum.resolve())
    assert meta["template"] == str((REPO_ROOT / "prompts" / "lesson_generation_prompt.md").resolve())
    assert meta["output_dir"] == str(project.out.resolve())
    raw = (project.work / "ledger.sqlite3").read_bytes()
    assert project.server.env()["OPENAI_API_KEY"].encode() not in raw


def test_a_ledger_from_before_these_records_adopts_the_current_api_and_says_so_once(project):
    ok(project.generate("--yes", "--limit", "1"))
    connection = sqlite3.connect(project.work / "ledger.sqlite3")
    with connection:
        connection.execute("DELETE FROM meta WHERE key != 'schema_version'")
    connection.close()

    first, second = project.status(), project.status()

    assert "did not record what it belongs to" in first.stderr
    assert f"API {project.server.base_url}" in first.stderr
    assert "did not record" not in second.stderr
    assert first.returncode == second.returncode == 0, first.stderr


def test_the_readme_offline_recipe_uses_its_own_work_dir_and_lessons_folder():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Trying it without a key", 1)[1].split("\n## ", 1)[0]
    scripts = ("generate_datagov_lessons_batch.py", "check_batch_status.py", "process_batch_results.py")
    commands = [line.removeprefix("$ ") for line in section.splitlines()]
    commands = [line for line in commands if line.startswith(tuple(f"python {script}" for script in scripts))]
    assert any("generate_datagov_lessons_batch.py" in command for command in commands)
    for command in commands:
        assert "--work-dir offline/" in command, command
        if "generate_datagov_lessons_batch.py" in command:
            assert "--output-dir offline/" in command, command


# ---------------------------------------------------------------- 2. folders checked before paying


def test_an_output_dir_that_is_a_file_stops_the_run_before_anything_is_uploaded(project):
    project.out.write_text("not a folder", encoding="utf-8")
    stderr = failed(project.generate("--yes"))
    assert "out is a file, not a folder" in stderr
    assert uploads(project.server) == []


def test_an_output_dir_that_cannot_be_created_stops_the_run_before_anything_is_uploaded(project):
    (project.root / "blocker").write_text("a file", encoding="utf-8")
    result = project.run(
        GENERATE_SCRIPT, "--curriculum", project.curriculum, "--work-dir", project.work,
        "--output-dir", project.root / "blocker" / "lessons", "--yes",
    )
    assert "blocker/lessons cannot be created" in failed(result).replace(os.sep, "/")
    assert uploads(project.server) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="an administrator can write anywhere")
def test_a_read_only_output_dir_stops_the_run_before_anything_is_uploaded(project):
    project.out.mkdir()
    project.out.chmod(0o555)
    try:
        assert "cannot be written" in failed(project.generate("--yes"))
    finally:
        project.out.chmod(0o755)
    assert uploads(project.server) == []


def test_a_work_dir_that_is_a_file_is_a_plain_error_in_a_dry_run(tmp_path):
    (tmp_path / "work").write_text("not a folder", encoding="utf-8")
    result = run_script(GENERATE_SCRIPT, "--dry-run", "--work-dir", tmp_path / "work", env={}, cwd=tmp_path)
    assert "work is a file, not a folder: choose another --work-dir" in failed(result)


def test_a_work_dir_that_is_a_file_stops_a_submitting_run_before_anything_is_uploaded(project):
    project.work.write_text("not a folder", encoding="utf-8")
    assert "work is a file, not a folder" in failed(project.generate("--yes"))
    assert uploads(project.server) == []


def test_processing_into_a_folder_that_became_a_file_stops_and_keeps_the_batch_awaiting_processing(project):
    ok(project.generate("--yes"))
    ok(project.watch())
    project.out.rmdir()
    project.out.write_text("not a folder", encoding="utf-8")

    stderr = failed(project.process())

    assert "out is a file, not a folder" in stderr
    assert project.states() == {lesson: "submitted" for lesson in LESSONS}
    assert project.status_json()["batches"][0]["processed"] is False
    project.out.unlink()
    ok(project.process())
    assert sorted(path.stem for path in project.out.glob("*.md")) == LESSONS


# ---------------------------------------------------------------- 3. one run, one place


def test_status_and_processing_use_the_folders_the_run_was_planned_with(project):
    ok(project.generate("--yes"))
    ok(project.watch())

    process = project.process()  # no --output-dir: the work dir remembers it

    ok(process)
    assert sorted(path.stem for path in project.out.glob("*.md")) == LESSONS
    assert "folder: out" in ok(project.status())


def test_the_next_step_printed_after_submitting_works_as_printed(project):
    out = ok(project.generate("--yes"))
    next_line = next(line for line in out.splitlines() if line.startswith("Next: "))
    status_command, process_command = next_line[len("Next: "):].split(", then ")
    assert status_command == f"{as_typed(STATUS_SCRIPT)} --work-dir work --watch"
    assert process_command == f"{as_typed(PROCESS_SCRIPT)} --work-dir work"

    ok(project.run(STATUS_SCRIPT, *status_command.split()[2:], "--interval", INTERVAL))
    ok(project.run(PROCESS_SCRIPT, *process_command.split()[2:]))
    assert sorted(path.stem for path in project.out.glob("*.md")) == LESSONS


def test_the_default_lessons_folder_is_beside_the_curriculum(project):
    result = project.run(
        GENERATE_SCRIPT, "--curriculum", project.curriculum, "--work-dir", project.work, "--wait",
        "--interval", INTERVAL, "--yes",
    )
    ok(result)
    assert sorted(path.stem for path in (project.curriculum.parent / "lessons").glob("*.md")) == LESSONS


def test_another_output_dir_given_to_processing_is_honoured_with_a_note(project):
    ok(project.generate("--yes"))
    ok(project.watch())
    elsewhere = project.root / "elsewhere"

    result = project.process("--output-dir", elsewhere)

    ok(result)
    assert "note: lessons folder elsewhere, as given; this work dir used out until now" in result.stderr
    assert sorted(path.stem for path in elsewhere.glob("*.md")) == LESSONS


# ---------------------------------------------------------------- 4. prompts


def run_on_terminal(command: list[str], env: dict, cwd: Path, answer: bytes) -> tuple[int, str, str]:
    """Run with a terminal as stdin, answer the prompt with ``answer`` once it is asked."""
    pty = pytest.importorskip("pty")
    _python, script, *args = command
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            process = start_python(script, *args, stdin=slave, stdout=out, stderr=err, cwd=cwd, env=script_env(env))
        finally:
            os.close(slave)
        try:
            os.write(master, answer)
            process.wait(timeout=60)
        finally:
            os.close(master)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read().decode(), err.read().decode()


def test_end_of_input_at_the_submit_prompt_means_no_and_the_prompt_is_on_stderr(project):
    command = [
        sys.executable, str(REPO_ROOT / GENERATE_SCRIPT), "--curriculum", str(project.curriculum),
        "--work-dir", str(project.work), "--output-dir", str(project.out),
    ]
    code, out, err = run_on_terminal(command, project.server.env(), project.root, b"\x04")

    assert code == 1, err
    assert "Traceback" not in err
    assert "[y/N]" in err and "[y/N]" not in out
    assert "Estimated cost" in out
    assert project.server.created_batches() == []


def test_answering_no_at_the_submit_prompt_is_not_reported_as_an_error(project):
    command = [
        sys.executable, str(REPO_ROOT / GENERATE_SCRIPT), "--curriculum", str(project.curriculum),
        "--work-dir", str(project.work), "--output-dir", str(project.out),
    ]
    code, out, err = run_on_terminal(command, project.server.env(), project.root, b"n\n")

    assert code == 1, err
    assert "error:" not in err and "Traceback" not in err
    assert "Not submitted: you answered no. Nothing was uploaded and nothing is charged" in out
    assert project.server.created_batches() == []


def test_under_json_the_submit_prompt_is_still_asked_on_stderr_and_a_no_gives_the_declined_plan(project):
    command = [
        sys.executable, str(REPO_ROOT / GENERATE_SCRIPT), "--curriculum", str(project.curriculum),
        "--work-dir", str(project.work), "--output-dir", str(project.out), "--json",
    ]
    code, out, err = run_on_terminal(command, project.server.env(), project.root, b"n\n")

    assert code == 1, err
    assert "[y/N]" in err and "Estimated cost" in err
    document = json.loads(out)  # stdout holds the envelope alone
    assert (document["exit_code"], document["result"]["declined"]) == (1, True)
    assert document["result"]["plan"]["to_request"] == LESSONS
    assert project.server.created_batches() == []


def test_end_of_input_at_the_cancel_prompt_cancels_nothing(project):
    ok(project.generate("--yes"))
    command = [sys.executable, str(REPO_ROOT / STATUS_SCRIPT), "--work-dir", str(project.work), "--cancel"]
    code, _out, err = run_on_terminal(command, project.server.env(), project.root, b"\x04")

    assert code == 1, err
    assert "Traceback" not in err
    assert "[y/N]" in err
    assert not [entry for entry in project.server.requests if entry.path.endswith("/cancel")]


# ---------------------------------------------------------------- 5. --limit


def test_running_with_the_same_limit_again_continues_the_same_lessons(project):
    ok(project.generate("--yes", "--limit", "2"))
    again = ok(project.generate("--yes", "--limit", "2"))

    assert "in a batch not yet processed (skipped): 2" in again
    assert "Nothing to submit." in again
    assert submitted_lessons(project.server) == ["M0-L001", "M0-L002"]


def test_once_the_limited_lessons_are_saved_the_same_limit_takes_the_next_ones(project):
    ok(project.generate("--yes", "--limit", "2"))
    ok(project.watch())
    ok(project.process())
    ok(project.generate("--yes", "--limit", "2"))
    assert submitted_lessons(project.server) == LESSONS


# ---------------------------------------------------------------- 6. honest exits


def test_status_with_a_rejected_key_exits_1_and_labels_the_ledgers_view(project):
    ok(project.generate("--yes"))
    project.server.set_scenario({"valid_api_keys": ["sk-another-key"]})

    result = project.status()
    stderr = failed(result)

    assert "the API rejected the key (401)" in stderr
    assert "Nothing was submitted" not in stderr + result.stdout
    assert "the ledger's view as of" in result.stdout
    payload = json.loads(project.status("--json").stdout)["result"]
    assert "401" in payload["error"]
    assert payload["batches"][0]["stale"] is True


def test_processing_with_a_rejected_key_exits_1_with_the_error_on_stderr(project):
    ok(project.generate("--yes"))
    project.server.set_scenario({"valid_api_keys": ["sk-another-key"]})

    result = project.process()

    assert "the API rejected the key (401)" in failed(result)
    assert "401" not in result.stdout
    assert "No finished batch is waiting" not in result.stdout


def test_status_against_an_unreachable_server_says_it_is_retrying_then_exits_1(project, no_retry_waits):
    ok(project.generate("--yes"))
    project.server.stop()

    result = project.status()

    assert result.returncode == 1
    assert "retrying" in result.stderr
    assert result.stderr.index("retrying") < result.stderr.index("error: ")
    assert "cannot reach" in result.stderr
    assert "the ledger's view as of" in result.stdout


def test_processing_against_an_unreachable_server_exits_1(project, no_retry_waits):
    ok(project.generate("--yes"))
    project.server.stop()

    result = project.process("--json")

    assert result.returncode == 1
    assert "retrying" in result.stderr and "cannot reach" in result.stderr
    assert "cannot reach" in json.loads(result.stdout)["result"]["error"]


# ---------------------------------------------------------------- 7. near-headers


@pytest.mark.parametrize(
    "line, suggestion",
    [
        ("## Lesson 4 Data Owners", "## L004: Data Owners"),
        ("### L004: Data Owners", "## L004: Data Owners"),
        ("## l004: Data Owners", "## L004: Data Owners"),
        ("## M1: Operations", "# M1: Operations"),
    ],
)
def test_a_line_that_is_almost_a_header_is_an_error_with_its_file_and_line(tmp_path, line, suggestion):
    curriculum = tmp_path / "course.md"
    curriculum.write_text(CURRICULUM + "\n" + line + "\nKey topics: stewardship.\n", encoding="utf-8")

    result = run_script(
        GENERATE_SCRIPT, "--dry-run", "--curriculum", curriculum, "--work-dir", tmp_path / "w", env={}, cwd=tmp_path
    )

    stderr = failed(result)
    assert f"course.md:{CURRICULUM.count(chr(10)) + 2}: '{line}' looks like a" in stderr
    assert suggestion in stderr


# ---------------------------------------------------------------- 8. broken pipes


def run_into_closed_pipe(command: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    """Run with stdout a pipe whose reader has already gone (what `... | head -1` becomes)."""
    _python, script, *args = command
    read_end, write_end = os.pipe()
    os.close(read_end)
    with tempfile.TemporaryFile() as err:
        try:
            process = start_python(script, *args, stdout=write_end, stderr=err, cwd=cwd, env=script_env(env))
        finally:
            os.close(write_end)
        process.wait(timeout=60)
        err.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, None, err.read().decode())


def test_a_dry_run_piped_into_a_closed_reader_ends_quietly(tmp_path):
    command = [sys.executable, str(REPO_ROOT / GENERATE_SCRIPT), "--dry-run", "--work-dir", str(tmp_path / "w")]
    result = run_into_closed_pipe(command, {}, tmp_path)
    assert result.stderr == ""
    assert result.returncode == 1


def test_status_lessons_piped_into_a_closed_reader_ends_quietly(project):
    ok(project.generate("--yes"))
    command = [sys.executable, str(REPO_ROOT / STATUS_SCRIPT), "--work-dir", str(project.work), "--lessons"]
    result = run_into_closed_pipe(command, project.server.env(), project.root)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


@pytest.mark.parametrize("unbuffered", [None, "1"], ids=["buffered", "unbuffered"])
def test_a_submit_piped_into_a_closed_reader_ends_quietly_with_the_ledger_consistent(project, unbuffered):
    """Buffered, the submission completes and the pipe breaks at the end; unbuffered, it breaks at
    the plan's first line, before anything is paid. Either way the next run pays for nothing twice."""
    command = [
        sys.executable, str(REPO_ROOT / GENERATE_SCRIPT), "--curriculum", str(project.curriculum),
        "--work-dir", str(project.work), "--output-dir", str(project.out), "--yes",
    ]
    env = {**project.server.env(), "PYTHONUNBUFFERED": unbuffered}
    result = run_into_closed_pipe(command, env, project.root)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    ok(project.generate("--yes"))
    assert submitted_lessons(project.server) == LESSONS
    assert project.states() == {lesson: "submitted" for lesson in LESSONS}


# ---------------------------------------------------------------- 9. true next steps


def next_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("next:")]


def test_a_token_limited_batch_points_to_max_enqueued_tokens_then_is_done_once_its_lessons_are_saved(project):
    project.server.set_scenario({"batches": [{"outcome": "token_limit", "enqueued_token_limit": 1500}]})
    ok(project.generate("--yes"))
    first = project.status()

    assert "--max-enqueued-tokens 1500" in next_lines(first.stdout)[0]

    project.server.set_scenario({})
    ok(project.generate("--yes", "--wait", "--interval", INTERVAL))
    after = project.status()
    ok(after)
    assert next_lines(after.stdout)[0] == (
        "next: Nothing to do for this batch: its lessons were submitted again or are saved."
    )


def test_a_processed_expired_batch_points_to_the_generate_script_for_the_rest(project):
    project.server.set_scenario({"batches": [{"outcome": "expire", "done_fraction": 0.34}]})
    ok(project.generate("--yes"))
    project.watch()
    failed(project.process())

    result = project.status()

    steps = next_lines(result.stdout)
    assert "Nothing to do" not in steps[0]
    expired = sorted(lesson for lesson, state in project.states().items() if state != "succeeded")
    assert len(expired) == 2
    assert (f"Run {as_typed(GENERATE_SCRIPT)} --work-dir work --lessons {','.join(expired)} to request its 2 lessons"
            in steps[0])
    assert result.returncode == 1


def test_failed_and_truncated_lessons_point_to_the_generate_script(project):
    project.server.set_scenario({"faults": {"fail_500": ["M0-L001"], "truncate": ["M0-L002"]}})
    ok(project.generate("--yes"))
    project.watch()
    failed(project.process())

    steps = next_lines(project.status().stdout)

    assert steps[-1] == (
        f"next: Run {as_typed(GENERATE_SCRIPT)} --work-dir work --lessons M0-L001,M0-L002 to request the 2 lessons "
        "not saved yet (1 failed, 1 truncated)."
    )


def test_a_validation_error_names_the_kept_input_file_which_a_dry_run_does_not_overwrite(project):
    invalid_line_2 = {"outcome": "fail_validation", "error": {"code": "invalid_json_line", "line": 2}}
    project.server.set_scenario({"batches": [invalid_line_2]})
    ok(project.generate("--yes"))
    batch_id = project.server.created_batches()[0]["id"]
    kept = project.work / "submitted" / f"{batch_id}.jsonl"
    before = kept.read_bytes()

    shown = project.status().stdout
    ok(project.generate("--dry-run", "--limit", "1"))

    assert f"input file: work/submitted/{batch_id}.jsonl".replace("/", os.sep) in shown
    assert "error: line 2: invalid_json_line" in shown
    assert kept.read_bytes() == before
    assert len(before.splitlines()) == 3


# ---------------------------------------------------------------- 10. --watch and --wait in a log


def test_watch_off_a_terminal_logs_a_line_per_change(project):
    ok(project.generate("--yes"))
    out = ok(project.watch())
    logged = [line for line in out.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  1 batch: ", line)]
    assert any("in_progress" in line for line in logged)
    assert any("completed" in line for line in logged)
    assert len(logged) == len(set(line[21:] for line in logged))  # one line per change, never repeated


def test_wait_off_a_terminal_logs_a_line_per_change(project):
    result = project.generate("--yes", "--wait", "--interval", INTERVAL)
    ok(result)
    assert re.search(r"\d\d:\d\d:\d\d  1 batch: 1 in_progress; requests", result.stderr), result.stderr


# ---------------------------------------------------------------- 11. smaller things


def test_looking_at_a_batch_id_in_a_fresh_folder_creates_no_ledger(project, tmp_path):
    ok(project.generate("--yes"))
    batch_id = project.server.created_batches()[0]["id"]
    fresh = tmp_path / "fresh"
    for extra in ((), ("--cancel", "--yes")):
        result = project.run(STATUS_SCRIPT, "--work-dir", fresh, batch_id, *extra)
        assert "Traceback" not in result.stderr, result.stderr
        assert not fresh.exists()


def test_the_max_cost_message_shows_the_amount_as_given(project):
    stderr = failed(project.generate("--yes", "--max-cost", "0.001"))
    assert "above --max-cost $0.001;" in stderr


def test_counts_of_one_are_singular(tmp_path):
    curriculum = tmp_path / "one.md"
    curriculum.write_text("# M0: Only\n\n## L001: Single [F]\n", encoding="utf-8")
    out = ok(run_script(
        GENERATE_SCRIPT, "--dry-run", "--curriculum", curriculum, "--work-dir", tmp_path / "w", env={}, cwd=tmp_path
    ))
    assert "1 module, 1 lesson" in out
    assert "Selected: 1 lesson\n" in out
    assert ": 1 request," in out


def test_a_bad_lesson_id_is_echoed_as_typed(tmp_path):
    result = run_script(
        GENERATE_SCRIPT, "--dry-run", "--lessons", "bogus", "--work-dir", tmp_path / "w", env={}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "'bogus' is not one" in result.stderr


def test_status_without_a_key_does_not_suggest_a_dry_run_it_does_not_have(project):
    ok(project.generate("--yes"))
    result = project.status(env={"OPENAI_API_KEY": None})
    assert "No OpenAI API key found" in failed(result)
    assert "--dry-run" not in result.stderr


def test_the_upload_message_shows_the_path_as_typed(project):
    out = ok(project.generate("--yes"))
    uploading = next(line for line in out.splitlines() if line.startswith("Uploading "))
    assert uploading.startswith(f"Uploading {os.path.join('work', 'submitted', '')}")


def test_after_a_results_file_the_batch_counts_as_processed_and_invalid_lessons_fail_the_run(project):
    project.server.set_scenario({"faults": {"truncate": ["M0-L002"]}})
    ok(project.generate("--yes"))
    ok(project.watch())
    batch = project.server.created_batches()[0]
    results = project.root / "downloaded.jsonl"
    results.write_bytes(project.server.file_content(batch["output_file_id"]))

    failed(project.process("--results-file", results))
    shown = project.status().stdout
    again = project.process()

    assert "Run python process_batch_results.py" not in shown
    assert "M0-L002" in failed(again) + again.stdout
    assert project.states()["M0-L002"] == "truncated"


def test_the_docs_say_what_the_tool_does():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    work_readme = (REPO_ROOT / "batch_api" / "README.md").read_text(encoding="utf-8")
    assert "survives Ctrl-C" not in readme
    assert "ledger.sqlite3.lock" in work_readme
    assert "submitted/" in work_readme


def test_the_local_server_on_a_taken_port_says_so_plainly():
    with FakeOpenAIServer() as taken:
        result = subprocess.run(
            [sys.executable, "-m", "tests.fake_openai", "--port", str(taken.port)],
            cwd=REPO_ROOT, env=script_env(), capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{taken.port}" in result.stderr
