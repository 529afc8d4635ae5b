"""Flex: the planned requests sent straight to Chat Completions at the Batch price (issue 13).

The scripts run (tests/helpers.run_script) with the real ``openai`` client against the local server's
``POST /v1/chat/completions`` (flex latency, bursts of capacity 429s, a 400 for a model without
flex). What happened is read back from the scripts' output and exit codes, the lesson files, the
run ledger, and the server's request log: a chat request answered 200 is one the API would have
billed, so "paid once" means exactly one 200 per lesson in the log.

The bundled curriculum and template are used throughout (336 lessons; module M1 has 22).
"""

from __future__ import annotations

import importlib
import json
import random
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest

from lesson_batch import models
from lesson_batch.api import BatchApi, ChatReply
from lesson_batch.batch_info import CHAT_ENDPOINT
from lesson_batch.flex import STOP_CAPACITY, FlexSettings
from lesson_batch.flex.cost import worst_case_cost
from lesson_batch.flex.send import (
    ANSWER,
    CAPACITY,
    FATAL,
    LESSON_ERROR,
    MAX_RETRY_AFTER,
    MAX_SERVER_ERRORS,
    NOT_SENT,
    REFUSED,
    SERVER_ERROR,
    UNSUPPORTED,
    CapacityGate,
    FlexRequest,
    backoff_delay,
    classify,
    error_message,
    send,
)
from lesson_batch.generate_job import FlexUnavailableError, generate
from lesson_batch.ledger import Ledger
from lesson_batch.output import EventSink, Printer
from lesson_batch.plan import PlanOptions
from lesson_batch.requests import RequestSettings
from lesson_batch.states import FLEX, PENDING, SUBMITTED, SUCCEEDED
from lesson_batch.text.events import RunWords
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import (
    BUNDLED_CURRICULUM,
    BUNDLED_TEMPLATE,
    GENERATE_SCRIPT,
    REPO_ROOT,
    ScriptDriver,
    open_as_on_windows,
    script_env,
    start_python,
    wait_until,
    write_cacheable_template,
    write_curriculum,
)

KILLED = -signal.SIGKILL if hasattr(signal, "SIGKILL") else 137
MODEL = models.DEFAULT_MODEL
M1 = [f"M1-L{number:03d}" for number in range(1, 23)]
QUICK = {"flex": {"latency_ms": 1}}
# A model the product may believe takes flex, which this server refuses flex for.
NO_FLEX = {"flex": {"latency_ms": 1}, "models": {MODEL: {"flex": False}}}


class Project(ScriptDriver):
    """The bundled curriculum, a lessons folder and a work dir in a temporary folder."""

    def __init__(self, root: Path, server: FakeOpenAIServer):
        super().__init__(root, server, curriculum=BUNDLED_CURRICULUM)

    def args(self, *args) -> list:
        """The arguments of a generate run on the project."""
        return [
            "--curriculum", self.curriculum, "--prompt-template", BUNDLED_TEMPLATE,
            "--output-dir", self.out, "--work-dir", self.work, *args,
        ]

    def generate(self, *args, **options):
        return self.run(GENERATE_SCRIPT, *self.args(*args), timeout=180, **options)

    def saved(self) -> set[str]:
        return self.saved_lessons()

    def paid(self) -> Counter:
        """Requests answered 200 (billed) on Chat Completions or the Responses API, per lesson."""
        answered = [*self.server.chat_requests(), *self.server.responses_requests()]
        return Counter(entry.lesson for entry in answered if entry.status == 200)


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def failed(result) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario(QUICK)
    return Project(tmp_path, fake_openai)


# --------------------------------------------------------------------------- the whole curriculum


class TestWholeCurriculumWithCapacityRefusals:
    """336 lessons through flex while the server refuses a burst of requests every so often."""

    SCENARIO = {"flex": {"latency_ms": 1, "capacity_429": {"every": 25, "burst": 4}, "retry_after_s": 0.001}}

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, tmp_path_factory):
        with FakeOpenAIServer(cls.SCENARIO) as server:
            project = Project(tmp_path_factory.mktemp("flex336"), server)
            template = write_cacheable_template(project.root / "template.md")  # cached, and cache writes billed
            result = project.generate("--via", "flex", "--yes", "--concurrency", "8", "--prompt-template", template)
            status = json.loads(ok(project.status("--json")))["result"]
            yield project, result, status

    def test_every_lesson_is_saved(self, story):
        project, result, _status = story
        ok(result)
        assert len(project.saved()) == 336

    def test_every_lesson_is_paid_once(self, story):
        project, _result, _status = story
        paid = project.paid()
        assert len(paid) == 336 and set(paid.values()) == {1}

    def test_capacity_refusals_were_met_and_waited_out(self, story):
        project, result, _status = story
        refused = [entry for entry in project.server.chat_requests() if entry.status == 429]
        assert refused, "the scenario should have refused some requests"
        assert f"capacity refusals (429, not billed) waited out: {len(refused)}" in result.stdout

    def test_the_ledger_records_every_lesson_saved_by_the_flex_run(self, story):
        _project, _result, status = story
        assert status["lessons"]["succeeded"] == 336 and status["lessons"][FLEX] == 0
        (run,) = status["flex_runs"]
        assert run["answers"] == 336 and run["lessons"] == {SUCCEEDED: 336} and run["stop_reason"] is None

    def test_the_report_shows_the_cost_from_usage_next_to_the_estimate(self, story):
        _project, result, status = story
        (run,) = status["flex_runs"]
        assert run["cost_usd"] > 0
        assert f"cost at Batch prices: ${run['cost_usd']:,.2f}, of which cache writes $" in result.stdout
        assert "(estimated before submitting: $" in result.stdout

    def test_the_prompt_cache_writes_of_flex_answers_are_recorded_and_priced(self, story):
        _project, result, status = story
        (run,) = status["flex_runs"]
        written = run["usage"]["cache_write_tokens"]
        assert written > 0  # gpt-6.1-terra reports (and bills) cache writes
        assert f", {written:,} written to the prompt cache)" in result.stdout


# --------------------------------------------------------------------------- trying the prompt


def test_three_lessons_are_saved_in_one_run(project):
    out = ok(project.generate("--lessons", "M0-L001,M0-L002,M0-L003", "--via", "flex", "--yes"))
    assert project.saved() == {"M0-L001", "M0-L002", "M0-L003"}
    assert "All 3 lessons requested are saved." in out


def test_one_lesson_saved_is_said_in_the_singular(project):
    out = ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))
    assert project.saved() == {"M0-L001"}
    assert "The lesson requested is saved." in out
    assert "All 1 lesson" not in out


def test_a_lesson_flex_answers_400_for_is_held_for_a_person_and_not_sent_again_unchanged(project):
    project.server.set_scenario({**QUICK, "faults": {"fail_400": ["M0-L002"]}})
    first = project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes")
    again = project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes")

    assert first.returncode == 1 and "Traceback" not in first.stderr + again.stderr
    assert project.saved() == {"M0-L001"}
    assert [entry.status for entry in project.server.chat_requests("M0-L002")] == [400]
    assert "the same request would fail again (HTTP 400; held back): 1: M0-L002" in again.stdout
    assert project.states()["M0-L002"] == "needs_attention"


def test_flex_sends_the_bodies_of_the_batch_file_plus_the_flex_tier(project):
    ok(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))
    planned = {
        json.loads(line)["custom_id"]: json.loads(line)["body"]
        for line in (project.work / "datagov_lessons_input.jsonl").read_text(encoding="utf-8").splitlines()
    }
    sent = {entry.lesson: entry.body for entry in project.server.chat_requests()}
    assert sent == {lesson_id: {**body, "service_tier": "flex"} for lesson_id, body in planned.items()}


def test_flex_reads_the_request_file_as_utf8_whatever_the_systems_encoding(tmp_path, fake_openai, monkeypatch):
    """On a system whose locale is not UTF-8 (Windows' cp1252), a file opened as text would send
    (and pay for) a garbled prompt, or none."""
    fake_openai.set_scenario(QUICK)
    project = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(project.curriculum, ["Données publiques — l’accès, Ý et ő"])
    # (lesson_batch.flex.send, the module: the package's own ``send`` is the function of that name)
    monkeypatch.setattr(importlib.import_module("lesson_batch.flex.send"), "open", open_as_on_windows, raising=False)

    ok(project.generate("--via", "flex", "--yes"))

    (planned,) = (project.work / "datagov_lessons_input.jsonl").read_text(encoding="utf-8").splitlines()
    (sent,) = project.server.chat_requests()
    assert sent.body == {**json.loads(planned)["body"], "service_tier": "flex"}
    assert "Données publiques — l’accès, Ý et ő" in json.dumps(sent.body, ensure_ascii=False)


def test_flex_sends_each_lesson_at_the_effort_of_its_complexity_and_records_it(project):
    lessons = {"M1-L001": "low", "M1-L010": "medium", "M1-L020": "high"}  # tagged [F], [I], [A]
    out = ok(project.generate("--lessons", ",".join(lessons), "--via", "flex", "--yes",
                              "--reasoning-effort", "F=low,I=medium,A=high"))
    assert "effort by complexity: [F] low, [I] medium, [A] high" in out
    sent = {entry.lesson: entry.body["reasoning_effort"] for entry in project.server.chat_requests()}
    assert sent == lessons
    with Ledger.open(project.work) as ledger:
        assert {answer.lesson_id: answer.reasoning_effort for answer in ledger.flex_answers()} == lessons


def test_a_dry_run_says_it_would_go_through_flex_and_sends_nothing(project):
    out = ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--dry-run"))
    assert "Via flex:" in out and "billed at Batch prices" in out
    assert project.server.chat_requests() == []


def test_concurrency_without_flex_is_a_usage_error(project):
    result = project.generate("--concurrency", "4", "--dry-run")
    assert result.returncode == 2 and "--concurrency goes with --via flex" in result.stderr


# --------------------------------------------------------------------------- crash safety


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_a_run_killed_mid_way_is_finished_by_a_rerun_that_says_what_may_have_been_paid(project, endpoint):
    args = ("--modules", "M1", "--endpoint", endpoint, "--via", "flex", "--yes", "--concurrency", "4")
    first = project.generate(*args, crash_at="lesson_saved:6")
    assert first.returncode == KILLED
    in_flight = [lesson_id for lesson_id, state in project.states().items() if state == FLEX]
    assert in_flight, "the killed run should have left lessons in flight"

    kept = {  # answers the killed run received and kept on disk before writing their lessons
        json.loads(line)["custom_id"]
        for path in (project.work / "flex").glob("*.jsonl") for line in path.read_text(encoding="utf-8").splitlines()
    } & set(in_flight)

    out = ok(project.generate(*args))

    if kept:
        assert f"{len(kept)} answers an earlier flex run received (and paid for) were kept" in out
    if set(in_flight) - kept:
        assert f"{len(set(in_flight) - kept)} lessons were in flight by flex when an earlier run stopped" in out
    assert project.saved() == set(M1)
    assert {lesson_id for lesson_id, state in project.states().items() if state == SUCCEEDED} == set(M1)
    paid_twice = [lesson_id for lesson_id, count in project.paid().items() if count > 1]
    assert set(paid_twice) <= set(in_flight) - kept and max(project.paid().values()) <= 2


def test_a_rerun_after_a_kill_does_not_request_lessons_whose_file_was_written(project):
    project.generate("--modules", "M1", "--via", "flex", "--yes", "--concurrency", "1", crash_at="lesson_saved:3")
    written = project.saved()
    ok(project.generate("--modules", "M1", "--via", "flex", "--yes"))
    assert all(project.paid()[lesson_id] == 1 for lesson_id in written)
    assert {lesson_id for lesson_id, state in project.states().items() if state == SUCCEEDED} == set(M1)


def test_ctrl_c_lets_requests_in_flight_finish_records_them_and_a_rerun_continues(project):
    project.server.set_scenario({"flex": {"latency_ms": 150}})
    args = project.args("--modules", "M1", "--via", "flex", "--yes", "--concurrency", "3")
    with open(project.root / "stdout.txt", "w+", encoding="utf-8") as out, \
            open(project.root / "stderr.txt", "w+", encoding="utf-8") as err:
        process = start_python(REPO_ROOT / GENERATE_SCRIPT, *args, cwd=project.root, env=script_env(project.env()),
                               stdout=out, stderr=err)
        wait_until(lambda: len(project.saved()) >= 3 or process.poll() is not None, "three lessons are saved", 60)
        assert len(project.saved()) >= 3, "the run ended before lessons were saved"
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()

    assert process.returncode == 1, stdout + stderr
    assert "Interrupted" in stderr and "stopped: interrupted (Ctrl-C)" in stdout
    states = project.states()
    assert FLEX not in states.values(), "every request in flight should have finished within the grace period"
    assert {lesson_id for lesson_id, state in states.items() if state == SUCCEEDED} == project.saved()
    assert set(project.saved()) < set(M1)

    project.server.set_scenario(QUICK)
    ok(project.generate("--modules", "M1", "--via", "flex", "--yes"))
    assert project.saved() == set(M1) and set(project.paid().values()) == {1}


def test_flex_never_sends_a_lesson_that_is_in_an_unprocessed_batch(project):
    project.server.set_scenario({"flex": {"latency_ms": 1}, "batches": ["stuck"]})
    ok(project.generate("--lessons", "M0-L001,M0-L002", "--yes"))
    out = ok(project.generate("--lessons", "M0-L001,M0-L002,M0-L003", "--via", "flex", "--yes"))
    assert "in a batch not yet processed (skipped): 2" in out
    assert [entry.lesson for entry in project.server.chat_requests()] == ["M0-L003"]


def test_the_ledger_refuses_to_send_through_flex_a_lesson_in_a_batch_or_in_flight(tmp_path):
    with Ledger.open(tmp_path) as ledger:
        ledger.note_pending(["M0-L001", "M0-L002"])
        assert ledger.flex_sending("flex-a", "M0-L001", force=False)
        assert not ledger.flex_sending("flex-b", "M0-L001", force=False)
        ledger.record_shard("s1", "r", MODEL, "in.jsonl", "x", [("M0-L002", 100, None)], 1, 1, [])
        ledger.shard_submitted("s1", _batch_info("batch_1"))
        assert not ledger.flex_sending("flex-a", "M0-L002", force=False)
        assert ledger.lessons()["M0-L002"].state == SUBMITTED


def test_a_lesson_in_flight_by_flex_is_left_out_of_a_batch_plan(project):
    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))  # makes the ledger
    with Ledger.open(project.work) as ledger:
        ledger.note_pending(["M0-L002"])
        ledger.flex_sending("flex-elsewhere", "M0-L002", force=False)
    out = ok(project.generate("--lessons", "M0-L002,M0-L003", "--dry-run"))
    assert "in flight by flex (skipped): 1" in out and "to request: 1" in out


def _batch_info(batch_id):
    from lesson_batch.batch_info import BatchInfo

    return BatchInfo(id=batch_id, status="validating")


# --------------------------------------------------------------------------- when flex cannot serve


def test_a_model_without_flex_stops_the_run_after_one_request(project):
    project.server.set_scenario(NO_FLEX)
    out = failed(project.generate("--modules", "M1", "--via", "flex", "--yes"))
    assert f"{MODEL} does not take flex" in out
    assert len(project.server.chat_requests()) <= 1
    assert project.saved() == set() and set(project.states().values()) == {PENDING}


def test_a_model_the_catalogue_says_has_no_flex_sends_nothing(tmp_path, fake_openai, monkeypatch):
    monkeypatch.setattr(models, "supports_flex", lambda model: False)
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=("M0-L001",),
    )
    with Ledger.open(options.work_dir) as ledger, pytest.raises(FlexUnavailableError, match="does not take flex"):
        generate(options, ledger, BatchApi("sk-test", base_url=fake_openai.base_url), via="flex")
    assert fake_openai.chat_requests() == []


def test_fallback_batch_submits_what_flex_could_not_take_in_the_same_run(project):
    project.server.set_scenario(NO_FLEX)
    out = ok(project.generate("--modules", "M1", "--via", "flex", "--fallback", "batch", "--yes",
                              "--wait", "--interval", "0.01"))
    assert "--fallback batch" in out and "All requested lessons are saved." in out
    (batch,) = project.server.created_batches()
    assert sorted(line["custom_id"] for line in project.server.file_lines(batch["input_file_id"])) == M1
    assert project.saved() == set(M1) and len(project.server.chat_requests()) <= 1


def test_capacity_refusals_that_go_on_stop_the_run_and_the_rest_goes_in_a_batch(tmp_path, fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 1_000_000, "retry_after_s": 0.001}})
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=("M0-L001", "M0-L002"),
    )
    said = []
    with Ledger.open(options.work_dir) as ledger:
        outcome = generate(
            options, ledger, BatchApi("sk-test", base_url=fake_openai.base_url), via="flex",
            flex=FlexSettings(patience_seconds=0, min_refusals=3), fallback_batch=True,
            events=EventSink(Printer(out=said.append), RunWords()),
        )
    assert outcome.flex.stop_reason == STOP_CAPACITY and sorted(outcome.flex.not_sent) == ["M0-L001", "M0-L002"]
    assert any("flex had no capacity" in line for line in said)
    (batch,) = fake_openai.created_batches()
    sent = sorted(line["custom_id"] for line in fake_openai.file_lines(batch["input_file_id"]))
    assert sent == ["M0-L001", "M0-L002"]


# --------------------------------------------------------------------------- cost


def test_max_cost_stops_sending_before_the_next_request_could_pass_it(project):
    one_request_at_most = models.batch_cost(MODEL, 2_000, models.default_budget(MODEL))
    limit = round(3 * one_request_at_most, 4)
    out = failed(project.generate("--modules", "M1", "--via", "flex", "--yes", "--concurrency", "1",
                                  "--max-cost", str(limit)))
    assert "stopped: --max-cost" in out
    paid = project.paid()
    assert 0 < len(paid) < len(M1)
    with Ledger.open(project.work) as ledger:
        cost = sum(
            models.answer_cost(MODEL, a.prompt_tokens, a.completion_tokens, a.cached_tokens, a.service_tier,
                               a.cache_write_tokens)
            for a in ledger.flex_answers()
        )
    assert cost <= limit
    states = project.states()
    assert {lesson_id for lesson_id, state in states.items() if state == PENDING} == set(M1) - set(paid)



def test_the_ledger_records_that_a_flex_run_finished_and_why_it_stopped(project):
    """A cap below the worst case of one request: nothing is sent, and the run is recorded as
    finished, stopped by --max-cost (not as a run that died on the way)."""
    out = failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--max-cost", "0.000001"))
    assert "stopped: --max-cost" in out and project.server.chat_requests() == []

    (run,) = json.loads(ok(project.status("--json")))["result"]["flex_runs"]

    assert run["stop_reason"] == "max_cost" and run["finished_at"] is not None


def flex_spend(project: Project) -> float:
    """What the flex answers in the ledger cost, each at the price of the tier it was served at."""
    with Ledger.open(project.work) as ledger:
        return sum(
            models.answer_cost(MODEL, a.prompt_tokens, a.completion_tokens, a.cached_tokens, a.service_tier)
            for a in ledger.flex_answers()
        )


def test_max_cost_counts_the_worst_case_of_every_request_in_flight_at_any_concurrency(project):
    """Each answer uses its whole output budget (the fake model is cut off at the limit), so every
    request sent costs its worst case: with room for 3.5 of them, 3 may be sent, whatever the
    concurrency. Counting only the next request, not those in flight, would send 8 at a time."""
    project.server.set_scenario({"flex": {"latency_ms": 1}, "faults": {"truncate": M1}})
    one_request_at_most = models.batch_cost(MODEL, 2_000, models.default_budget(MODEL))
    limit = round(3.5 * one_request_at_most, 4)

    out = failed(project.generate("--modules", "M1", "--via", "flex", "--yes", "--concurrency", "8",
                                  "--max-cost", str(limit)))

    assert "stopped: --max-cost" in out
    assert sum(project.paid().values()) == 3
    assert f"not sent (pending, nothing paid): {len(M1) - 3}: M1-L004, " in out  # every one, in order
    assert flex_spend(project) <= limit
    pending = {lesson_id for lesson_id, state in project.states().items() if state == PENDING}
    assert pending == set(M1) - set(project.paid())


def test_a_flex_runs_json_result_gives_the_plans_estimate_next_to_the_cost(project):
    result = json.loads(ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--json")))["result"]

    estimate = result["plan"]["estimate"]["cost_usd"]
    assert estimate > 0
    flex = result["flex"]
    assert flex["estimated_cost_usd"] == pytest.approx(estimate, abs=0.00005)  # (rounded to 4 places)
    assert flex["results"]["estimated_cost_usd"] == pytest.approx(estimate, abs=0.00005)
    assert flex["cost_usd"] > 0


def test_an_answer_served_at_standard_tier_is_reported_with_the_price_difference(project):
    project.server.set_scenario({"flex": {"latency_ms": 1, "served_tier": "default"}})
    out = ok(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))
    assert "served at another tier than flex (default), and billed at its price: 2: M0-L001, M0-L002" in out
    assert "more than at flex prices" in out and "cost of this run:" in out



def batch_rate_cost(answer) -> float:
    """One answer at the catalogue's Batch prices (flex is billed at those)."""
    price = models.price_of(MODEL)
    uncached = answer.prompt_tokens - answer.cached_tokens
    return (uncached * price.input + answer.cached_tokens * price.cached_input
            + answer.completion_tokens * price.output) / 1_000_000


def test_answers_served_at_standard_tier_are_counted_at_standard_prices_in_the_report(project):
    """Standard prices are twice the Batch ones: a run whose two answers both came back at the
    "default" tier cost twice their Batch price, and the extra is their Batch price once."""
    # Long lessons, so that the amounts show in cents.
    project.server.set_scenario({"flex": {"latency_ms": 1, "served_tier": "default"}, "lesson_bytes": 40_000})

    out = ok(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))

    with Ledger.open(project.work) as ledger:
        answers = ledger.flex_answers()
    assert [a.service_tier for a in answers] == ["default", "default"]
    at_batch_rates = sum(batch_rate_cost(a) for a in answers)
    assert at_batch_rates >= 0.04  # the amounts below differ in cents
    assert f"cost of this run: ${2 * at_batch_rates:,.2f}" in out
    assert f"(${at_batch_rates:,.2f} more than at flex prices)" in out
    assert flex_spend(project) == pytest.approx(2 * at_batch_rates)


def test_max_cost_counts_an_answer_served_at_standard_tier_at_its_standard_price(project):
    """With room for 3.5 requests at Batch prices and answers that cost their whole budget at
    standard prices (twice as much), the first answer costs two of them; once the API has served an
    answer at the standard tier, the next request is counted at standard prices too (two more), so
    none is sent: the cap is never passed."""
    project.server.set_scenario({"flex": {"latency_ms": 1, "served_tier": "default"}, "faults": {"truncate": M1}})
    one_request_at_most = models.batch_cost(MODEL, 2_000, models.default_budget(MODEL))
    limit = round(3.5 * one_request_at_most, 4)

    out = failed(project.generate("--modules", "M1", "--via", "flex", "--yes", "--concurrency", "1",
                                  "--max-cost", str(limit)))

    assert "stopped: --max-cost" in out
    assert sum(project.paid().values()) == 1


# --------------------------------------------------------------------------- the results path


def test_a_truncated_answer_gets_a_larger_budget_on_the_next_run(project):
    project.server.set_scenario({"flex": {"latency_ms": 1}, "faults": {"truncate": {"M0-L002": 1}}})
    out = failed(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))
    assert "not saved (truncated): 1: M0-L002" in out
    ok(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))
    budgets = [entry.body["max_completion_tokens"] for entry in project.server.chat_requests("M0-L002")]
    assert budgets[1] > budgets[0] and project.saved() == {"M0-L001", "M0-L002"}


def test_a_truncated_answer_at_the_top_of_the_budget_ladder_is_retried_one_effort_below_its_own(project):
    """Its budget cannot grow: the retry runs at the next effort below the one the answer ran at
    (not below the model's default, which would send the same request again, to be cut off again)."""
    top = models.ladder_cap(MODEL, models.default_budget(MODEL))
    project.server.set_scenario({"flex": {"latency_ms": 1}, "faults": {"truncate": {"M0-L001": 1}}})
    failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--reasoning-effort", "low",
                            "--max-completion-tokens", str(top)))
    with Ledger.open(project.work) as ledger:
        record = ledger.lessons(["M0-L001"])["M0-L001"]
    assert (record.retry_budget, record.retry_effort) == (top, "none")


def test_status_shows_flex_lessons_alongside_batch_ones(project):
    project.server.set_scenario({"flex": {"latency_ms": 1}, "advance": "time", "seconds_per_step": 0.01})
    ok(project.generate("--lessons", "M0-L001,M0-L002", "--via", "flex", "--yes"))
    ok(project.generate("--lessons", "M0-L003", "--yes", "--wait", "--interval", "0.01"))
    status = json.loads(ok(project.status("--json")))["result"]
    assert len(status["batches"]) == 1 and len(status["flex_runs"]) == 1
    assert status["flex_runs"][0]["lessons"] == {SUCCEEDED: 2} and status["lessons"][SUCCEEDED] == 3
    text = ok(project.status())
    assert "Batch batch_" in text and "Flex run flex-" in text and "Lessons: 3 succeeded" in text


# --------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    "status, error, kind",
    [
        (200, None, ANSWER),
        (429, {"code": "resource_unavailable", "message": "Resource Unavailable"}, CAPACITY),
        (429, {"code": "insufficient_quota", "message": "You exceeded your current quota"}, FATAL),
        (400, {"param": "service_tier", "message": "Unsupported service_tier: flex"}, UNSUPPORTED),
        (400, {"message": "Unsupported service_tier: flex"}, UNSUPPORTED),
        (400, {"param": "messages", "message": "Invalid content"}, LESSON_ERROR),
        (400, {"param": "service_tier", "message": "Invalid value: 'flex'."}, UNSUPPORTED),
        (400, "Bad request", LESSON_ERROR),  # an error that is not an object
        (401, {"code": "invalid_api_key", "message": "Incorrect API key provided"}, FATAL),
        (403, {"code": "unsupported_country_region_territory", "message": "Country not supported"}, FATAL),
        (404, {"code": "model_not_found", "message": "The model does not exist"}, FATAL),
        (408, {"message": "Request timed out"}, SERVER_ERROR),
        (409, {"message": "Conflict"}, SERVER_ERROR),
        (410, {"message": "Gone"}, LESSON_ERROR),
        (500, {"message": "The server had an error"}, SERVER_ERROR),
        (503, {"message": "overloaded"}, SERVER_ERROR),
    ],
)
def test_classify_tells_what_an_answer_means_for_the_run(status, error, kind):
    assert classify(ChatReply(status, {"error": error} if error else {"choices": []})) == kind


def test_backoff_honours_retry_after_and_adds_jitter():
    rng = random.Random(7)
    delays = [backoff_delay(1, 2.0, rng) for _ in range(50)]
    assert min(delays) >= 2.0 and max(delays) <= 2.5 and len(set(delays)) > 1


def test_backoff_without_a_hint_grows_and_is_capped():
    rng = random.Random(7)
    assert backoff_delay(1, None, rng) <= 1.0 < backoff_delay(3, None, rng) <= 4.0
    assert backoff_delay(30, None, rng) <= 120.0


def test_backoff_without_a_hint_doubles_from_one_second_less_a_quarter_at_most():
    """Retry n waits between three quarters of 2**(n-1) seconds and all of it (up to the cap)."""
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 64.0), (8, 120.0), (40, 120.0)]:
        delay = backoff_delay(attempt, None, rng)
        assert 0.75 * ceiling <= delay <= ceiling, (attempt, delay)


@pytest.mark.parametrize("retry_after", [0.0, MAX_RETRY_AFTER])
def test_backoff_believes_a_retry_after_hint_at_either_end_of_its_range(retry_after):
    """``retry-after: 0`` means now, and the longest believable hint is waited out too (plus jitter)."""
    delay = backoff_delay(5, retry_after, random.Random(7))
    assert retry_after <= delay <= 1.25 * retry_after


@pytest.mark.parametrize(
    "reply, said",
    [
        (None, ""),  # a request given up before any answer (flex gave up while it waited)
        (ChatReply(400, {"error": {"message": "Unsupported service_tier: flex", "param": "service_tier"}}),
         "400 Unsupported service_tier: flex"),
        (ChatReply(503, {"error": {"code": "overloaded"}}), "503"),
        (ChatReply(502, {"error": "Bad gateway"}), "502"),
    ],
    ids=["no reply", "message", "no message", "error not an object"],
)
def test_why_a_run_stopped_is_the_status_and_the_message_of_the_answer_that_stopped_it(reply, said):
    assert error_message(reply) == said


def test_the_worst_case_of_a_request_is_its_whole_prompt_written_to_the_cache_and_its_whole_budget():
    """For a model that bills prompt-cache writes (above the input price), the cap counts every
    prompt token at the cache-write price: the first request of a run may well write all of it."""
    assert models.bills_cache_writes(MODEL) and models.cache_write_price(MODEL) > models.price_of(MODEL).input
    request = FlexRequest("M0-L001", {}, budget=16_000, effort=None, prompt_tokens=2_000)
    worst = (2_000 * models.cache_write_price(MODEL) + 16_000 * models.price_of(MODEL).output) / 1_000_000
    assert worst_case_cost(MODEL, request) == pytest.approx(worst)


def test_the_capacity_gate_gives_up_only_after_enough_refusals_and_no_answer_for_long_enough():
    now = [0.0]
    gate = CapacityGate(patience=60, min_refusals=3, clock=lambda: now[0])
    assert not gate.refused() and not gate.refused() and not gate.refused()  # too soon
    now[0] = 61
    assert gate.refused()


def test_the_capacity_gate_counts_the_time_since_the_last_answer_and_gives_up_right_at_its_thresholds():
    """Give up on flex (and send the rest in a batch) exactly when ``min_refusals`` refusals in a
    row have come ``patience`` seconds after the last answer served: neither a refusal nor a second
    earlier, and whatever the clock read when the run began."""
    now = [1000.0]
    recent = CapacityGate(patience=60, min_refusals=3, clock=lambda: now[0])
    now[0] = 1030  # 30 s after the last answer: too soon, however many refusals
    assert [recent.refused() for _ in range(4)] == [False, False, False, False]
    assert recent.total == 4

    now[0] = 1000.0
    late = CapacityGate(patience=60, min_refusals=3, clock=lambda: now[0])
    now[0] = 1060  # exactly the patience since the last answer
    assert [late.refused() for _ in range(3)] == [False, False, True]  # the third refusal in a row

    now[0] = 1000.0
    served = CapacityGate(patience=60, min_refusals=3, clock=lambda: now[0])
    now[0] = 1050
    served.served()  # an answer: the patience counts from here
    now[0] = 1100
    assert [served.refused() for _ in range(3)] == [False, False, False]
    now[0] = 1110
    assert served.refused()


class _NoApi:
    def flex_completion(self, *request):
        raise AssertionError("a request was sent after flex gave up")


def test_a_request_whose_turn_comes_after_flex_gave_up_is_not_sent_and_comes_back_refused():
    """Requests waiting to be retried when another request's refusal makes the run give up on flex
    are not sent (not paid): each comes back ``refused``, with its lesson, for the fallback batch."""
    gate = CapacityGate(patience=0, min_refusals=1, clock=lambda: 0.0)
    assert gate.refused()  # another request's refusal: the run gives up on flex
    request = FlexRequest("M0-L001", {"model": MODEL}, 16_000, None, 100)

    outcome = send(_NoApi(), request, threading.Event(), gate, random.Random(1), CHAT_ENDPOINT)

    assert (outcome.request, outcome.kind) == (request, REFUSED)


class _ScriptedApi:
    """Answers a flex request with each of ``replies`` in turn."""

    def __init__(self, *replies: ChatReply):
        self.replies, self.calls = list(replies), 0

    def flex_completion(self, body, endpoint):
        self.calls += 1
        return self.replies.pop(0)


class _Waits:
    """``halt`` for ``send``: records each wait before a retry, and never halts."""

    def __init__(self):
        self.delays = []

    def wait(self, delay):
        self.delays.append(delay)
        return False


REFUSAL = ChatReply(429, {"error": {"code": "resource_unavailable", "message": "Resource Unavailable"}})
ANSWERED = ChatReply(200, {"object": "chat.completion", "choices": []})
FLEX_REQUEST = FlexRequest("M0-L001", {"model": MODEL}, 16_000, None, 100)


def test_capacity_refusals_without_a_hint_are_retried_after_a_backoff_that_doubles():
    api, waits = _ScriptedApi(REFUSAL, REFUSAL, REFUSAL, REFUSAL, ANSWERED), _Waits()
    gate = CapacityGate(patience=3600, min_refusals=100)

    outcome = send(api, FLEX_REQUEST, waits, gate, random.Random(7), CHAT_ENDPOINT)

    assert (outcome.kind, outcome.reply, api.calls) == (ANSWER, ANSWERED, 5)
    assert len(waits.delays) == 4
    for attempt, delay in enumerate(waits.delays):
        assert 0.75 * 2**attempt <= delay <= 2**attempt, waits.delays


def test_the_refusal_after_which_the_run_gives_up_on_flex_comes_back_with_the_api_answer():
    """The run tells why it stopped from that answer (its status and message)."""
    api, waits = _ScriptedApi(REFUSAL, REFUSAL), _Waits()

    outcome = send(api, FLEX_REQUEST, waits, CapacityGate(patience=0, min_refusals=2), random.Random(7), CHAT_ENDPOINT)

    assert (outcome.kind, outcome.reply, api.calls, len(waits.delays)) == (REFUSED, REFUSAL, 2, 1)


def test_a_server_error_is_retried_max_server_errors_times_then_fails_the_lesson():
    overloaded = ChatReply(503, {"error": {"message": "overloaded"}})
    api, waits = _ScriptedApi(*[overloaded] * 10), _Waits()

    outcome = send(api, FLEX_REQUEST, waits, CapacityGate(patience=0, min_refusals=1), random.Random(7), CHAT_ENDPOINT)

    assert (outcome.kind, outcome.reply) == (SERVER_ERROR, overloaded)
    assert (api.calls, len(waits.delays)) == (1 + MAX_SERVER_ERRORS, MAX_SERVER_ERRORS)


def test_a_server_errors_retry_after_hint_is_honoured():
    api, waits = _ScriptedApi(ChatReply(503, {"error": {"message": "overloaded"}}, retry_after=5.0), ANSWERED), _Waits()

    outcome = send(api, FLEX_REQUEST, waits, CapacityGate(patience=0, min_refusals=1), random.Random(7), CHAT_ENDPOINT)

    assert outcome.kind == ANSWER and len(waits.delays) == 1
    assert 5.0 <= waits.delays[0] <= 1.25 * 5.0


def test_a_capacity_refusals_retry_after_hint_is_honoured():
    hinted = ChatReply(429, {"error": {"code": "resource_unavailable", "message": "Resource Unavailable"}},
                       retry_after=5.0)
    api, waits = _ScriptedApi(hinted, ANSWERED), _Waits()

    outcome = send(api, FLEX_REQUEST, waits, CapacityGate(patience=3600, min_refusals=100), random.Random(7),
                   CHAT_ENDPOINT)

    assert outcome.kind == ANSWER and len(waits.delays) == 1
    assert 5.0 <= waits.delays[0] <= 1.25 * 5.0


class _Halted(_Waits):
    """The run stops while the request waits to be retried."""

    def wait(self, delay):
        super().wait(delay)
        return True


def test_a_request_waiting_to_be_retried_when_the_run_stops_comes_back_not_sent():
    api = _ScriptedApi(REFUSAL, ANSWERED)

    outcome = send(api, FLEX_REQUEST, _Halted(), CapacityGate(patience=3600, min_refusals=100), random.Random(7),
                   CHAT_ENDPOINT)

    assert (outcome.request, outcome.kind, api.calls) == (FLEX_REQUEST, NOT_SENT, 1)


def test_an_answer_resets_the_capacity_gate():
    now = [100.0]
    gate = CapacityGate(patience=0, min_refusals=2, clock=lambda: now[0])
    gate.refused()
    gate.served()
    assert not gate.refused()

