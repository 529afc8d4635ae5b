"""Jobs tell, lesson_batch.text words (issue 21, "one voice"): the generate job and a flex run hand typed
events to the sink they are given and print nothing themselves; ``text.events.RunWords`` turns those
events into the lines a person reads.

The job runs against the local fake server with the real ``openai`` client, as in tests/test_flex.py.
"""

from __future__ import annotations

from lesson_batch.api import BatchApi
from lesson_batch.flex import FlexProgress, FlexSettings, FlexStarted, FlexStopping, run_flex
from lesson_batch.generate_job import PlanMade, generate
from lesson_batch.generate_wait import StoppedWaiting
from lesson_batch.ledger import Ledger
from lesson_batch.output import Line
from lesson_batch.plan import PlanOptions, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.saving import Processing
from lesson_batch.submit import BatchCreated, Uploading, submit_plan
from lesson_batch.text.events import RunWords, interrupted_message
from lesson_batch.text.plan import format_plan
from tests.helpers import BUNDLED_CURRICULUM, BUNDLED_TEMPLATE
from tests.test_flex import MODEL, QUICK


def options_for(tmp_path, *lessons: str) -> PlanOptions:
    return PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=MODEL), lessons=lessons,
    )


def test_a_dry_run_tells_its_plan_as_an_event_and_prints_nothing(tmp_path, capsys):
    told = []
    outcome = generate(options_for(tmp_path, "M0-L001", "M0-L002"), None, None, events=told.append)

    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    (made,) = [event for event in told if isinstance(event, PlanMade)]
    assert made.plan is outcome.plan and outcome.plan.to_request == ["M0-L001", "M0-L002"]


def test_a_flex_run_tells_its_progress_as_events_and_prints_nothing(tmp_path, fake_openai, capsys):
    fake_openai.set_scenario(QUICK)
    options = options_for(tmp_path, "M0-L001", "M0-L002", "M0-L003")
    told = []
    with Ledger.open(options.work_dir) as ledger:
        processing = Processing.of(ledger, options.output_dir, options.work_dir)
        report = run_flex(
            make_plan(options), processing, BatchApi("sk-test", base_url=fake_openai.base_url),
            FlexSettings(concurrency=2), events=told.append,
        )

    assert report.saved == 3
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert told[0] == FlexStarted(requested=3, model=MODEL, concurrency=2)
    progress = [event for event in told if isinstance(event, FlexProgress)]
    assert [event.done for event in progress] == [1, 2, 3] and progress[-1].saved == 3


def test_the_words_of_the_plan_event_are_the_plan_text_on_the_output(tmp_path):
    plan = make_plan(options_for(tmp_path, "M0-L001"))

    lines = RunWords()(PlanMade(plan))

    assert Line(format_plan(plan), "out") in lines


def test_a_progress_event_draws_a_bar_and_adds_no_line():
    assert RunWords()(FlexProgress(done=1, total=3, saved=1, refusals=0)) == []


def test_a_stop_with_nothing_in_flight_says_nothing_and_one_with_requests_in_flight_says_how_long_it_waits():
    words = RunWords()

    assert words(FlexStopping(write_failed=False, grace_seconds=30, in_flight=0)) == []
    (line,) = words(FlexStopping(write_failed=False, grace_seconds=30, in_flight=2))
    assert line.text.startswith("Stopping: no new requests; waiting up to 30 s for the 2 in flight")


def test_a_wait_stopped_by_ctrl_c_names_the_batches_that_run_on_and_are_billed(tmp_path):
    message = interrupted_message(StoppedWaiting(["batch_a", "batch_b"], tmp_path / "work"))

    assert "2 batches of this work dir (batch_a, batch_b) keep running on the server and are billed" in message


def test_a_submission_tells_its_upload_and_its_batch_as_events_and_prints_nothing(tmp_path, fake_openai, capsys):
    options = options_for(tmp_path, "M0-L001", "M0-L002")
    told = []
    with Ledger.open(options.work_dir) as ledger:
        report = submit_plan(
            make_plan(options), ledger, BatchApi("sk-test", base_url=fake_openai.base_url), "run1", events=told.append
        )

    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    (batch,) = report.submitted
    uploading, created = told
    assert isinstance(uploading, Uploading) and uploading.requests == 2
    assert created == BatchCreated(batch.id, 2, batch.status)


def test_the_words_of_a_created_batch_name_it_its_lessons_and_its_status():
    (line,) = RunWords()(BatchCreated("batch_1", 2, "validating"))

    assert line == Line("Created batch batch_1 for 2 lessons (status: validating).", "out")
