"""Processing batch results and the retry loop, end to end (issue 5).

Every test runs the real scripts (tests/helpers.run_script) against the fake Batch API server (network
blocked except loopback), on a small curriculum written into ``tmp_path``, and then looks at
what a user would: the lesson files, the work dir, the ledger as ``check_batch_status.py
--json --lessons`` shows it, the process script's ``--json`` summary, and the server's request
log (what was uploaded, created and downloaded).

The typical flow is: ``generate --yes`` -> ``check_batch_status.py --watch`` ->
``process_batch_results.py``, then the next ``generate`` run, which must ask again for exactly
the lessons that were not saved.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from tests.fake_openai import FakeOpenAIServer, write_lesson
from tests.helpers import (
    BUNDLED_CURRICULUM,
    BUNDLED_TEMPLATE,
    GENERATE_SCRIPT,
    PROCESS_SCRIPT,
    STATUS_SCRIPT,
    WATCH_INTERVAL,
    ScriptDriver,
    run_script,
    wait_until,
    write_cacheable_template,
    write_curriculum,
)

INTERVAL = WATCH_INTERVAL

TITLES = {
    "M0-L001": "Alpha: What Governance Is",
    "M0-L002": "Beta: Roles and Owners",
    "M0-L003": "Gamma: Policies in Practice",
    "M0-L004": "Delta: Measuring Data Quality",
    "M0-L005": "Epsilon: Metadata Basics",
    "M0-L006": "Zeta: Lineage for Auditors",
}
FOUR_LESSONS = ["M0-L001", "M0-L002", "M0-L003", "M0-L004"]  # the ``project`` fixture's curriculum


# ---- a small project -----------------------------------------------------------------------


def _curriculum(path: Path, count: int) -> Path:
    return write_curriculum(path, list(TITLES.values())[:count])


class Project(ScriptDriver):
    """A small curriculum, a work dir and an output dir in tmp_path, wired to the fake server."""

    def generate(self, *args) -> subprocess.CompletedProcess:
        result = super().generate(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def process(self, *args) -> tuple[subprocess.CompletedProcess, dict]:
        result = super().process("--json", *args)
        assert "Traceback" not in result.stderr, result.stderr
        return result, json.loads(result.stdout)["result"]

    def ledger(self) -> dict:
        return self.status_json()

    def lesson_states(self) -> dict[str, str]:
        """Every lesson not saved, with its ledger state (saved lessons are left out)."""
        return {entry["lesson_id"]: entry["state"] for entry in self.ledger()["unsaved_lessons"]}


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    return Project(
        tmp_path, fake_openai, curriculum=_curriculum(tmp_path / "curriculum.md", 4), api_key="sk-test-process-results"
    )


# ---- reading the fake server ---------------------------------------------------------------


def _requests_of_batch(server: FakeOpenAIServer, batch: dict) -> dict[str, dict]:
    """custom_id -> request body, from the input file the batch was created with."""
    return {line["custom_id"]: line["body"] for line in server.file_lines(batch["input_file_id"])}


def _submitted(server: FakeOpenAIServer, index: int) -> set[str]:
    return set(_requests_of_batch(server, server.created_batches()[index]))


def _expected_lesson(server: FakeOpenAIServer, custom_id: str, batch_index: int = 0) -> str:
    """The lesson the fake model wrote for ``custom_id``, before any chat wrapping."""
    body = _requests_of_batch(server, server.created_batches()[batch_index])[custom_id]
    return write_lesson(body, fallback_title=custom_id, lesson_bytes=server.scenario.lesson_bytes)


def _content_downloads(server: FakeOpenAIServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "GET" and r.path.endswith("/content")]


def _creations(server: FakeOpenAIServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "POST" and r.path in ("/v1/files", "/v1/batches")]


def _required_sections() -> list[str]:
    """The ``## `` headings the prompt template asks every lesson to have."""
    return re.findall(r"^## (.+?)\s*$", BUNDLED_TEMPLATE.read_text(encoding="utf-8"), re.MULTILINE)


def _headings(text: str) -> list[str]:
    return re.findall(r"^## (.+?)\s*$", text, re.MULTILINE)


def _dead_pid() -> int:
    """The id of a process that has ended (as the writer of an abandoned temporary file has)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*") if path.is_file()}


# ---- a completed batch ---------------------------------------------------------------------


def test_a_completed_batch_saves_every_lesson_under_its_own_id_whatever_the_output_order(project):
    project.generate("--yes")
    assert project.watch().returncode == 0
    result, summary = project.process()

    assert result.returncode == 0, result.stderr
    server = project.server
    batch = server.created_batches()[0]
    output_order = [line["custom_id"] for line in server.file_lines(batch["output_file_id"])]
    assert output_order != sorted(output_order), "the fake server should shuffle the output"
    assert project.saved_lessons() == set(FOUR_LESSONS)
    sections = _required_sections()
    assert sections, "the template lists its required sections"
    for lesson_id in output_order:
        text = (project.out / f"{lesson_id}.md").read_text(encoding="utf-8")
        assert text.splitlines()[0] == f"# {TITLES[lesson_id]}"
        assert _headings(text) == sections
        assert text == _expected_lesson(server, lesson_id)
    assert summary["total"]["saved"] == 4
    ledger = project.ledger()
    assert ledger["lessons"]["succeeded"] == 4 and ledger["unsaved_lessons"] == []


def test_the_raw_results_file_is_kept_in_the_work_dir_under_the_batch_id(project):
    project.generate("--yes")
    project.watch()
    project.process()

    batch = project.server.created_batches()[0]
    kept = project.work / f"datagov_lessons_results_{batch['id']}.jsonl"
    assert kept.read_bytes() == project.server.file_content(batch["output_file_id"])


# ---- lessons that fail come back in the next run ------------------------------------------


def test_requests_that_failed_with_400_are_held_for_a_person_and_not_submitted_again_unchanged(project):
    # A 400 is the request's own fault: the same request fails again, so no run pays for it again
    # by itself; once the cause is changed, --lessons ... --force requests them.
    project.server.set_scenario({"faults": {"fail_400": {"M0-L002": 1, "M0-L004": 1}}})
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    assert result.returncode == 1
    assert summary["total"]["failed"] == {"http_400": ["M0-L002", "M0-L004"]}
    assert project.saved_lessons() == {"M0-L001", "M0-L003"}
    assert project.lesson_states() == {"M0-L002": "needs_attention", "M0-L004": "needs_attention"}

    project.generate("--yes")
    assert len(project.server.created_batches()) == 1
    project.generate("--yes", "--lessons", "M0-L002,M0-L004", "--force")
    assert len(project.server.created_batches()) == 2
    assert _submitted(project.server, 1) == {"M0-L002", "M0-L004"}


def test_an_expired_batch_saves_what_finished_and_the_next_run_resubmits_only_the_rest(project):
    project.server.set_scenario({"batches": [{"outcome": "expire", "done_fraction": 0.5}]})
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    server = project.server
    batch = server.created_batches()[0]
    assert batch["status"] == "expired"
    expired = {line["custom_id"] for line in server.file_lines(batch["error_file_id"])
               if (line.get("error") or {}).get("code") == "batch_expired"}
    finished = {line["custom_id"] for line in server.file_lines(batch["output_file_id"])}
    assert expired and finished
    assert result.returncode == 1
    assert project.saved_lessons() == finished
    assert set(summary["total"]["failed"]["batch_expired"]) == expired
    assert project.lesson_states() == {lesson_id: "expired" for lesson_id in expired}

    project.generate("--yes")
    assert _submitted(server, 1) == expired


def test_a_cancelled_batch_saves_its_partial_results_and_the_next_run_resubmits_the_rest(project):
    project.server.set_scenario(  # the batch moves with time, and stops for good halfway
        {"advance": "time", "seconds_per_step": 0.02, "batches": [{"outcome": "stuck", "done_fraction": 0.5}]}
    )
    project.generate("--yes")
    wait_until(lambda: project.server.created_batches()[0]["request_counts"]["completed"] == 2,
               "the fake server has completed 2 requests of the batch")
    cancel = project.run(STATUS_SCRIPT, "--work-dir", project.work, "--cancel", "--yes")
    assert cancel.returncode == 0, cancel.stderr
    project.watch()
    result, summary = project.process()

    server = project.server
    batch = server.created_batches()[0]
    assert batch["status"] == "cancelled"
    finished = {line["custom_id"] for line in server.file_lines(batch["output_file_id"])}
    cancelled = set(FOUR_LESSONS) - finished
    assert finished and cancelled
    assert result.returncode == 1
    assert project.saved_lessons() == finished
    assert set(summary["total"]["failed"]["batch_cancelled"]) == cancelled
    assert project.lesson_states() == {lesson_id: "cancelled" for lesson_id in cancelled}

    project.generate("--yes")
    assert _submitted(server, 1) == cancelled


def test_truncated_lessons_are_not_saved_and_are_resubmitted_with_a_larger_token_budget(project):
    project.server.set_scenario({"faults": {"truncate": ["M0-L003"]}})
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    assert result.returncode == 1
    assert summary["total"]["failed"] == {"truncated": ["M0-L003"]}
    assert "M0-L003" not in project.saved_lessons()
    assert project.lesson_states() == {"M0-L003": "truncated"}

    server = project.server
    first_budget = _requests_of_batch(server, server.created_batches()[0])["M0-L003"]["max_completion_tokens"]
    project.generate("--yes")
    retry = _requests_of_batch(server, server.created_batches()[1])
    assert set(retry) == {"M0-L003"}
    assert retry["M0-L003"]["max_completion_tokens"] > first_budget
    kept_input = project.work / "submitted" / f"{server.created_batches()[1]['id']}.jsonl"
    local_input = [json.loads(line) for line in kept_input.read_text().splitlines()]
    budgets = [line["body"]["max_completion_tokens"] for line in local_input]
    assert budgets == [retry["M0-L003"]["max_completion_tokens"]]


def test_fenced_and_chatty_replies_are_saved_as_the_bare_lesson(project):
    project.server.set_scenario(
        {"faults": {"fence": ["M0-L001", "M0-L003"], "preamble": ["M0-L002", "M0-L003"]}}
    )
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    assert result.returncode == 0, result.stderr
    assert summary["total"]["saved"] == 4
    for lesson_id in ("M0-L001", "M0-L002", "M0-L003"):
        text = (project.out / f"{lesson_id}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# {TITLES[lesson_id]}\n")
        assert "Sure!" not in text
        assert "Let me know" not in text
        assert "```markdown" not in text
        assert text == _expected_lesson(project.server, lesson_id)


def test_a_completed_batch_without_an_output_file_reports_its_lessons_missing_and_resubmits_them(project):
    project.server.set_scenario({"batches": ["no_output_file"]})
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    assert result.returncode == 1
    assert summary["total"]["missing"] == FOUR_LESSONS
    assert project.saved_lessons() == set()
    assert project.lesson_states() == {lesson_id: "missing" for lesson_id in FOUR_LESSONS}

    project.generate("--yes")
    assert _submitted(project.server, 1) == set(FOUR_LESSONS)


# ---- a results file given by hand ----------------------------------------------------------


def _success_line(custom_id: str, content: str, finish_reason: str = "stop") -> str:
    body = {
        "id": "chatcmpl-hand",
        "object": "chat.completion",
        "model": "gpt-6.1-terra",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300},
    }
    line = {"id": f"batch_req_{custom_id}", "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": "req_hand", "body": body}, "error": None}
    return json.dumps(line)


def _hand_lesson(title: str) -> str:
    sections = "".join(f"\n## {section}\n\nWritten by hand.\n" for section in _required_sections())
    return f"# {title}\n{sections}"


def test_a_hand_given_results_file_skips_bad_lines_by_line_number_and_writes_only_inside_the_output_dir(project):
    area = project.root / "area"  # so that "../../evil" from the output dir still lands inside tmp_path
    project.out = area / "lessons"
    project.generate("--yes")
    requests_before = len(project.server.requests)
    absolute_inside = str(project.root / "abs_target")
    lines = [
        _success_line("M0-L001", _hand_lesson("First by hand")),       # 1
        "{this is not json",                                           # 2
        _success_line("M7-L001", _hand_lesson("Not in the ledger")),   # 3
        _success_line("../../evil", _hand_lesson("Evil")),             # 4
        _success_line("/tmp/x", _hand_lesson("Absolute")),             # 5
        _success_line("M0-L001/../../x", _hand_lesson("Sneaky")),      # 6
        _success_line("M0-L001", _hand_lesson("Duplicate by hand")),   # 7
        _success_line(absolute_inside, _hand_lesson("Absolute")),      # 8
        _success_line("M0-L002", _hand_lesson("Second by hand")),      # 9
    ]
    results = project.root / "hand_results.jsonl"
    results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = _files_under(project.root)
    tmp_x_existed = {p: p.exists() for p in (Path("/tmp/x"), Path("/tmp/x.md"))}

    result = run_script(  # no OPENAI_* variables at all: this must work without the API
        PROCESS_SCRIPT, "--work-dir", project.work, "--output-dir", project.out, "--json",
        "--results-file", results, cwd=project.root,
    )
    assert "Traceback" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)["result"]

    assert len(project.server.requests) == requests_before, "no API call with --results-file"
    bad = summary["total"]["bad_lines"]
    for number in (2, 3, 4, 5, 6, 7, 8):
        assert any(entry.startswith(f"{results}:{number}:") for entry in bad), (number, bad)
    for number in (1, 9):
        assert not any(entry.startswith(f"{results}:{number}:") for entry in bad), (number, bad)
    assert (project.out / "M0-L001.md").read_text(encoding="utf-8") == _hand_lesson("First by hand")
    assert (project.out / "M0-L002.md").read_text(encoding="utf-8") == _hand_lesson("Second by hand")
    new_files = _files_under(project.root) - before
    outside = {path for path in new_files if not (project.root / path).is_relative_to(project.out)}
    # The processing lock beside the ledger (runs on one work dir take turns) is the one file made elsewhere.
    assert outside <= {Path("work") / "ledger.sqlite3.processing.lock"}, outside
    assert {p: p.exists() for p in tmp_x_existed} == tmp_x_existed
    assert project.ledger()["lessons"]["succeeded"] == 2
    assert project.states() == {  # the lessons the file does not answer still await their batch's results
        "M0-L001": "succeeded", "M0-L002": "succeeded", "M0-L003": "submitted", "M0-L004": "submitted",
    }


def test_a_hand_given_file_answering_part_of_a_finished_batch_leaves_the_batch_open_for_the_rest(project):
    """A batch is processed only once all its lessons are answered: the lessons a hand-given file
    does not answer stay awaiting results, and the next ordinary run downloads the batch's own
    files for them (instead of leaving them ``submitted`` forever)."""
    project.generate("--yes")
    project.watch()  # the batch has completed: it awaits processing
    results = project.root / "hand_results.jsonl"
    results.write_text(
        _success_line("M0-L001", _hand_lesson("First by hand")) + "\n"
        + _success_line("M0-L002", _hand_lesson("Second by hand")) + "\n",
        encoding="utf-8",
    )

    by_hand, summary = project.process("--results-file", results)

    assert summary["total"]["saved"] == 2
    assert project.states() == {
        "M0-L001": "succeeded", "M0-L002": "succeeded", "M0-L003": "submitted", "M0-L004": "submitted",
    }
    [batch] = project.ledger()["batches"]
    assert batch["processed"] is False, batch

    result, summary = project.process()  # an ordinary run: the batch's own files, for the other two

    assert result.returncode == 0, result.stdout + result.stderr
    assert summary["total"]["saved"] == 2
    assert project.saved_lessons() == set(FOUR_LESSONS)
    assert set(project.states().values()) == {"succeeded"}
    assert (project.out / "M0-L001.md").read_text(encoding="utf-8") == _hand_lesson("First by hand")
    assert (project.out / "M0-L003.md").read_text(encoding="utf-8") == _expected_lesson(project.server, "M0-L003")
    assert len(project.server.created_batches()) == 1


def test_a_hand_given_file_answering_every_lesson_of_a_batch_closes_it_and_forgets_its_request_file(project):
    """A batch all of whose lessons a hand-given file answers is processed: nothing is left for its
    own files to do, so the next ordinary run downloads nothing for it, and its request file kept
    under submitted/ goes, as after an ordinary run (mutation run of 2026-12-07, processing.py)."""
    project.generate("--yes")
    project.watch()  # the batch has completed: it awaits processing
    [created] = project.server.created_batches()
    kept = project.work / "submitted" / f"{created['id']}.jsonl"
    assert kept.is_file()
    results = project.root / "hand_results.jsonl"
    results.write_text(
        "".join(_success_line(lesson_id, _hand_lesson(f"{lesson_id} by hand")) + "\n" for lesson_id in FOUR_LESSONS),
        encoding="utf-8",
    )

    by_hand, summary = project.process("--results-file", results)

    assert summary["total"]["saved"] == 4
    [batch] = project.ledger()["batches"]
    assert batch["processed"] is True, batch
    assert not kept.exists()

    result, summary = project.process()  # an ordinary run: nothing left to download or save

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Downloading" not in result.stdout
    assert (project.out / "M0-L003.md").read_text(encoding="utf-8") == _hand_lesson("M0-L003 by hand")



def test_a_batch_id_the_ledger_does_not_know_is_refused_and_nothing_is_processed(project):
    """Naming a batch the work dir's ledger does not record (a typo, another work dir's) is a
    mistake the user made: said in plain words, with the id, and no batch is processed (mutation
    run of 2026-12-07, processing.py ``process_results``)."""
    project.generate("--yes")
    project.watch()  # the batch has completed: it awaits processing

    result = Project.run(project, PROCESS_SCRIPT, "--work-dir", project.work, "--output-dir", project.out,
                         "batch_not_ours")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "not in the ledger" in result.stderr + result.stdout and "batch_not_ours" in result.stderr + result.stdout
    assert project.saved_lessons() == set()
    [batch] = project.ledger()["batches"]
    assert batch["processed"] is False, batch


def test_lessons_that_fail_their_checks_or_an_unknown_error_are_marked_with_why_and_requested_again(project):
    """Every answer that brings no lesson marks its lesson with why, so the next run asks for it
    again: a lesson missing its required sections is ``invalid`` (kept under rejected/), one the
    content filter stopped and one whose error line has a code the tool does not know are
    ``failed``. A lesson left ``submitted`` in a finished batch would never be requested again."""
    project.generate("--yes")
    project.watch()  # the batch has completed: it awaits processing
    results = project.root / "hand_results.jsonl"
    results.write_text(
        _success_line("M0-L001", _hand_lesson("First by hand")) + "\n"
        + _success_line("M0-L002", "# A title only\n\nNo sections at all.\n") + "\n"
        + _success_line("M0-L003", _hand_lesson("Stopped by the filter"), finish_reason="content_filter") + "\n",
        encoding="utf-8",
    )
    errors = project.root / "hand_errors.jsonl"
    errors.write_text(json.dumps({
        "id": "batch_req_M0-L004", "custom_id": "M0-L004", "response": None,
        "error": {"code": "some_new_code", "message": "an error the tool has no name for"},
    }) + "\n", encoding="utf-8")

    result, summary = project.process("--results-file", results, "--errors-file", errors)

    assert result.returncode == 1
    assert project.saved_lessons() == {"M0-L001"}
    assert project.lesson_states() == {"M0-L002": "invalid", "M0-L003": "failed", "M0-L004": "failed"}
    assert (project.work / "rejected" / "M0-L002.md").read_text(encoding="utf-8").startswith("# A title only")

    project.generate("--yes")
    assert _submitted(project.server, 1) == {"M0-L002", "M0-L003", "M0-L004"}


def test_a_stale_error_file_given_by_hand_changes_nothing_for_lessons_running_in_a_newer_batch(project):
    """The error file of an expired batch, downloaded by hand, says ``batch_expired`` for lessons
    that have since been submitted again and are running: that must not mark them expired, or the
    next run would request them a third time while their batch is still running (paid twice)."""
    project.server.set_scenario({"batches": [{"outcome": "expire", "done_fraction": 0.5}]})
    project.generate("--yes")
    project.watch()
    project.process()
    first = project.server.created_batches()[0]
    expired = set(FOUR_LESSONS) - project.saved_lessons()
    assert expired and project.lesson_states() == {lesson_id: "expired" for lesson_id in expired}
    project.generate("--yes")  # the expired lessons go into a second batch, which is still validating
    second = project.server.created_batches()[1]
    assert _submitted(project.server, 1) == expired
    old_output = project.root / "old_output.jsonl"  # the first batch's files, as downloaded by hand
    old_errors = project.root / "old_errors.jsonl"
    old_output.write_bytes(project.server.file_content(first["output_file_id"]))
    old_errors.write_bytes(project.server.file_content(first["error_file_id"]))

    result, summary = project.process("--results-file", old_output, "--errors-file", old_errors)

    assert set(summary["total"]["failed"]["batch_expired"]) == expired  # reported, nothing more
    with Ledger.open(project.work) as ledger:
        records = ledger.lessons(expired)
    assert {lesson_id: (record.state, record.batch_id) for lesson_id, record in records.items()} == {
        lesson_id: ("submitted", second["id"]) for lesson_id in expired
    }
    again = project.generate("--yes")
    assert "Nothing to submit." in again.stdout
    assert len(project.server.created_batches()) == 2


# ---- existing lesson files -----------------------------------------------------------------


def test_an_existing_lesson_file_is_not_overwritten_and_the_new_version_is_kept_aside(project):
    project.generate("--yes")
    handmade = b"# My own version\n\nDo not touch.\n"
    project.out.mkdir(parents=True, exist_ok=True)
    (project.out / "M0-L002.md").write_bytes(handmade)
    project.watch()
    result, summary = project.process()

    assert result.returncode == 0, result.stderr
    assert (project.out / "M0-L002.md").read_bytes() == handmade
    kept = project.work / "not_overwritten" / "M0-L002.md"
    assert kept.read_text(encoding="utf-8") == _expected_lesson(project.server, "M0-L002")
    assert summary["total"]["kept_existing"] == 1


def test_generate_wait_keeps_a_lesson_file_that_appeared_while_its_batch_ran_and_keeps_the_new_one_aside(project):
    """Processing inside ``generate --wait`` overwrites nothing it was not asked to (no --force),
    as processing by the script does (``saving.Processing.of``: force is off unless given)."""
    project.generate("--yes")
    handmade = b"# My own version\n\nDo not touch.\n"
    project.out.mkdir(parents=True, exist_ok=True)
    (project.out / "M0-L002.md").write_bytes(handmade)

    project.generate("--yes", "--wait", "--interval", INTERVAL)

    assert (project.out / "M0-L002.md").read_bytes() == handmade
    kept = project.work / "not_overwritten" / "M0-L002.md"
    assert kept.read_text(encoding="utf-8") == _expected_lesson(project.server, "M0-L002")
    assert not (project.work / "replaced").exists()


def test_with_force_an_existing_lesson_file_is_overwritten_and_the_old_one_kept_under_replaced(project):
    project.generate("--yes")
    handmade = b"# My own version\n\nReplace me.\n"
    project.out.mkdir(parents=True, exist_ok=True)
    (project.out / "M0-L002.md").write_bytes(handmade)
    project.watch()
    result, summary = project.process("--force")

    assert result.returncode == 0, result.stderr
    assert (project.out / "M0-L002.md").read_text(encoding="utf-8") == _expected_lesson(project.server, "M0-L002")
    replaced = list((project.work / "replaced").glob("M0-L002*.md"))
    assert [path.read_bytes() for path in replaced] == [handmade]
    assert summary["total"]["replaced"] == 1


def test_a_lesson_regenerated_with_generate_force_replaces_its_file_and_keeps_the_old_one(project):
    project.out.mkdir(parents=True, exist_ok=True)
    handmade = b"# An old version\n"
    (project.out / "M0-L002.md").write_bytes(handmade)
    project.generate("--yes", "--force", "--lessons", "M0-L002")
    project.watch()
    result, summary = project.process()  # no --force here: the lesson was requested with it

    assert result.returncode == 0, result.stderr
    assert (project.out / "M0-L002.md").read_text(encoding="utf-8") == _expected_lesson(project.server, "M0-L002")
    assert [path.read_bytes() for path in (project.work / "replaced").glob("M0-L002*.md")] == [handmade]
    assert summary["total"]["replaced"] == 1


# ---- interruptions and re-runs -------------------------------------------------------------


def test_a_run_killed_while_saving_lessons_is_finished_by_the_next_run_without_downloading_again(project):
    project.generate("--yes")
    project.watch()
    crashed = project.run(
        PROCESS_SCRIPT, "--work-dir", project.work, "--output-dir", project.out,
        env={"LESSON_BATCH_CRASH_AT": "lesson_saved:3"},
    )
    assert crashed.returncode == -signal.SIGKILL
    assert len(project.saved_lessons()) == 3
    # what a kill in the middle of writing a lesson would leave behind as well
    (project.out / f".M0-L004.md.{_dead_pid()}.partial").write_text("# half a less", encoding="utf-8")

    result, summary = project.process()

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in project.out.iterdir()) == [f"{lesson_id}.md" for lesson_id in FOUR_LESSONS]
    assert not list(project.out.rglob("*.partial"))
    assert not (project.work / "not_overwritten").exists() and not (project.work / "replaced").exists()
    for lesson_id in FOUR_LESSONS:
        saved = (project.out / f"{lesson_id}.md").read_text(encoding="utf-8")
        assert saved == _expected_lesson(project.server, lesson_id)
    ledger = project.ledger()
    assert ledger["lessons"]["succeeded"] == 4 and ledger["unsaved_lessons"] == []
    assert len(_content_downloads(project.server)) == 1


def test_processing_again_after_success_changes_nothing(project):
    project.generate("--yes")
    project.watch()
    project.process()
    files_before = {path.name: path.read_bytes() for path in project.out.iterdir()}
    downloads_before = len(_content_downloads(project.server))

    result, summary = project.process()

    assert result.returncode == 0, result.stderr
    assert summary["batches"] == []
    assert {path.name: path.read_bytes() for path in project.out.iterdir()} == files_before
    assert len(_content_downloads(project.server)) == downloads_before


def test_the_whole_bundled_curriculum_is_generated_with_wait_and_a_second_run_submits_nothing(tmp_path, fake_openai):
    work, out = tmp_path / "work", tmp_path / "lessons"
    out.mkdir()
    env = fake_openai.env(api_key="sk-test-whole-curriculum")
    args = ("--wait", "--yes", "--interval", INTERVAL, "--work-dir", work, "--output-dir", out)
    expected_count = len(re.findall(r"^## L\d+", BUNDLED_CURRICULUM.read_text(encoding="utf-8"), re.MULTILINE))
    assert expected_count == 336

    first = run_script(GENERATE_SCRIPT, *args, env=env, cwd=tmp_path)

    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    lessons = sorted(out.glob("*.md"))
    assert len(lessons) == expected_count
    sections = _required_sections()
    for path in lessons:
        assert _headings(path.read_text(encoding="utf-8")) == sections, path.name
    status = json.loads(run_script(STATUS_SCRIPT, "--work-dir", work, "--json", env=env, cwd=tmp_path).stdout)["result"]
    assert status["lessons"]["succeeded"] == expected_count

    creations_before = _creations(fake_openai)
    second = run_script(GENERATE_SCRIPT, *args, env=env, cwd=tmp_path)

    assert second.returncode == 0, second.stdout + second.stderr
    assert _creations(fake_openai) == creations_before
    assert len(fake_openai.created_batches()) == 1


# ---- tokens and cost -----------------------------------------------------------------------

# gpt-6.1-terra (the default model), USD per million tokens (list price; the Batch API charges half).
TERRA_INPUT, TERRA_CACHED, TERRA_OUTPUT = 1.00, 0.05, 5.00


def test_the_report_shows_the_measured_tokens_and_cost_next_to_the_estimate(project, tmp_path):
    project.generate("--yes", "--prompt-template", write_cacheable_template(tmp_path / "template.md"))
    project.watch()
    result, summary = project.process()

    usage = _server_usage(project.server)
    prompt, cached = usage["prompt_tokens"], usage["cached_tokens"]
    completion, reasoning = usage["completion_tokens"], usage["reasoning_tokens"]
    written = usage["cache_write_tokens"]
    assert written > 0  # gpt-6.1-terra, a GPT-6 model, reports (and bills) prompt-cache writes
    total = summary["total"]
    assert total["usage"] == usage
    # cache writes are part of the uncached input, billed at 1.25x the input price
    writes = written * TERRA_INPUT * 1.25 / 1e6 / 2
    cost = ((prompt - cached - written) * TERRA_INPUT + cached * TERRA_CACHED + completion * TERRA_OUTPUT) / 1e6 / 2
    cost += writes
    assert total["actual_cost_usd"] == pytest.approx(cost, abs=1e-4)
    assert total["cache_write_cost_usd"] == pytest.approx(writes, abs=1e-4)
    assert total["estimated_cost_usd"] is not None and total["estimated_cost_usd"] != total["actual_cost_usd"]
    assert (f"{prompt:,} input ({cached:,} cached, {written:,} written to the prompt cache), "
            f"{completion:,} output ({reasoning:,} reasoning)") in result.stderr
    assert re.search(
        rf"cost at Batch prices: \${cost:,.2f}, of which cache writes \$[0-9.e-]+ "
        rf"\(estimated before submitting: \${total['estimated_cost_usd']:,.2f}\)",
        result.stderr,
    ), result.stderr


def test_the_report_compares_the_batchs_own_usage_with_the_sum_of_its_lines(project):
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    api_usage = project.server.created_batches()[0]["usage"]
    (batch,) = summary["batches"]
    assert batch["batch_usage"] == {
        "input_tokens": api_usage["input_tokens"], "cached_tokens": api_usage["input_tokens_details"]["cached_tokens"],
        "output_tokens": api_usage["output_tokens"],
        "reasoning_tokens": api_usage["output_tokens_details"]["reasoning_tokens"],
    }
    assert batch["batch_usage_minus_lines"] == {}
    assert (f"the batch's own usage (what OpenAI bills): {api_usage['input_tokens']:,} input" in result.stderr)
    assert "it matches the sum of the batch's result lines" in result.stderr


def _planned_output_tokens(result: subprocess.CompletedProcess) -> int:
    match = re.search(r"Estimated tokens: ~[\d,]+ input \+ ~([\d,]+) output", result.stdout)
    assert match, result.stdout
    return int(match.group(1).replace(",", ""))


def _server_usage(server: FakeOpenAIServer, batch_index: int = 0) -> dict[str, int]:
    """The token usage of every answered request of a batch, summed from its output file."""
    batch = server.created_batches()[batch_index]
    usages = [line["response"]["body"]["usage"] for line in server.file_lines(batch["output_file_id"])]
    return {
        "prompt_tokens": sum(u["prompt_tokens"] for u in usages),
        "cached_tokens": sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages),
        "completion_tokens": sum(u["completion_tokens"] for u in usages),
        "reasoning_tokens": sum(u["completion_tokens_details"]["reasoning_tokens"] for u in usages),
        "cache_write_tokens": sum(u["prompt_tokens_details"].get("cache_write_tokens", 0) for u in usages),
    }


def test_a_run_killed_after_marking_its_lessons_still_reports_the_whole_batch_usage_when_rerun(project):
    project.generate("--yes")
    project.watch()
    crashed = project.run(
        PROCESS_SCRIPT, "--work-dir", project.work, "--output-dir", project.out,
        env={"LESSON_BATCH_CRASH_AT": "lessons_marked"},
    )
    assert crashed.returncode == -signal.SIGKILL

    result, summary = project.process()

    assert result.returncode == 0, result.stderr
    usage = _server_usage(project.server)
    assert summary["total"]["usage"] == usage
    assert summary["total"]["actual_cost_usd"] > 0
    assert f"{usage['completion_tokens']:,} output" in result.stderr


def test_after_processing_a_new_plan_estimates_output_from_the_measured_tokens(project):
    project.curriculum = _curriculum(project.root / "curriculum.md", 6)
    project.generate("--yes", "--limit", "3")
    project.watch()
    _, summary = project.process()
    measured_mean = round(summary["total"]["usage"]["completion_tokens"] / 3)

    measured_plan = project.generate("--dry-run")
    default_plan = run_script(
        GENERATE_SCRIPT, "--dry-run", "--curriculum", project.curriculum,
        "--work-dir", project.root / "fresh_work", "--output-dir", project.out, cwd=project.root,
    )

    assert "to request: 3" in measured_plan.stdout and "to request: 3" in default_plan.stdout
    assert _planned_output_tokens(measured_plan) == 3 * measured_mean
    assert _planned_output_tokens(measured_plan) != _planned_output_tokens(default_plan)


def test_a_batch_whose_own_usage_differs_from_its_lines_is_reported_in_plain_words(project):
    project.server.set_scenario(
        {"batches": [{"outcome": "complete", "usage_extra": {"input_tokens": 1_234, "output_tokens": 56}}]}
    )
    project.generate("--yes")
    project.watch()
    result, summary = project.process()

    (batch,) = summary["batches"]
    assert batch["batch_usage_minus_lines"] == {"input_tokens": 1_234, "output_tokens": 56}
    assert batch["batch_usage_cost_usd"] > batch["actual_cost_usd"]
    assert ("it differs from the sum of the batch's result lines: the batch counts 1,234 more input tokens, "
            "56 more output tokens than its lines") in result.stderr
    assert "The bill follows the batch's figures" in result.stderr


def test_the_estimate_says_where_its_output_figure_comes_from(project):
    """Learned from a local server's short answers, the estimate must not pass for one from text
    length, nor for one from OpenAI's lessons; with nothing measured it says it is a typical size."""
    project.curriculum = _curriculum(project.root / "curriculum.md", 6)
    project.generate("--yes", "--limit", "3")
    project.watch()
    _, summary = project.process()
    measured_mean = round(summary["total"]["usage"]["completion_tokens"] / 3)

    measured_plan = project.generate("--dry-run")
    default_plan = run_script(
        GENERATE_SCRIPT, "--dry-run", "--curriculum", project.curriculum,
        "--work-dir", project.root / "fresh_work", "--output-dir", project.out, cwd=project.root,
    )

    assert "from text length)" not in measured_plan.stdout
    assert (
        f"output: ~{measured_mean:,} a lesson, the average of 3 lessons measured in this work dir, answered by "
        f"{project.server.base_url.rstrip('/')}, not the OpenAI API" in measured_plan.stdout
    ), measured_plan.stdout
    assert "input from the prompts' text length" in measured_plan.stdout
    assert (
        "a typical lesson for gpt-6.1-terra at the effort it is sent with (nothing measured in this work dir yet)"
    ) in default_plan.stdout



def test_the_total_of_batches_of_two_models_prices_each_batch_at_its_own_model_s_prices(project):
    project.curriculum = _curriculum(project.root / "curriculum.md", 4)
    project.generate("--yes", "--limit", "2")
    project.generate("--yes", "--model", "gpt-6-luna")  # the two lessons not in the first batch
    project.watch()

    result, summary = project.process()

    assert result.returncode == 0, result.stdout + result.stderr
    batches = summary["batches"]
    assert len(batches) == 2 and batches[0]["actual_cost_usd"] != batches[1]["actual_cost_usd"]
    assert summary["total"]["actual_cost_usd"] == pytest.approx(sum(b["actual_cost_usd"] for b in batches), abs=2e-4)
    assert summary["total"]["cache_write_cost_usd"] == pytest.approx(
        sum(b["cache_write_cost_usd"] for b in batches), abs=2e-4)
