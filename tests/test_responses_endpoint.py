"""``--endpoint responses``: batches and flex through the Responses API (issue 22).

The scripts run with the real ``openai`` client against the local server, which answers
``POST /v1/responses`` directly (flex) and in ``/v1/responses`` batches with the API's shapes and
per-model checks (tests/fake_openai/responses.py). What happened is read back from the request
files, the server's request log and batches, the lesson files and the run ledger.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest

from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger
from lesson_batch.lesson_text import required_sections_of
from lesson_batch.states import TRUNCATED
from tests.helpers import (
    BUNDLED_CURRICULUM,
    BUNDLED_TEMPLATE,
    PROCESS_SCRIPT,
    ScriptDriver,
    responses_message,
    responses_record,
    run_script,
    success_record,
)

KILLED = -signal.SIGKILL if hasattr(signal, "SIGKILL") else 137
MODEL = "gpt-6-luna"  # no shutdown date: the tests keep working whatever the calendar says
THREE = "M0-L001,M0-L002,M0-L003"
M1 = [f"M1-L{number:03d}" for number in range(1, 23)]
RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
SECTIONS = required_sections_of(BUNDLED_TEMPLATE.read_text(encoding="utf-8"))


class Project(ScriptDriver):
    """The bundled curriculum and template, a lessons folder and a work dir in a temporary folder."""

    def __init__(self, root: Path, server):
        super().__init__(root, server, curriculum=BUNDLED_CURRICULUM)

    def generate(self, *args, **options):
        return super().generate("--prompt-template", BUNDLED_TEMPLATE, "--model", MODEL, *args, timeout=180, **options)

    def planned(self) -> list[dict]:
        """The request lines of the last plan."""
        text = (self.work / "datagov_lessons_input.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    def paid(self) -> Counter:
        """Lessons answered 200 by ``POST /v1/responses`` (each one billed)."""
        return Counter(entry.lesson for entry in self.server.responses_requests() if entry.status == 200)


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario({"flex": {"latency_ms": 1}})
    return Project(tmp_path, fake_openai)


# --------------------------------------------------------------------------- requests


def test_a_responses_request_line_goes_to_v1_responses_with_instructions_input_and_max_output_tokens(project):
    ok(project.generate("--lessons", "M0-L001", "--endpoint", "responses", "--reasoning-effort", "low", "--dry-run"))
    (line,) = project.planned()
    assert line["url"] == RESPONSES and line["method"] == "POST" and line["custom_id"] == "M0-L001"
    body = line["body"]
    assert sorted(body) == ["input", "instructions", "max_output_tokens", "model", "reasoning"]
    assert body["instructions"].startswith("You are a senior data governance practitioner")
    assert "M0-L001" in body["input"] and "{lesson_id}" not in body["input"]
    assert (body["model"], body["max_output_tokens"], body["reasoning"]) == (MODEL, 16_000, {"effort": "low"})


def test_the_same_lesson_has_the_same_prompt_on_both_endpoints(project):
    ok(project.generate("--lessons", "M0-L001", "--dry-run"))
    (chat,) = project.planned()
    ok(project.generate("--lessons", "M0-L001", "--endpoint", "responses", "--dry-run"))
    (responses,) = project.planned()
    system, user = chat["body"]["messages"]
    assert (responses["body"]["instructions"], responses["body"]["input"]) == (system["content"], user["content"])


def test_a_model_offered_on_the_responses_api_only_goes_there_without_the_option(project):
    out = ok(project.generate("--lessons", "M0-L001", "--model", "gpt-5.4-pro", "--dry-run"))
    assert {line["url"] for line in project.planned()} == {RESPONSES}
    assert "Endpoint: /v1/responses (the Responses API; gpt-5.4-pro is offered on the Responses API only)" in out


def test_asking_for_chat_with_a_responses_only_model_is_a_usage_error(project):
    result = project.generate("--lessons", "M0-L001", "--model", "gpt-5.4-pro", "--endpoint", "chat", "--dry-run")
    assert result.returncode == 2
    assert "gpt-5.4-pro is offered on the Responses API only: use --endpoint responses" in result.stderr


def test_a_budget_below_the_responses_minimum_is_a_usage_error(project):
    result = project.generate("--endpoint", "responses", "--max-completion-tokens", "10", "--dry-run")
    assert result.returncode == 2 and "at least 16 (max_output_tokens)" in result.stderr


def test_an_effort_the_model_does_not_take_is_refused_on_the_responses_endpoint_too(project):
    result = project.generate("--model", "gpt-5.4-pro", "--reasoning-effort", "low", "--dry-run")
    assert result.returncode == 2 and "does not accept --reasoning-effort low" in result.stderr


# --------------------------------------------------------------------------- batches


def test_a_responses_batch_is_created_on_v1_responses_and_its_lessons_are_saved(project):
    out = ok(project.generate("--lessons", THREE, "--endpoint", "responses", "--yes", "--wait", "--interval", "0.01"))
    (batch,) = project.server.created_batches()
    assert batch["endpoint"] == RESPONSES
    assert {line["url"] for line in project.server.file_lines(batch["input_file_id"])} == {RESPONSES}
    assert project.saved_lessons() == set(THREE.split(","))
    assert "All requested lessons are saved." in out
    with Ledger.open(project.work) as ledger:
        assert [record.endpoint for record in ledger.batches()] == [RESPONSES]


def test_the_status_shows_a_batchs_endpoint(project):
    ok(project.generate("--lessons", "M0-L001", "--endpoint", "responses", "--yes"))
    (batch,) = project.status_json()["batches"]
    assert batch["endpoint"] == RESPONSES
    assert "  endpoint: /v1/responses" in ok(project.status())


def test_the_usage_of_responses_lines_is_counted(project):
    out = ok(project.generate("--lessons", THREE, "--endpoint", "responses", "--yes", "--wait", "--interval", "0.01"))
    (batch,) = project.server.created_batches()
    usage = batch["usage"]
    assert (
        f"tokens: {usage['input_tokens']:,} input ({usage['input_tokens_details']['cached_tokens']:,} cached), "
        f"{usage['output_tokens']:,} output ({usage['output_tokens_details']['reasoning_tokens']:,} reasoning)"
    ) in out
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0


def test_a_truncated_responses_answer_enters_the_truncation_ladder(project):
    project.server.set_scenario({"faults": {"truncate": {"M0-L002": 1}}})
    result = project.generate("--lessons", THREE, "--endpoint", "responses", "--yes", "--wait", "--interval", "0.01")
    assert result.returncode == 1 and "not saved (truncated): 1: M0-L002" in result.stdout
    assert project.states()["M0-L002"] == TRUNCATED
    ok(project.generate("--lessons", THREE, "--endpoint", "responses", "--dry-run"))
    (line,) = project.planned()
    assert (line["custom_id"], line["url"], line["body"]["max_output_tokens"]) == ("M0-L002", RESPONSES, 32_000)


def test_a_refusal_in_a_responses_batch_is_reported_with_its_text(project):
    project.server.set_scenario({"faults": {"refusal": ["M0-L001"]}})
    result = project.generate(
        "--lessons", "M0-L001", "--endpoint", "responses", "--yes", "--wait", "--interval", "0.01"
    )
    assert result.returncode == 1
    assert "M0-L001 refused: I'm very sorry, but I can't assist with that request." in result.stdout
    assert not project.saved_lessons()


# --------------------------------------------------------------------------- flex


def test_flex_sends_the_responses_bodies_of_the_plan_plus_the_flex_tier(project):
    out = ok(project.generate("--lessons", THREE, "--endpoint", "responses", "--via", "flex", "--yes"))
    assert 'Via flex: the Responses API with service_tier "flex"' in out
    planned = {line["custom_id"]: line["body"] for line in project.planned()}
    sent = {entry.lesson: entry.body for entry in project.server.responses_requests()}
    assert sent == {lesson_id: {**body, "service_tier": "flex"} for lesson_id, body in planned.items()}
    assert project.server.chat_requests() == []
    assert project.saved_lessons() == set(THREE.split(","))


def test_flex_answers_through_responses_are_recorded_with_their_tier_and_tokens(project):
    ok(project.generate("--lessons", THREE, "--endpoint", "responses", "--via", "flex", "--yes"))
    with Ledger.open(project.work) as ledger:
        answers = ledger.flex_answers()
    assert sorted(answer.lesson_id for answer in answers) == THREE.split(",")
    assert {answer.service_tier for answer in answers} == {"flex"}
    assert all(answer.completion_tokens > answer.reasoning_tokens > 0 for answer in answers)


def test_a_truncated_flex_answer_through_responses_gets_a_bigger_budget_next_time(project):
    project.server.set_scenario({"faults": {"truncate": {"M0-L001": 1}}, "flex": {"latency_ms": 1}})
    result = project.generate("--lessons", "M0-L001", "--endpoint", "responses", "--via", "flex", "--yes")
    assert result.returncode == 1 and "not saved (truncated): 1: M0-L001" in result.stdout
    ok(project.generate("--lessons", "M0-L001", "--endpoint", "responses", "--via", "flex", "--yes"))
    budgets = [entry.body["max_output_tokens"] for entry in project.server.responses_requests("M0-L001")]
    assert budgets == [16_000, 32_000] and project.saved_lessons() == {"M0-L001"}


# --------------------------------------------------------------------------- a line of the other API


def ledger_with_batch(work: Path, lesson_ids: list[str], endpoint: str) -> None:
    """A ledger as after submitting ``lesson_ids`` in one completed batch sent to ``endpoint``."""
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="s1", run_id="r1", model=MODEL, input_path=str(work / "in.jsonl"), sha256="0" * 64,
            lessons=[(lesson_id, 16_000, None) for lesson_id in lesson_ids], prompt_tokens=100, output_tokens=100,
            required_sections=SECTIONS, endpoint=endpoint,
        )
        ledger.shard_uploaded("s1", "file-in")
        ledger.shard_submitted("s1", BatchInfo(id="batch_1", status="completed", input_file_id="file-in"))


def process_lines(tmp_path: Path, endpoint: str, lines: list[dict]) -> tuple[dict, object]:
    work = tmp_path / "work"
    ledger_with_batch(work, [line["custom_id"] for line in lines], endpoint)
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", tmp_path / "lessons", "--json",
                        "--results-file", results, cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)["result"]["total"], result


def good_lesson(title: str = "A lesson") -> str:
    return f"# {title}\n" + "".join(f"\n## {section}\n\nText.\n" for section in SECTIONS)


def test_a_responses_line_in_a_chat_batch_is_reported_as_a_responses_object(tmp_path):
    line = responses_record("M0-L001", [responses_message(good_lesson())])
    summary, result = process_lines(tmp_path, CHAT, [line])
    assert summary["failed"] == {"responses_object": ["M0-L001"]} and summary["saved"] == 0
    assert "their lines are Responses API objects, but their batch was sent to /v1/chat/completions" in result.stderr
    assert not (tmp_path / "lessons" / "M0-L001.md").exists()
    with Ledger.open(tmp_path / "work") as ledger:
        reason = ledger.lessons()["M0-L001"].reason
    assert reason.startswith('responses_object: the line is a Responses API object ("object": "response")')


def test_the_reason_kept_for_a_line_of_the_other_api_names_its_batch_and_where_it_was_sent(tmp_path):
    """Issue 19: ``saving._expected`` 19 (the lesson's batch id lost on its way to the ledger)."""
    line = responses_record("M0-L001", [responses_message(good_lesson())])
    process_lines(tmp_path, CHAT, [line])
    with Ledger.open(tmp_path / "work") as ledger:
        reason = ledger.lessons()["M0-L001"].reason
    assert "but its batch batch_1 was sent to /v1/chat/completions" in reason, reason


def test_a_chat_line_in_a_responses_batch_is_reported_as_a_chat_object(tmp_path):
    summary, _result = process_lines(tmp_path, RESPONSES, [success_record("M0-L001", good_lesson())])
    assert summary["failed"] == {"chat_object": ["M0-L001"]} and summary["saved"] == 0


def test_a_responses_line_in_a_responses_batch_is_saved(tmp_path):
    line = responses_record("M0-L001", [responses_message(good_lesson("Defining Data Governance"))])
    summary, _result = process_lines(tmp_path, RESPONSES, [line])
    assert summary["saved"] == 1
    assert (tmp_path / "lessons" / "M0-L001.md").read_text(encoding="utf-8") == good_lesson("Defining Data Governance")


def test_a_content_filtered_responses_line_is_not_saved_and_its_text_kept_for_inspection(tmp_path):
    partial = "# A lesson\n\n## Overview\n\nThe start of"
    line = responses_record("M0-L001", [responses_message(partial)], status="incomplete",
                            incomplete_reason="content_filter")
    summary, _result = process_lines(tmp_path, RESPONSES, [line])
    assert summary["failed"] == {"content_filter": ["M0-L001"]}
    assert (tmp_path / "work" / "rejected" / "M0-L001.md").read_text(encoding="utf-8").startswith(partial)
