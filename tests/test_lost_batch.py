"""A batch the API no longer knows (404) blocks nothing (issue 20, item 5).

A batch is lost to a work dir when the API answers 404 for it: a change of key or project, or a
local test server that was started again. Every other batch is still followed and processed;
the lost batch is shown as not found for this key and project; its lessons stay held (the batch
may live on under another key) until the user gives it up with the command the status prints,
after which they can be requested again. The local server never hands out an id twice, and the
ledger refuses a new batch whose id it already holds.
"""

from __future__ import annotations

import pytest

from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger, LedgerError
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import ScriptDriver, batches_per_lesson, write_curriculum

LOST, FOUND, UNTOUCHED = "M0-L001", "M0-L002", "M0-L003"


def lost_and_found(root, server) -> tuple[ScriptDriver, str, str]:
    """A work dir with batch A (lesson M0-L001) that the server then forgets, as after a restart
    or a change of key, and batch B (M0-L002) that the server knows."""
    project = ScriptDriver(root, server)
    write_curriculum(project.curriculum, ["One", "Two", "Three"])
    assert project.generate("--lessons", LOST, "--yes").returncode == 0
    lost = server.created_batches()[-1]["id"]
    server.reset()  # the server no longer knows batch A
    result = project.generate("--lessons", FOUND, "--yes")
    assert result.returncode == 0, result.stderr
    found = server.created_batches()[-1]["id"]
    return project, lost, found


def test_status_shows_the_lost_batch_as_not_found_and_the_other_one_as_usual(tmp_path, fake_openai):
    project, lost, found = lost_and_found(tmp_path, fake_openai)
    result = project.status()
    assert "Traceback" not in result.stderr
    lost_line = next(line for line in result.stdout.splitlines() if line.startswith(f"Batch {lost}:"))
    assert "NOT FOUND for this API key and project" in lost_line
    assert any(line.startswith(f"Batch {found}:") and "NOT FOUND" not in line for line in result.stdout.splitlines())
    assert result.returncode == 1


def test_status_prints_the_command_that_gives_the_lost_batch_up(tmp_path, fake_openai):
    project, lost, _found = lost_and_found(tmp_path, fake_openai)
    result = project.status()
    assert f"--give-up {lost}" in result.stdout


def test_watch_follows_the_other_batch_to_its_end(tmp_path, fake_openai):
    project, _lost, found = lost_and_found(tmp_path, fake_openai)
    result = project.watch()
    assert "Traceback" not in result.stderr
    assert fake_openai.batches[found]["status"] == "completed", result.stderr
    assert "Summary:" in result.stdout


def test_processing_saves_the_lessons_of_the_other_batch(tmp_path, fake_openai):
    project, lost, _found = lost_and_found(tmp_path, fake_openai)
    project.watch()
    result = project.process()
    assert "Traceback" not in result.stderr
    assert FOUND in project.saved_lessons(), result.stdout + result.stderr
    assert lost in result.stdout and "Not found for this API key and project" in result.stdout


def test_generate_wait_sees_the_other_batch_through(tmp_path, fake_openai):
    project = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(project.curriculum, ["One", "Two", "Three"])
    project.generate("--lessons", LOST, "--yes")
    fake_openai.reset()
    result = project.generate("--lessons", FOUND, "--yes", "--wait", "--interval", "0.01")
    assert "Traceback" not in result.stderr
    assert FOUND in project.saved_lessons(), result.stdout + result.stderr


def test_cancel_cancels_the_other_batches_and_names_the_lost_one(tmp_path, fake_openai):
    project, lost, found = lost_and_found(tmp_path, fake_openai)
    result = project.status("--cancel", "--yes")
    assert "Traceback" not in result.stderr
    assert fake_openai.batches[found]["status"] in ("cancelling", "cancelled")
    assert f"{lost} is not found for this API key and project" in result.stderr


def test_the_lost_batch_s_lessons_are_held_not_requested_again(tmp_path, fake_openai):
    project, _lost, _found = lost_and_found(tmp_path, fake_openai)
    project.watch()
    project.process()
    project.generate("--yes")
    assert batches_per_lesson(fake_openai)[LOST] == 0  # the server was reset: only batches made since count
    assert project.states()[LOST] == "submitted"
    assert batches_per_lesson(fake_openai)[UNTOUCHED] == 1  # the rest of the course is requested as usual


def test_giving_the_lost_batch_up_frees_its_lessons_for_the_next_run(tmp_path, fake_openai):
    project, lost, _found = lost_and_found(tmp_path, fake_openai)
    result = project.status("--give-up", lost, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.states()[LOST] == "pending"
    assert f"--lessons {LOST}" in result.stdout
    project.generate("--lessons", LOST, "--yes")
    assert batches_per_lesson(fake_openai)[LOST] == 1


def test_a_batch_the_api_still_knows_is_not_given_up(tmp_path, fake_openai):
    project, _lost, found = lost_and_found(tmp_path, fake_openai)
    result = project.status("--give-up", found, "--yes")
    assert result.returncode == 1
    assert project.states()[FOUND] == "submitted"
    assert "not given up" in result.stderr


def test_status_after_giving_up_does_not_ask_the_api_about_it_again(tmp_path, fake_openai):
    project, lost, _found = lost_and_found(tmp_path, fake_openai)
    project.status("--give-up", lost, "--yes")
    before = len([r for r in fake_openai.requests if r.path.endswith(lost)])
    result = project.status()
    assert len([r for r in fake_openai.requests if r.path.endswith(lost)]) == before
    assert f"Batch {lost}: given up" in result.stdout


# ---------------------------------------------------------------- ids never repeat


def test_a_restarted_local_server_never_hands_out_an_earlier_batch_or_file_id():
    seen = []
    for _restart in range(2):
        with FakeOpenAIServer() as server:
            import openai

            client = openai.OpenAI(api_key="sk-test-fake-key-0000", base_url=server.base_url, max_retries=0)
            line = (
                '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
                '"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}\n'
            )
            uploaded = client.files.create(file=("in.jsonl", line.encode()), purpose="batch")
            batch = client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            seen.append((uploaded.id, batch.id))
    assert seen[0][0] != seen[1][0]
    assert seen[0][1] != seen[1][1]


def _ledger_with_batch(tmp_path) -> Ledger:
    ledger = Ledger.open(tmp_path)
    for key, lesson in (("run1-s001", "M0-L001"), ("run2-s001", "M0-L002")):
        ledger.record_shard(
            shard_key=key, run_id=key[:4], model="gpt-4o-mini", input_path="in.jsonl", sha256="0" * 64,
            lessons=[(lesson, 1000, None)], prompt_tokens=10, output_tokens=10, required_sections=[],
        )
    ledger.shard_submitted("run1-s001", BatchInfo(id="batch_same", status="validating", input_file_id="file-1"))
    return ledger


def test_the_ledger_refuses_a_new_batch_whose_id_it_already_holds(tmp_path):
    with _ledger_with_batch(tmp_path) as ledger:
        with pytest.raises(LedgerError, match="already holds that id"):
            ledger.shard_submitted("run2-s001", BatchInfo(id="batch_same", status="validating", input_file_id="file-2"))
        assert ledger.lessons()["M0-L002"].state == "pending"
        assert ledger.batch("batch_same").shard_key == "run1-s001"


def test_the_ledger_takes_the_same_batch_again_for_the_same_request_file(tmp_path):
    with _ledger_with_batch(tmp_path) as ledger:
        ledger.shard_submitted("run1-s001", BatchInfo(id="batch_same", status="in_progress", input_file_id="file-1"))
        assert ledger.batch("batch_same").status == "in_progress"
