"""Flex answers that go wrong on the wire (issue 19, the gaps the mutation runs left open).

A flex request can come back 200 with a body that cannot be read (billed all the same), or get
no HTTP answer at all because the connection was lost (not a timeout). The local server plays
both per lesson (``flex.unreadable`` and ``flex.drop_connection``, tests/fake_openai/README.md);
the generate script runs with the real ``openai`` client against it, and "paid" means a request
the server answered 200.
"""

from __future__ import annotations

import importlib
import json

import pytest

from lesson_batch import api as api_module
from lesson_batch import models
from lesson_batch.ledger import Ledger
from lesson_batch.states import INVALID, NEEDS_ATTENTION, PENDING, SUCCEEDED
from tests.test_flex import MODEL, QUICK, Project, failed, ok

ENDPOINTS = {"chat": (), "responses": ("--endpoint", "responses")}


def _sending_module():
    """Where flex keeps its retry rules: ``lesson_batch.flex``, or ``lesson_batch.flex.send`` once
    flex is a package (issue 21 splits it while these tests are written)."""
    try:
        return importlib.import_module("lesson_batch.flex.send")
    except ModuleNotFoundError:
        return importlib.import_module("lesson_batch.flex")


SENDING = _sending_module()
MAX_SERVER_ERRORS = SENDING.MAX_SERVER_ERRORS  # retries after a 5xx or a lost connection


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario(QUICK)
    return Project(tmp_path, fake_openai)


def with_flex(**faults) -> dict:
    return {"flex": {**QUICK["flex"], **faults}}


def record(project: Project, lesson_id: str):
    with Ledger.open(project.work) as ledger:
        return ledger.lessons([lesson_id])[lesson_id]


def kept_answers(project: Project, run_id: str) -> list[dict]:
    """The lines the flex run kept in the work dir before processing them."""
    [path] = [path for path in (project.work / "flex").glob("*.jsonl") if run_id in path.name]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def flex_result(result) -> dict:
    return json.loads(result.stdout)["result"]["flex"]


# --------------------------------------------------------------------------- a 200 that cannot be read


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=list(ENDPOINTS))
def test_a_flex_answer_that_cannot_be_read_is_reported_counted_marked_invalid_and_kept(project, endpoint):
    project.server.set_scenario(with_flex(unreadable=["M0-L001"]))

    result = project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--json", *ENDPOINTS[endpoint])

    failed(result)
    report = flex_result(result)
    # Reported: the lesson as not saved, and why.
    assert report["results"]["failed"] == {"unreadable answer": ["M0-L001"]}
    [why] = report["results"]["bad_lines"]
    assert why.startswith("flex answer for M0-L001: ") and ("choices" in why or "output" in why)
    # Kept on disk before processing, as the API sent it.
    [kept] = kept_answers(project, report["run_id"])
    assert (kept["custom_id"], kept["response"]["status_code"]) == ("M0-L001", 200)
    usage = kept["response"]["body"]["usage"]
    assert usage[("completion_tokens", "output_tokens")[endpoint == "responses"]] > 0
    # Billed: its tokens are counted in the run's usage and cost, and recorded in the ledger.
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    assert (report["results"]["usage"]["prompt_tokens"], report["results"]["usage"]["completion_tokens"]) == (
        prompt, completion,
    )
    assert report["cost_usd"] == pytest.approx(models.batch_cost(MODEL, prompt, completion), abs=1e-6)
    assert report["results"]["actual_cost_usd"] == pytest.approx(report["cost_usd"], abs=1e-4)  # shown to 4 places
    with Ledger.open(project.work) as ledger:
        [answer] = ledger.flex_answers(report["run_id"])
    assert (answer.lesson_id, answer.prompt_tokens, answer.completion_tokens) == ("M0-L001", prompt, completion)
    # Marked invalid, with why, and counted as an attempt: paid once.
    lesson = record(project, "M0-L001")
    assert (lesson.state, lesson.attempts) == (INVALID, 1)
    assert lesson.reason.startswith("unreadable answer")
    assert project.paid() == {"M0-L001": 1}
    assert not (project.out / "M0-L001.md").exists()


def test_a_lesson_whose_flex_answer_could_not_be_read_is_requested_again_by_the_next_run(project):
    project.server.set_scenario(with_flex(unreadable={"M0-L001": 1}))
    failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    assert project.states() == {"M0-L001": SUCCEEDED}
    assert record(project, "M0-L001").attempts == 2
    assert project.paid() == {"M0-L001": 2}  # the unreadable answer was billed too


def test_an_unreadable_flex_answer_counts_towards_the_attempts_cap(project):
    project.server.set_scenario(with_flex(unreadable=["M0-L001"]))

    failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--max-attempts", "1"))

    assert project.states() == {"M0-L001": NEEDS_ATTENTION}  # at once, as processing a batch marks it
    out = project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--max-attempts", "1")
    assert project.paid() == {"M0-L001": 1}, out.stdout + out.stderr


# --------------------------------------------------------------------------- lost connections


@pytest.fixture
def quick_backoff(monkeypatch):
    """Retries after a lost connection wait ~1 s, 2 s, 4 s; here a hundredth of that."""
    monkeypatch.setattr(SENDING, "BACKOFF_BASE", 0.01)


def test_a_flex_request_whose_connection_is_lost_is_sent_again_and_paid_once(project, quick_backoff):
    project.server.set_scenario(with_flex(drop_connection={"M0-L001": MAX_SERVER_ERRORS}))

    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    # Every lost connection is retried, up to the server-error limit: the last try is answered.
    assert [entry.status for entry in project.server.chat_requests("M0-L001")] == [0] * MAX_SERVER_ERRORS + [200]
    assert project.states() == {"M0-L001": SUCCEEDED}
    assert project.paid() == {"M0-L001": 1}


def test_a_flex_request_whose_connection_is_always_lost_is_tried_up_to_the_limit_then_reported(
    project, quick_backoff
):
    project.server.set_scenario(with_flex(drop_connection=["M0-L001"]))

    out = failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    assert [entry.status for entry in project.server.chat_requests("M0-L001")] == [0] * (1 + MAX_SERVER_ERRORS)
    assert "no answer (they may have been paid; pending, requested again by the next run): 1: M0-L001" in out
    assert "stopped: the API could not serve the requests (cannot reach" in out
    assert "Traceback" not in out
    assert project.states() == {"M0-L001": PENDING}

    # The next run asks once more, and pays once.
    project.server.set_scenario(QUICK)
    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))
    assert [entry.status for entry in project.server.chat_requests("M0-L001")][-1:] == [200]
    assert len(project.server.chat_requests("M0-L001")) == 2 + MAX_SERVER_ERRORS
    assert project.paid() == {"M0-L001": 1}
    assert project.states() == {"M0-L001": SUCCEEDED}


def test_a_timed_out_flex_request_does_not_stop_the_run(project, monkeypatch):
    """No answer in time is not the API out of reach: the next lesson is still sent (each one
    here times out too), where a lost connection stops the run."""
    monkeypatch.setattr(api_module, "FLEX_TIMEOUT", 0.2)
    project.server.set_scenario(with_flex(latency_ms=600))

    out = failed(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))

    assert sorted(entry.lesson for entry in project.server.chat_requests()) == ["M0-L001", "M0-L002"]
    assert "no answer (they may have been paid; pending, requested again by the next run): 2: M0-L001, M0-L002" in out
    assert "stopped:" not in out
    assert project.states() == {"M0-L001": PENDING, "M0-L002": PENDING}


# --------------------------------------------------------------------------- a model without a price

UNPRICED = "gpt-7-nova"  # a model this version's catalogue does not know; the server serves it like gpt-5.1


def test_a_model_without_a_price_answered_at_another_tier_is_reported_at_an_unknown_price(project):
    """``--model`` names a model the catalogue has no price for, and the API serves the flex
    requests at the standard tier: every cost is unknown, said so, and nothing breaks."""
    assert models.lookup(UNPRICED).batch_price is None
    project.server.set_scenario(
        {"flex": {**QUICK["flex"], "served_tier": "default"}, "models": {UNPRICED: {"like": "gpt-5.1"}}}
    )

    result = project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes", "--json", "--model", UNPRICED)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    report = flex_result(result)
    assert report["saved"] == 2 and project.states() == {"M0-L001": SUCCEEDED, "M0-L002": SUCCEEDED}
    assert report["cost_usd"] is None
    assert sorted((entry["lesson_id"], entry["tier"], entry["extra_cost_usd"]) for entry in report["other_tier"]) == [
        ("M0-L001", "default", None), ("M0-L002", "default", None),
    ]
