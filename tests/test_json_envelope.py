"""Every script's ``--json`` prints one versioned envelope on stdout, with the same keys:
``version``, ``command``, ``exit_code``, ``result`` (the job's result) and ``messages`` (the
notes, warnings and errors the run wrote on stderr, each with its level). docs/json.md shows one
of each."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import GENERATE_SCRIPT, PROCESS_SCRIPT, STATUS_SCRIPT, ScriptDriver, run_script, write_curriculum

KEYS = {"version", "command", "exit_code", "result", "messages"}
LESSONS = ["M0-L001", "M0-L002", "M0-L003"]


class Project(ScriptDriver):
    def __init__(self, root: Path, server=None):
        super().__init__(root, server)
        write_curriculum(self.curriculum, ["What Data Governance Is", "Why It Matters", "Who Owns Data"])


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    return Project(tmp_path, fake_openai)


def envelope(result: subprocess.CompletedProcess) -> dict:
    """The run's stdout, which must be one JSON document and nothing else."""
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode
    return document


def test_generate_prints_the_envelope_with_its_version(tmp_path):
    project = Project(tmp_path)

    document = envelope(project.generate("--dry-run", "--json"))

    assert set(document) == KEYS
    assert (document["version"], document["command"], document["exit_code"]) == (1, "generate_datagov_lessons_batch", 0)


def test_the_dry_run_result_lists_the_lessons_the_plan_requests(tmp_path):
    project = Project(tmp_path)
    project.out.mkdir()
    (project.out / "M0-L001.md").write_text("# Already written\n", encoding="utf-8")

    result = envelope(project.generate("--dry-run", "--json", "--limit", "1"))["result"]

    plan = result["plan"]
    assert (plan["selected"], plan["to_request"]) == (3, ["M0-L002"])
    assert (plan["skipped"]["already_generated"], plan["skipped"]["left_for_a_later_run"]) == (["M0-L001"], 1)
    [input_file] = plan["files"]
    requested = [json.loads(line)["custom_id"] for line in Path(input_file["path"]).read_text().splitlines()]
    assert requested == plan["to_request"]
    assert (result["dry_run"], result["submitted"]) == (True, None)


def test_under_json_the_plan_text_goes_to_stderr(tmp_path):
    project = Project(tmp_path)

    text = project.generate("--dry-run")
    as_json = project.generate("--dry-run", "--json")

    assert "Selected: 3 lessons" in text.stdout
    assert text.stdout.strip() in as_json.stderr  # the same words, moved out of the way of the document


def test_the_dry_run_warnings_are_messages_with_their_level(tmp_path):
    project = Project(tmp_path)

    document = envelope(project.generate("--dry-run", "--json", "--max-cost", "0.000001"))

    [warning] = [message for message in document["messages"] if message["level"] == "warning"]
    assert warning["text"].startswith("the estimated cost")
    assert "warning: the estimated cost" in project.generate("--dry-run", "--max-cost", "0.000001").stderr


def test_an_error_that_ends_the_run_still_prints_the_envelope(tmp_path):
    project = Project(tmp_path)

    run = project.generate("--dry-run", "--json", "--lessons", "M7-L001")

    document = envelope(run)
    assert (run.returncode, document["result"]) == (2, None)
    [error] = document["messages"]
    assert error["level"] == "error" and "M7-L001" in error["text"]


def test_a_submitting_run_gives_the_plan_and_the_batches_it_submitted(project):
    document = envelope(project.generate("--yes", "--json"))

    result = document["result"]
    assert result["plan"]["to_request"] == LESSONS
    assert [batch["batch_id"] for batch in result["submitted"]["batches"]] == list(project.server.batches)
    assert (result["dry_run"], result["declined"], result["flex"]) == (False, False, None)


def test_a_waiting_run_gives_what_it_processed_and_left(project):
    result = envelope(project.generate("--yes", "--json", "--wait", "--interval", "0.01"))["result"]

    [processed] = result["wait"]["processed"]
    assert processed["saved"] == 3
    assert result["wait"]["unsaved_lessons"] == []


def test_a_flex_run_gives_its_report(project):
    result = envelope(project.generate("--yes", "--json", "--via", "flex"))["result"]

    assert result["flex"]["saved"] == 3
    assert result["flex"]["results"]["saved"] == 3
    assert result["submitted"]["batches"] == []


def test_status_prints_the_envelope_with_its_version(project):
    assert project.generate("--yes").returncode == 0

    document = envelope(project.status("--json"))

    assert set(document) == KEYS
    assert (document["version"], document["command"]) == (1, "check_batch_status")
    assert [batch["id"] for batch in document["result"]["batches"]] == list(project.server.batches)


def test_status_without_a_ledger_prints_the_envelope_too(tmp_path):
    document = envelope(run_script(STATUS_SCRIPT, "--json", "--work-dir", tmp_path / "none", cwd=tmp_path))

    assert set(document) == KEYS
    assert document["result"] == {"batches": [], "flex_runs": [], "lessons": {}}


def test_a_cancel_gives_the_batches_and_their_status(project):
    project.server.set_scenario({"batches": ["stuck"]})
    assert project.generate("--yes").returncode == 0
    [batch_id] = list(project.server.batches)

    document = envelope(project.status("--cancel", "--yes", "--json"))

    assert document["result"]["cancel"]["batches"] == [batch_id]
    assert document["result"]["cancel"]["statuses"][batch_id] in ("cancelling", "cancelled")


def test_process_prints_the_envelope_with_its_version(project):
    assert project.generate("--yes").returncode == 0
    assert project.watch().returncode == 0

    document = envelope(project.process("--json"))

    assert set(document) == KEYS
    assert (document["version"], document["command"], document["exit_code"]) == (1, "process_batch_results", 0)
    assert document["result"]["total"]["saved"] == 3


def test_process_without_a_ledger_prints_the_envelope_too(tmp_path):
    document = envelope(run_script(PROCESS_SCRIPT, "--json", "--work-dir", tmp_path / "none", cwd=tmp_path))

    assert set(document) == KEYS
    assert document["result"] == {"batches": [], "total": None, "not_ready": []}


def test_without_json_no_envelope_is_printed(tmp_path):
    result = run_script(GENERATE_SCRIPT, "--dry-run", "--work-dir", tmp_path / "work", "--output-dir", tmp_path / "out",
                        cwd=tmp_path)
    assert '"version"' not in result.stdout and result.stdout.startswith("Curriculum:")
