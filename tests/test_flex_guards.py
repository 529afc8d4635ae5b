"""Flex rules that guard the money when a run is killed, times out or races another (issue 19).

Each test here stands for a deliberate bug that once passed the whole suite: a ``--force``
regeneration lost after a kill, a timed-out (possibly billed) request not counted as an attempt,
a lesson sent through flex although a batch holds it, and ``--force`` or ``--limit`` in a dry
run ignoring lessons in flight through flex. As in tests/test_flex.py, the scripts run with the
real ``openai`` client against the local server, and "paid" means an answered chat request in
the server's log.
"""

from __future__ import annotations

import threading

import pytest

from lesson_batch import api as api_module
from lesson_batch.api import BatchApi
from lesson_batch.batch_info import BatchInfo
from lesson_batch.flex import FlexSettings, FlexStopping, run_flex
from lesson_batch.ledger import Ledger
from lesson_batch.output import Printer
from lesson_batch.plan import PlanOptions, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.saving import Processing
from lesson_batch.states import FLEX, PENDING, SUBMITTED, SUCCEEDED
from tests.helpers import BUNDLED_CURRICULUM, BUNDLED_TEMPLATE
from tests.test_flex import KILLED, MODEL, QUICK, Project, failed, ok


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario(QUICK)
    return Project(tmp_path, fake_openai)


def attempts(project: Project, lesson_id: str) -> int:
    with Ledger.open(project.work) as ledger:
        return ledger.lessons([lesson_id])[lesson_id].attempts


# --------------------------------------------------------------------------- 7. a killed --force run


def test_a_killed_force_run_is_not_taken_as_saved_from_the_old_file(project):
    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))
    lesson = project.out / "M0-L001.md"
    old_version = lesson.read_text(encoding="utf-8") + "\nAn old version the user wants replaced.\n"
    lesson.write_text(old_version, encoding="utf-8")

    killed = project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--force", crash_at="flex_sent")
    assert killed.returncode == KILLED
    assert project.states() == {"M0-L001": FLEX}  # in flight by the dead run; its old file still there

    # Any next run settles what the dead one left in flight; this one is about another lesson.
    out = ok(project.generate("--lessons", "M0-L002", "--via", "flex", "--yes"))

    assert "0 of them had been saved; the other 1 are pending and requested again" in out
    assert project.states()["M0-L001"] == PENDING, "the old file was taken for the regeneration asked for"

    # The same command as the killed run then regenerates it.
    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--force"))
    assert len(project.server.chat_requests("M0-L001")) == 2
    assert "An old version" not in lesson.read_text(encoding="utf-8")
    assert project.states()["M0-L001"] == SUCCEEDED


def test_a_killed_run_without_force_is_taken_as_saved_when_its_file_was_written(project):
    """The other side of the rule above: a lesson asked for without --force had no file when it
    was sent, so a file found after the kill is the answer of that very request."""
    first = project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", crash_at="lesson_saved")
    assert first.returncode == KILLED and project.states() == {"M0-L001": FLEX}

    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    assert len(project.server.chat_requests("M0-L001")) == 1
    assert project.states() == {"M0-L001": SUCCEEDED}


# --------------------------------------------------------------------------- 8. a timed-out request


def test_a_timed_out_flex_request_counts_as_an_attempt(project, monkeypatch):
    # The server answers after 2 s; the client gives up after a fifth of a second. The request
    # ran (the server's log has it answered): it may well be billed.
    monkeypatch.setattr(api_module, "FLEX_TIMEOUT", 0.2)
    project.server.set_scenario({"flex": {"latency_ms": 2000}})

    out = failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    assert "no answer (they may have been paid; pending, requested again by the next run): 1: M0-L001" in out
    assert [entry.status for entry in project.server.chat_requests("M0-L001")] == [200]
    assert project.states() == {"M0-L001": PENDING}
    assert attempts(project, "M0-L001") == 1


def test_timed_out_flex_requests_count_towards_the_attempts_cap(project, monkeypatch):
    monkeypatch.setattr(api_module, "FLEX_TIMEOUT", 0.2)
    project.server.set_scenario({"flex": {"latency_ms": 2000}})
    failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--max-attempts", "1"))

    project.server.set_scenario(QUICK)
    out = project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--max-attempts", "1")

    assert len(project.server.chat_requests("M0-L001")) == 1, out.stdout + out.stderr
    assert project.states() == {"M0-L001": "needs_attention"}


# --------------------------------------------------------------------------- 12. second-line guards


def test_a_lesson_a_batch_took_after_the_plan_was_made_is_not_sent_through_flex(tmp_path, fake_openai):
    """Another terminal submits M0-L002 in a batch between this run's plan and its send: the ledger
    refuses to put it in flight, and flex sends only the other lesson."""
    fake_openai.set_scenario(QUICK)
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=("M0-L001", "M0-L002"),
    )
    with Ledger.open(options.work_dir) as ledger:
        plan = make_plan(options)
        assert plan.to_request == ["M0-L001", "M0-L002"]
        ledger.record_shard("other-s001", "other", MODEL, "in.jsonl", "x", [("M0-L002", 16_000, None)], 1, 1, [])
        ledger.shard_submitted("other-s001", BatchInfo(id="batch_other", status="in_progress"))

        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=lambda line: None))
        report = run_flex(plan, processing, BatchApi("sk-test", base_url=fake_openai.base_url), FlexSettings())

        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
    assert [entry.lesson for entry in fake_openai.chat_requests()] == ["M0-L001"]
    assert report.already_in_flight == ["M0-L002"]
    assert states == {"M0-L001": SUCCEEDED, "M0-L002": SUBMITTED}


class BrokenFlexApi(BatchApi):
    """A bug in sending (not an answer of the API): it must end the run, not leave it waiting."""

    def flex_completion(self, *args, **kwargs):
        raise RuntimeError("a bug while sending")


@pytest.mark.timeout(30)
def test_a_bug_on_a_flex_worker_thread_ends_the_run_instead_of_hanging(tmp_path, fake_openai):
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=("M0-L001",),
    )
    with Ledger.open(options.work_dir) as ledger:
        plan = make_plan(options)
        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=lambda line: None))
        with pytest.raises(RuntimeError, match="a bug while sending"):
            run_flex(plan, processing, BrokenFlexApi("sk-test", base_url=fake_openai.base_url), FlexSettings())


@pytest.mark.parametrize("option, to_request", [(["--force"], 2), (["--limit", "2"], 1)], ids=["force", "limit"])
def test_a_dry_run_with_force_or_limit_counts_a_lesson_in_flight_by_flex(project, option, to_request):
    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))  # makes the ledger
    with Ledger.open(project.work) as ledger:
        ledger.note_pending(["M0-L002"])
        assert ledger.flex_sending("flex-elsewhere", "M0-L002", force=False)

    out = ok(project.generate("--lessons", "M0-L002,M0-L003,M0-L004", "--dry-run", *option))

    assert "in flight by flex (skipped): 1" in out
    assert f"to request: {to_request}" in out


class HangingFlexApi(BatchApi):
    """A request that is still running when the run ends: its answer comes only when the test
    says so. Sending it is what presses Ctrl-C (``stop``)."""

    def __init__(self, *args, stop: threading.Event, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop, self.answer_now = stop, threading.Event()

    def flex_completion(self, *args, **kwargs):
        self.stop.set()
        self.answer_now.wait()
        return super().flex_completion(*args, **kwargs)


@pytest.mark.timeout(30)
def test_a_request_still_running_after_the_grace_period_does_not_keep_the_process_alive(tmp_path, fake_openai):
    """The run ends with the lesson left in flight (the next run settles it); the thread waiting for
    its answer is a daemon, so the process can exit without waiting up to the 15 minutes flex takes."""
    fake_openai.set_scenario(QUICK)
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=("M0-L001",),
    )
    stop = threading.Event()
    api = HangingFlexApi("sk-test", base_url=fake_openai.base_url, stop=stop)
    said = []
    with Ledger.open(options.work_dir) as ledger:
        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=lambda line: None))
        report = run_flex(make_plan(options), processing, api, FlexSettings(grace_seconds=0.5), stop=stop,
                          events=said.append)
        waiting = [thread for thread in threading.enumerate() if thread.name == "flex-M0-L001"]
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
    api.answer_now.set()
    for thread in waiting:
        thread.join()

    assert report.still_running == ["M0-L001"] and states == {"M0-L001": FLEX}
    assert len(waiting) == 1 and waiting[0].daemon
    # Said once, when the grace period began (not again at each look at the requests in flight).
    stopping = [event for event in said if isinstance(event, FlexStopping)]
    assert stopping == [FlexStopping(write_failed=False, grace_seconds=0.5, in_flight=1)]


class CtrlCWhileSendingApi(BatchApi):
    """Ctrl-C (``stop``) comes as the request is sent; its answer takes the server's flex latency."""

    def __init__(self, *args, stop: threading.Event, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop = stop

    def flex_completion(self, *args, **kwargs):
        self.stop.set()
        return super().flex_completion(*args, **kwargs)


@pytest.mark.timeout(60)
def test_an_answer_that_arrives_during_the_grace_period_is_saved_and_nothing_more_is_sent(tmp_path, fake_openai):
    """The answer comes well after the run's first look at its requests in flight (every
    ``POLL_SECONDS``), within the grace period: it is paid for, so it is saved."""
    fake_openai.set_scenario({"flex": {"latency_ms": 1000}})
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=("M0-L001", "M0-L002"),
    )
    stop = threading.Event()
    api = CtrlCWhileSendingApi("sk-test", base_url=fake_openai.base_url, stop=stop)
    with Ledger.open(options.work_dir) as ledger:
        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=lambda line: None))
        report = run_flex(make_plan(options), processing, api, FlexSettings(grace_seconds=30), stop=stop)
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}

    assert (report.saved, report.still_running, report.not_sent) == (1, [], ["M0-L002"])
    assert states == {"M0-L001": SUCCEEDED}
    assert [entry.lesson for entry in fake_openai.chat_requests()] == ["M0-L001"]
