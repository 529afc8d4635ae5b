"""End to end: submitting lessons as batches, and following those batches (issue 4).

Every test runs the real scripts as subprocesses against the local fake Batch API server, with
a small curriculum, output folder and work dir in ``tmp_path``. What the scripts did is read
back from three places: their output and exit code, the fake server's request log and state,
and the run ledger in the work dir.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger

REPO_ROOT = Path(__file__).resolve().parent.parent
NETGUARD_DIR = REPO_ROOT / "tests" / "netguard"
KILLED = -signal.SIGKILL if hasattr(signal, "SIGKILL") else 137

CURRICULUM = """\
# Tiny Governance Course

# M0: Basics — Lesson Map

A small module for the tests.

## L001: What Data Governance Is [F]
Key topics: decision rights; accountability.

## L002: Why Organisations Govern Data [F]
Key topics: risk; value; trust.

## L003: Roles and Responsibilities [I]
Key topics: owner; steward; custodian.
Related: M0-L001

## L004: Measuring Governance [A]
Key topics: metrics; maturity models.
"""
ALL_LESSONS = ["M0-L001", "M0-L002", "M0-L003", "M0-L004"]


def _run_script(name, *args, env=None, cwd=None, input="", timeout=120):
    """Run a top-level script with this interpreter, the network blocked except loopback.

    stdin is a pipe (``input``), never the terminal pytest was started from."""
    full_env = {name: value for name, value in os.environ.items() if name != "LESSON_BATCH_CRASH_AT"}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(NETGUARD_DIR)
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / name), *map(str, args)],
        env=full_env,
        cwd=str(cwd) if cwd is not None else None,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Project:
    """A curriculum, output dir and work dir in tmp_path, and the scripts run against the fake server."""

    def __init__(self, tmp_path: Path, server, lessons: list[str] = ALL_LESSONS[:3]):
        self.root = tmp_path
        self.server = server
        self.curriculum = tmp_path / "Content Structure.md"
        self.curriculum.write_text(CURRICULUM, encoding="utf-8")
        self.output_dir = tmp_path / "lessons"
        self.work_dir = tmp_path / "work"
        self.lessons = list(lessons)

    def generate(self, *args, api_key=None, crash_at=None, input=""):
        env = self.server.env() if api_key is None else self.server.env(api_key=api_key)
        if crash_at:
            env["LESSON_BATCH_CRASH_AT"] = crash_at
        return _run_script(
            "generate_datagov_lessons_batch.py",
            "--curriculum", self.curriculum,
            "--output-dir", self.output_dir,
            "--work-dir", self.work_dir,
            "--lessons", ",".join(self.lessons),
            *args,
            env=env, cwd=self.root, input=input,
        )

    def status(self, *args, api_key=None):
        env = self.server.env() if api_key is None else self.server.env(api_key=api_key)
        return _run_script("check_batch_status.py", "--work-dir", self.work_dir, *args, env=env, cwd=self.root)

    def status_json(self, *args) -> dict:
        result = self.status("--json", *args)
        assert result.stdout.strip(), result.stderr
        return json.loads(result.stdout)

    def ledger(self) -> Ledger:
        return Ledger.open(self.work_dir)


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def requests_to(server, method: str, path: str, status: int | None = None):
    return [
        entry for entry in server.requests
        if entry.method == method and entry.path == path and (status is None or entry.status == status)
    ]


def batch_lessons(server, batch: dict) -> list[str]:
    """The lesson ids (custom_ids) in a batch's input file."""
    return [line["custom_id"] for line in server.file_lines(batch["input_file_id"])]


def lessons_in_all_batches(server) -> list[str]:
    return sorted(lesson for batch in server.created_batches() for lesson in batch_lessons(server, batch))


@pytest.fixture
def project(tmp_path, fake_openai):
    return Project(tmp_path, fake_openai)


# ---------------------------------------------------------------- submit, status, watch


def test_generate_creates_one_24h_chat_completions_batch_named_after_its_run_and_shard(project, fake_openai):
    ok(project.generate("--yes"))

    batches = fake_openai.created_batches()
    assert len(batches) == 1
    batch = batches[0]
    assert batch["completion_window"] == "24h"
    assert batch["endpoint"] == "/v1/chat/completions"
    assert sorted(batch_lessons(fake_openai, batch)) == project.lessons
    with project.ledger() as ledger:
        [shard] = ledger.shards()
    assert batch["metadata"]["lesson_batch_shard"] == shard.shard_key
    assert batch["metadata"]["lesson_batch_run"] == shard.run_id
    assert shard.batch_id == batch["id"]


def test_generate_uploads_the_requests_with_purpose_batch(project, fake_openai):
    ok(project.generate("--yes"))

    [upload] = requests_to(fake_openai, "POST", "/v1/files", status=200)
    assert upload.upload["purpose"] == "batch"
    [batch] = fake_openai.created_batches()
    assert fake_openai.files[batch["input_file_id"]].purpose == "batch"


def test_status_json_lists_the_submitted_batch_from_the_ledger(project, fake_openai):
    ok(project.generate("--yes"))
    [batch] = fake_openai.created_batches()

    report = project.status_json()

    assert [entry["id"] for entry in report["batches"]] == [batch["id"]]
    assert report["lessons"]["submitted"] == len(project.lessons)


def test_status_says_what_the_status_means_and_what_to_do_next(project, fake_openai):
    ok(project.generate("--yes"))
    [batch] = fake_openai.created_batches()

    out = ok(project.status())  # the first poll moves the fake batch from validating to in_progress

    status_line = next(line for line in out.splitlines() if line.startswith(f"Batch {batch['id']}:"))
    assert "in_progress" in status_line
    assert "running" in status_line  # the status in plain words
    assert re.search(r"^\s+requests: \d+ completed, \d+ failed, 3 total$", out, re.MULTILINE)
    assert re.search(r"^\s+next: \S.*$", out, re.MULTILINE)  # the next step to take


def test_watch_polls_until_every_batch_completed_then_exits_0_with_a_summary(project, fake_openai):
    ok(project.generate("--yes"))

    result = project.status("--watch", "--interval", "0.05")

    out = ok(result)
    assert [batch["status"] for batch in fake_openai.created_batches()] == ["completed"]
    assert "Summary: 1 completed" in out
    assert "completed" in next(line for line in out.splitlines() if line.startswith("Batch "))
    assert [entry["status"] for entry in project.status_json()["batches"]] == ["completed"]


def test_rerunning_generate_while_the_batch_is_unprocessed_submits_nothing(project, fake_openai):
    ok(project.generate("--yes"))
    ok(project.status())  # the batch is running

    second = ok(project.generate("--yes"))

    assert len(requests_to(fake_openai, "POST", "/v1/files")) == 1
    assert len(requests_to(fake_openai, "POST", "/v1/batches")) == 1
    assert "Nothing to submit" in second


# ---------------------------------------------------------------- crashes during submission


def test_crash_after_upload_then_rerun_creates_one_batch_and_leaves_no_orphaned_upload(project, fake_openai):
    crashed = project.generate("--yes", crash_at="after_upload")
    assert crashed.returncode == KILLED, crashed.stderr
    [orphan_id] = list(fake_openai.files)
    assert fake_openai.created_batches() == []

    ok(project.generate("--yes"))

    [batch] = fake_openai.created_batches()
    assert orphan_id not in fake_openai.files or orphan_id == batch["input_file_id"]
    batch_inputs = [file_id for file_id, stored in fake_openai.files.items() if stored.purpose == "batch"]
    assert batch_inputs == [batch["input_file_id"]]  # no upload left behind
    assert lessons_in_all_batches(fake_openai) == project.lessons  # every lesson in exactly one batch


def test_crash_after_upload_then_rerun_records_every_lesson_as_submitted_once(project, fake_openai):
    assert project.generate("--yes", crash_at="after_upload").returncode == KILLED

    ok(project.generate("--yes"))

    [batch] = fake_openai.created_batches()
    with project.ledger() as ledger:
        lessons = ledger.lessons()
    assert sorted(lessons) == project.lessons
    assert {(record.state, record.batch_id, record.attempts) for record in lessons.values()} == {
        ("submitted", batch["id"], 1)
    }


def test_crash_after_batch_create_then_rerun_adopts_the_existing_batch(project, fake_openai):
    crashed = project.generate("--yes", crash_at="after_create")
    assert crashed.returncode == KILLED, crashed.stderr
    [batch] = fake_openai.created_batches()
    with project.ledger() as ledger:
        assert ledger.batches() == []  # the crash came before the batch was recorded

    rerun = ok(project.generate("--yes"))

    assert [b["id"] for b in fake_openai.created_batches()] == [batch["id"]]  # no second batch
    assert len(requests_to(fake_openai, "POST", "/v1/batches")) == 1
    assert batch["id"] in rerun and "adopted" in rerun
    assert [entry["id"] for entry in project.status_json()["batches"]] == [batch["id"]]
    with project.ledger() as ledger:
        lessons = ledger.lessons()
    assert sorted(lessons) == project.lessons
    assert {(record.state, record.batch_id, record.attempts) for record in lessons.values()} == {
        ("submitted", batch["id"], 1)
    }


def test_crash_right_after_recording_the_shard_then_rerun_submits_exactly_once(project, fake_openai):
    crashed = project.generate("--yes", crash_at="shard_recorded")
    assert crashed.returncode == KILLED, crashed.stderr
    assert requests_to(fake_openai, "POST", "/v1/files") == []

    ok(project.generate("--yes"))

    assert len(requests_to(fake_openai, "POST", "/v1/files")) == 1
    assert len(fake_openai.created_batches()) == 1
    assert lessons_in_all_batches(fake_openai) == project.lessons
    with project.ledger() as ledger:
        assert {record.state for record in ledger.lessons().values()} == {"submitted"}


# ---------------------------------------------------------------- batches that fail


def test_validation_failed_batch_is_reported_with_line_and_code_and_exits_1(project, fake_openai):
    fake_openai.set_scenario({"batches": [{"outcome": "fail_validation", "error": {"code": "invalid_json_line", "line": 3}}]})
    ok(project.generate("--yes"))

    result = project.status()

    assert result.returncode == 1, result.stderr
    assert "failed" in next(line for line in result.stdout.splitlines() if line.startswith("Batch "))
    assert re.search(r"error: line 3: invalid_json_line", result.stdout)


def test_lessons_of_a_validation_failed_batch_are_pending_and_the_next_run_resubmits_them(project, fake_openai):
    fake_openai.set_scenario({"batches": [{"outcome": "fail_validation", "error": {"code": "invalid_json_line", "line": 3}}]})
    ok(project.generate("--yes"))
    assert project.status().returncode == 1

    assert project.status_json()["lessons"]["pending"] == len(project.lessons)
    ok(project.generate("--yes"))

    first, second = fake_openai.created_batches()
    assert sorted(batch_lessons(fake_openai, second)) == project.lessons
    with project.ledger() as ledger:
        assert {record.batch_id for record in ledger.lessons().values()} == {second["id"]}


def test_token_limit_exceeded_batch_is_reported_and_exits_1(project, fake_openai):
    fake_openai.set_scenario({"batches": ["token_limit"]})
    ok(project.generate("--yes"))

    result = project.status()

    assert result.returncode == 1, result.stderr
    assert "failed" in next(line for line in result.stdout.splitlines() if line.startswith("Batch "))
    assert "token_limit_exceeded" in result.stdout


def test_lessons_of_a_token_limit_batch_are_pending_and_the_next_run_resubmits_them(project, fake_openai):
    fake_openai.set_scenario({"batches": ["token_limit"]})
    ok(project.generate("--yes"))
    assert project.status().returncode == 1

    report = project.status_json("--lessons")
    assert report["lessons"]["pending"] == len(project.lessons)
    assert all("token_limit_exceeded" in lesson["reason"] for lesson in report["unsaved_lessons"])
    ok(project.generate("--yes"))

    first, second = fake_openai.created_batches()
    assert sorted(batch_lessons(fake_openai, second)) == project.lessons


# ---------------------------------------------------------------- rolling submission under a token cap


def _two_shard_cap(project) -> int:
    """An enqueued-token cap that splits the project's lessons into exactly two shards."""
    for cap in (2000, 1600, 1800, 2200, 2400):
        plan = ok(project.generate("--dry-run", "--max-enqueued-tokens", cap))
        if "Input files: 2" in plan:
            return cap
    pytest.fail("no cap among the candidates splits the test curriculum into two shards")


def test_token_cap_submits_only_the_first_shard_while_it_is_in_progress(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS)
    cap = _two_shard_cap(project)

    first = ok(project.generate("--yes", "--max-enqueued-tokens", cap))
    ok(project.status())  # the first batch is now in_progress
    again = ok(project.generate("--yes", "--max-enqueued-tokens", cap))

    [batch] = fake_openai.created_batches()
    assert 0 < len(batch_lessons(fake_openai, batch)) < len(ALL_LESSONS)
    assert "wait for room under the enqueued-token cap" in first
    assert "wait for room under the enqueued-token cap" in again
    with project.ledger() as ledger:
        waiting = sorted(lesson for lesson, record in ledger.lessons().items() if record.state == "pending")
    assert waiting == sorted(set(ALL_LESSONS) - set(batch_lessons(fake_openai, batch)))


def test_token_cap_rerun_after_the_first_batch_finishes_submits_the_rest(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS)
    cap = _two_shard_cap(project)
    ok(project.generate("--yes", "--max-enqueued-tokens", cap))
    ok(project.status("--watch", "--interval", "0.05"))

    ok(project.generate("--yes", "--max-enqueued-tokens", cap))

    first, second = fake_openai.created_batches()
    assert lessons_in_all_batches(fake_openai) == ALL_LESSONS  # each lesson in exactly one batch
    assert set(batch_lessons(fake_openai, first)).isdisjoint(batch_lessons(fake_openai, second))


def test_token_cap_with_wait_submits_every_shard_in_turn_in_one_command(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS)
    cap = _two_shard_cap(project)

    out = ok(project.generate("--yes", "--wait", "--interval", "0.05", "--max-enqueued-tokens", cap))

    batches = fake_openai.created_batches()
    assert len(batches) == 2
    assert [batch["status"] for batch in batches] == ["completed", "completed"]
    assert lessons_in_all_batches(fake_openai) == ALL_LESSONS
    # the second batch was created only once the first had finished
    assert batches[1]["created_at"] >= batches[0]["completed_at"]
    assert "All requested lessons are saved." in out
    assert sorted(path.stem for path in project.output_dir.glob("*.md")) == ALL_LESSONS


# ---------------------------------------------------------------- cancel, expire


def test_cancel_stops_a_running_batch_and_status_shows_cancelling_then_cancelled(project, fake_openai):
    fake_openai.set_scenario({"batches": ["stuck"]})
    ok(project.generate("--yes"))
    [batch] = fake_openai.created_batches()
    ok(project.status())
    assert fake_openai.batches[batch["id"]]["status"] == "in_progress"

    cancel = ok(project.status("--cancel", "--yes"))

    assert f"Batch {batch['id']}: cancelling" in cancel
    assert requests_to(fake_openai, "POST", f"/v1/batches/{batch['id']}/cancel", status=200)
    assert [entry["status"] for entry in project.status_json()["batches"]] == ["cancelled"]
    assert fake_openai.batches[batch["id"]]["status"] == "cancelled"


def test_watch_on_a_batch_that_expires_exits_1(project, fake_openai):
    fake_openai.set_scenario({"batches": ["expire"]})
    ok(project.generate("--yes"))

    result = project.status("--watch", "--interval", "0.05")

    assert result.returncode == 1, result.stderr
    assert "Summary: 1 expired" in result.stdout
    assert [batch["status"] for batch in fake_openai.created_batches()] == ["expired"]


# ---------------------------------------------------------------- transient faults, bad key, budget


def test_submission_survives_upload_503s_and_a_create_429_with_one_batch(project, fake_openai):
    fake_openai.set_scenario({"faults": {"upload_503": 2, "create_429": 1}})

    ok(project.generate("--yes"))

    assert [entry.status for entry in requests_to(fake_openai, "POST", "/v1/files")] == [503, 503, 200]
    assert [entry.status for entry in requests_to(fake_openai, "POST", "/v1/batches")] == [429, 200]
    assert len(fake_openai.created_batches()) == 1
    assert len([f for f in fake_openai.files.values() if f.purpose == "batch"]) == 1
    with project.ledger() as ledger:
        assert {record.state for record in ledger.lessons().values()} == {"submitted"}


def test_rejected_api_key_gives_a_clear_message_and_exit_1(project, fake_openai):
    fake_openai.set_scenario({"valid_api_keys": ["sk-good"]})
    wrong_key = "sk-wrong-key-0123456789abcdef"

    result = project.generate("--yes", api_key=wrong_key)

    assert result.returncode == 1
    assert "rejected the key" in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong_key not in result.stdout + result.stderr  # the key itself is never printed


def test_rejected_api_key_records_and_uploads_nothing(project, fake_openai):
    fake_openai.set_scenario({"valid_api_keys": ["sk-good"]})

    assert project.generate("--yes", api_key="sk-wrong-key-0123456789abcdef").returncode == 1

    assert requests_to(fake_openai, "POST", "/v1/files") == []
    assert fake_openai.created_batches() == []
    with project.ledger() as ledger:
        assert ledger.shards() == []
        assert ledger.batches() == []
    assert project.status_json()["batches"] == []


def test_max_cost_below_the_estimate_refuses_and_uploads_nothing(project, fake_openai):
    result = project.generate("--yes", "--max-cost", "0.0001")

    assert result.returncode == 1
    assert "--max-cost" in result.stderr
    assert "Traceback" not in result.stderr
    assert requests_to(fake_openai, "POST", "/v1/files") == []
    assert fake_openai.created_batches() == []
    with project.ledger() as ledger:
        assert ledger.shards() == []


def test_generate_without_yes_and_stdin_not_a_terminal_proceeds_instead_of_hanging(project, fake_openai):
    result = project.generate(input="")  # stdin is an empty pipe; no --yes

    ok(result)
    assert len(fake_openai.created_batches()) == 1


# ---------------------------------------------------------------- --json


def test_status_json_of_a_completed_batch_has_status_counts_and_file_ids(project, fake_openai):
    ok(project.generate("--yes"))
    ok(project.status("--watch", "--interval", "0.05"))
    [batch] = fake_openai.created_batches()

    result = project.status("--json")

    [entry] = json.loads(result.stdout)["batches"]
    assert entry["id"] == batch["id"]
    assert entry["status"] == "completed"
    assert entry["request_counts"] == {"completed": 3, "failed": 0, "total": 3}
    assert entry["errors"] == []
    assert entry["output_file_id"] == batch["output_file_id"] is not None
    assert entry["error_file_id"] is None


def test_status_json_of_a_failed_batch_lists_its_errors(project, fake_openai):
    fake_openai.set_scenario({"batches": [{"outcome": "fail_validation", "error": {"code": "invalid_json_line", "line": 3}}]})
    ok(project.generate("--yes"))

    result = project.status("--json")

    assert result.returncode == 1
    [entry] = json.loads(result.stdout)["batches"]
    assert entry["status"] == "failed"
    assert [(error["code"], error["line"]) for error in entry["errors"]] == [("invalid_json_line", 3)]
    assert entry["output_file_id"] is None
