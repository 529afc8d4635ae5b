"""Each batch's results are its own (issue 14): named by batch id, found through the ledger.

The API's ``created_at`` is in whole seconds and batch ids are random, so batches created in the
same second sort in any order. The fake server does that on demand (``same_second_batches``,
``batch_id_order: "descending"``: each new batch sorts before every earlier one), which is what
once made a batch read another batch's results file, mark its own lessons missing, and have them
paid for again. These tests run the real scripts against it and check, from the server's own
records, that every lesson is requested in exactly one batch.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from lesson_batch.report import Report
from lesson_batch.result_files import parse_result_line
from lesson_batch.saving import AnswerRecorder, Expected, Processing
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import (
    ScriptDriver,
    batches_per_lesson,
    ledger_awaiting_results,
    responses_record,
    success_record,
    write_modules_curriculum,
)

INTERVAL = "0.01"
SHARD_SIZE = 4
# Four lessons of this curriculum estimate ~3,100 prompt tokens: the cap lets one batch run at a time.
ONE_SHARD_AT_A_TIME = 4000
SAME_SECOND_DESCENDING = {"same_second_batches": True, "batch_id_order": "descending"}


class Project(ScriptDriver):
    def __init__(self, root: Path, server: FakeOpenAIServer, lesson_ids: list[str]):
        super().__init__(root, server, api_key="sk-test-results-per-batch")
        self.lesson_ids = lesson_ids

    def run(self, script: str, *args, **options) -> subprocess.CompletedProcess:
        result = super().run(script, *args, **options)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def generate(self, *args, **options) -> subprocess.CompletedProcess:
        polling = ("--interval", INTERVAL) if "--wait" in args else ()  # --interval goes with --wait only
        return super().generate(
            "--yes", "--max-requests-per-batch", SHARD_SIZE, *polling, *args, **options,
        )


    def batches_per_lesson(self) -> Counter:
        return batches_per_lesson(self.server)

    def saved(self) -> list[str]:
        return sorted(self.saved_lessons())


def new_project(tmp_path: Path, server: FakeOpenAIServer, modules: int) -> Project:
    return Project(tmp_path, server, write_modules_curriculum(tmp_path / "curriculum.md", modules, 4))


def created_without_recording(project: Project, batch_number: int) -> None:
    """generate is killed right after creating its ``batch_number``-th batch, before recording it."""
    killed = project.generate(crash_at=f"after_create:{batch_number}")
    assert killed.returncode < 0, killed.stdout + killed.stderr
    assert len(project.server.created_batches()) == batch_number


# ---- the two sequences of the issue -------------------------------------------------------


def test_rolling_submission_with_batches_in_the_same_second_saves_every_lesson_paying_once(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=3)
    fake_openai.set_scenario(SAME_SECOND_DESCENDING)

    waited = project.generate("--wait", "--max-enqueued-tokens", ONE_SHARD_AT_A_TIME)

    assert len(fake_openai.created_batches()) == 3
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert project.saved() == project.lesson_ids
    assert project.batches_per_lesson() == Counter(project.lesson_ids)
    again = project.generate()
    assert "Nothing to submit." in again.stdout and len(fake_openai.created_batches()) == 3


def test_an_adopted_batch_sorting_first_reads_its_own_results_and_wait_saves_them(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    fake_openai.set_scenario(SAME_SECOND_DESCENDING)
    created_without_recording(project, 2)
    project.watch()
    assert project.process().returncode == 0  # the first batch only: the second is not recorded

    waited = project.generate("--wait")

    assert "adopted" in waited.stdout
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert project.saved() == project.lesson_ids
    assert "All requested lessons are saved." in waited.stdout
    assert project.batches_per_lesson() == Counter(project.lesson_ids)


# ---- --wait answers for the whole job -----------------------------------------------------


def test_wait_counts_the_lessons_of_an_adopted_batch(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    fake_openai.set_scenario({"faults": {"fail_400": ["M1-L002"]}})
    created_without_recording(project, 2)
    project.watch()
    project.process()

    waited = project.generate("--wait")

    assert "adopted" in waited.stdout and "Nothing to submit." in waited.stdout
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert "All requested lessons are saved." not in waited.stdout
    assert "1 lesson was not saved" in waited.stdout


def test_wait_counts_the_lessons_already_in_a_batch_from_an_earlier_run(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=1)
    fake_openai.set_scenario({"faults": {"fail_400": ["M0-L003"]}})
    project.generate()

    waited = project.generate("--wait")

    assert "in a batch not yet processed (skipped): 4" in waited.stdout
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert "All requested lessons are saved." not in waited.stdout
    assert "1 lesson was not saved" in waited.stdout


# ---- the files are found through the ledger -----------------------------------------------


def recorded_files(project: Project) -> dict[str, tuple[str | None, str | None]]:
    with Ledger.open(project.work) as ledger:
        return {batch.batch_id: (batch.results_file, batch.errors_file) for batch in ledger.batches()}


def test_each_batchs_result_files_carry_its_id_and_are_recorded_in_the_ledger(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    fake_openai.set_scenario({"faults": {"fail_400": ["M0-L001", "M1-L001"]}})
    project.generate()
    project.watch()
    project.process()

    batches = fake_openai.created_batches()
    assert recorded_files(project) == {
        batch["id"]: (f"datagov_lessons_results_{batch['id']}.jsonl", f"datagov_lessons_errors_{batch['id']}.jsonl")
        for batch in batches
    }
    for batch in batches:
        results, errors = recorded_files(project)[batch["id"]]
        assert (project.work / results).read_bytes() == fake_openai.file_content(batch["output_file_id"])
        assert (project.work / errors).read_bytes() == fake_openai.file_content(batch["error_file_id"])


def test_a_results_file_an_earlier_version_saved_under_the_plain_name_is_read_where_the_ledger_says(
    tmp_path, fake_openai
):
    project = new_project(tmp_path, fake_openai, modules=1)
    project.generate()
    project.watch()
    [batch] = fake_openai.created_batches()
    # What an earlier version left: the results downloaded under the plain name, and (once the
    # ledger is upgraded) that name recorded for the batch.
    (project.work / "datagov_lessons_results.jsonl").write_bytes(fake_openai.file_content(batch["output_file_id"]))
    with Ledger.open(project.work) as ledger:
        ledger.name_result_files(batch["id"], "datagov_lessons_results.jsonl", "datagov_lessons_errors.jsonl")

    processed = project.process()

    assert processed.returncode == 0, processed.stdout + processed.stderr
    assert "Downloading" not in processed.stdout
    assert not [r for r in fake_openai.requests if r.path.endswith("/content")]
    assert project.saved() == project.lesson_ids


def test_a_batch_whose_recorded_file_is_gone_downloads_it_again_under_the_same_name(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=1)
    project.generate()
    project.watch()
    [batch] = fake_openai.created_batches()
    with Ledger.open(project.work) as ledger:
        ledger.name_result_files(batch["id"], "chosen_earlier.jsonl", "chosen_earlier_errors.jsonl")

    processed = project.process()

    assert processed.returncode == 0, processed.stdout + processed.stderr
    assert (project.work / "chosen_earlier.jsonl").read_bytes() == fake_openai.file_content(batch["output_file_id"])
    assert recorded_files(project)[batch["id"]] == ("chosen_earlier.jsonl", "chosen_earlier_errors.jsonl")


# ---- a batch's results never touch another batch's lessons --------------------------------


def test_a_result_line_for_a_lesson_of_another_batch_is_reported_and_changes_nothing(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    project.generate()
    project.watch()
    first, second = fake_openai.created_batches()
    # The second batch's results file holds, besides its own lines, one for a lesson of the first.
    mixed = fake_openai.file_content(second["output_file_id"]) + (
        json.dumps(success_record("M0-L001", content="# Not from this batch\n")) + "\n"
    ).encode()
    (project.work / "second_results.jsonl").write_bytes(mixed)
    with Ledger.open(project.work) as ledger:
        ledger.name_result_files(second["id"], "second_results.jsonl", "second_errors.jsonl")

    processed = project.process(second["id"])

    assert processed.returncode == 1
    assert f"M0-L001 was not requested in batch {second['id']}; skipped" in processed.stdout
    assert project.saved() == [lesson for lesson in project.lesson_ids if lesson.startswith("M1-")]
    with Ledger.open(project.work) as ledger:
        assert ledger.lessons(["M0-L001"])["M0-L001"].state == "submitted"
        assert ledger.lessons(["M0-L001"])["M0-L001"].batch_id == first["id"]



def _refusal(custom_id: str) -> dict:
    """A 200 whose message is the model's refusal, with no content."""
    record = success_record(custom_id, content=None)
    record["response"]["body"]["choices"][0]["message"]["refusal"] = "I can't help with that."
    return record

# Answers that bring no lesson to save, one of each kind, as the lines of a results file.
_NOT_SAVED_ANSWERS = {
    "a good lesson whose path holds a folder": success_record("M0-L001", content="# M0-L001\n\n## Summary\n"),
    "the other API's object": responses_record("M0-L001"),
    "expired in its batch": {"id": "batch_req_1", "custom_id": "M0-L001", "response": None,
                             "error": {"code": "batch_expired", "message": "This request could not be executed."}},
    "an HTTP 400": {"id": "batch_req_1", "custom_id": "M0-L001", "error": None, "response": {
        "status_code": 400, "request_id": "req_1",
        "body": {"error": {"code": "context_length_exceeded", "message": "Too long."}}}},
    "an HTTP 500": {"id": "batch_req_1", "custom_id": "M0-L001", "error": None, "response": {
        "status_code": 500, "request_id": "req_1", "body": {"error": {"code": "server_error", "message": "Oops."}}}},
    "a truncated lesson": success_record("M0-L001", content="# M0-L001\n\n## Sum", finish_reason="length"),
    "a lesson without its sections": success_record("M0-L001", content="# M0-L001\n\nNo sections.\n"),
    "a refusal": _refusal("M0-L001"),
}


@pytest.mark.parametrize("answer", list(_NOT_SAVED_ANSWERS))
def test_an_answer_from_a_run_its_lesson_is_no_longer_in_never_changes_the_lesson_s_state(tmp_path, answer):
    """An answer an older flex run kept on disk (``flex.answers.kept_answers`` reads every run that
    left a lesson in flight) may be for a lesson now in another batch: whatever it says, it marks
    nothing there (issue 19: the batch id of each ``saving`` outcome, ``_path_problem`` 18,
    ``_error_entry`` 8, 34, 52, 60, ``_rejected`` 16, 33, ``_decide`` 41)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], ["Summary"]).close()
    (out / "M0-L001.md").mkdir(parents=True)  # only a good lesson gets as far as its path
    line = parse_result_line(1, json.dumps(_NOT_SAVED_ANSWERS[answer]).encode())
    older_run = Expected(batch_id="flex-older-run", model="gpt-6.1-terra", budget=16_000, effort=None,
                         required_sections=("Summary",), force=False)

    with Ledger.open(work) as ledger:
        before = ledger.lessons(["M0-L001"])["M0-L001"]
        report = Report(label="kept answers")
        recorder = AnswerRecorder(Processing.of(ledger, out, work), report)
        recorder.apply(line, older_run)
        recorder.flush()
        after = ledger.lessons(["M0-L001"])["M0-L001"]

    assert report.not_saved == ["M0-L001"], report
    assert (before.state, before.batch_id) == ("submitted", "batch_1")
    assert after == before


def test_a_hand_given_file_the_ledger_records_for_a_batch_answers_only_that_batchs_lessons(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    project.generate()
    project.watch()
    first, second = fake_openai.created_batches()
    project.process(second["id"])
    results, _errors = recorded_files(project)[second["id"]]
    with open(project.work / results, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(success_record("M0-L001", content="# Not from this batch\n")) + "\n")

    given = project.process("--results-file", project.work / results)

    assert f"M0-L001 was not requested in batch {second['id']}; skipped" in given.stdout
    assert not (project.out / "M0-L001.md").exists()
    with Ledger.open(project.work) as ledger:
        assert ledger.lessons(["M0-L001"])["M0-L001"].state == "submitted"


def test_processing_after_a_run_killed_between_create_and_record_points_to_the_generate_script(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    created_without_recording(project, 2)
    project.watch()

    processed = project.process()

    assert processed.returncode == 0, processed.stdout + processed.stderr
    assert (
        "(M1-L001, M1-L002, M1-L003, M1-L004) are in a submission an interrupted run left unfinished"
    ) in processed.stdout
    assert "not saved and in no batch" not in processed.stdout


def test_a_good_lesson_from_a_run_its_lesson_is_no_longer_in_never_changes_the_lesson_s_state(tmp_path):
    """The same for an answer that brings a good lesson: it never marks the lesson saved in the
    batch it is in now (issue 19: ``saving._save`` 63, the batch id of a saved lesson)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], ["Summary"]).close()
    good = success_record("M0-L001", content="# M0-L001\n\n## Summary\n\nAll of it.\n")
    older_run = Expected(batch_id="flex-older-run", model="gpt-6.1-terra", budget=16_000, effort=None,
                         required_sections=("Summary",), force=False)

    with Ledger.open(work) as ledger:
        before = ledger.lessons(["M0-L001"])["M0-L001"]
        recorder = AnswerRecorder(Processing.of(ledger, out, work), Report(label="kept answers"))
        recorder.apply(parse_result_line(1, json.dumps(good).encode()), older_run)
        recorder.flush()
        after = ledger.lessons(["M0-L001"])["M0-L001"]

    assert (before.state, before.batch_id) == ("submitted", "batch_1")
    assert after == before
