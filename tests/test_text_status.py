"""The status script's cancel: the job asks a typed question and returns what it did; the text
module words the question and the outcome (``status_job``, ``text.status``)."""

from __future__ import annotations

from pathlib import Path

from lesson_batch.ledger import Ledger
from lesson_batch.output import no_events
from lesson_batch.status_job import CancelOutcome, CancelQuestion, GiveUpQuestion, StatusRequest, check_status
from lesson_batch.text import status as status_text


def test_a_cancel_of_named_batches_asks_about_those_batches():
    assert status_text.question(CancelQuestion(["batch_a", "batch_b"])) == "Cancel 2 batches: batch_a, batch_b?"


def test_a_cancel_of_the_whole_job_names_the_work_dir_and_its_unfinished_batches(tmp_path):
    asked = CancelQuestion(["batch_a"], tmp_path / "work")
    assert status_text.question(asked).startswith("Cancel the job in ")
    assert status_text.question(asked).endswith("work (1 batch: batch_a) and stop every run submitting there?")


def test_a_cancel_of_a_job_with_no_batch_asks_to_stop_the_runs_that_start_submitting(tmp_path):
    assert status_text.question(CancelQuestion([], tmp_path / "work")).endswith(
        "work; stop any run that starts submitting there?")
    assert "(no batch yet)" in status_text.question(CancelQuestion([], tmp_path / "work", submitting=True))


def test_a_give_up_says_it_may_be_a_second_payment():
    assert status_text.question(GiveUpQuestion(["batch_a"])) == (
        "Give up 1 batch the API does not know (batch_a)? Their lessons can then be requested (and paid for) "
        "again; if the batch still runs under another key, that is a second payment."
    )


def test_a_refused_cancel_of_the_whole_job_records_nothing_and_says_so(tmp_path):
    asked = []
    with Ledger.open(tmp_path / "work") as ledger:
        outcome = check_status(
            ledger, StatusRequest(tmp_path / "work", cancel=True), no_events,
            lambda question: asked.append(question) or False,
        )
        assert ledger.cancel_requests() == 0
    assert asked == [CancelQuestion([], Path(tmp_path / "work"), False)]
    assert isinstance(outcome, CancelOutcome) and outcome.failed
    assert status_text.result_lines(outcome) == ["Nothing was cancelled."]
    assert status_text.result_json(outcome)["cancel"]["confirmed"] is False
