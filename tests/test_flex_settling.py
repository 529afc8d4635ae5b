"""Settling what a dead flex run left (``flex.answers.settle_interrupted_flex``), answer by answer.

A flex run keeps each answer it receives in its answers file (work/flex/<run>.jsonl) before it
writes the lesson. When the run dies, its lessons stay ``flex`` in the ledger; the next run
settles them: an answer kept on disk is processed from there and never asked for again (it was
paid), with the budget, effort and ``--force`` it was requested with. Each test here stands for
a mutant of that code that once passed the whole suite (issue 19).

In the first tests the dead run is set up directly: the ledger marks the lessons in flight by it, and its answers
file is written by the product's own writer (``answer_line`` through a ``DurableLog``). The
answers are chat completions as tests/helpers.success_record builds them. The last ones kill a
generate run (a crash point) after an answer was kept, and run the script again against the local
server, whose request log tells what was paid.
"""

from __future__ import annotations

import pytest

from lesson_batch import models
from lesson_batch.api import ChatReply
from lesson_batch.batch_info import CHAT_ENDPOINT
from lesson_batch.files import DurableLog
from lesson_batch.flex import answers as answers_module
from lesson_batch.flex.answers import answer_line, kept_answers, settle_interrupted_flex
from lesson_batch.flex.send import FlexRequest
from lesson_batch.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from lesson_batch.states import FLEX, INVALID, NEEDS_ATTENTION, PENDING, SUCCEEDED
from lesson_batch.workspace import Workspace
from tests.helpers import open_as_on_windows, success_record
from tests.test_flex import KILLED, QUICK, Project, ok

MODEL = models.DEFAULT_MODEL
LESSON = "# A lesson\n\nWhat it teaches, in a few words.\n"


def in_flight(ledger: Ledger, run_id: str, *lesson_ids: str, force: bool = False) -> None:
    """``lesson_ids`` in flight by the flex run ``run_id``, which then died."""
    ledger.note_pending(lesson_ids)
    ledger.flex_run_started(run_id, MODEL, len(lesson_ids))
    for lesson_id in lesson_ids:
        assert ledger.flex_sending(run_id, lesson_id, force)


def keep(
    work, run_id: str, lesson_id: str, body: dict, *, endpoint: str | None = CHAT_ENDPOINT, budget: int = 16_000,
    effort: str | None = None,
) -> None:
    """The answer ``body`` kept in the run's answers file, for a request of ``budget`` and ``effort``
    (``endpoint`` None: a line of an older version, which did not say where the request went)."""
    request = FlexRequest(lesson_id, {}, budget, effort, 100)
    line = answer_line(run_id, MODEL, request, ChatReply(200, body), (), False, endpoint or CHAT_ENDPOINT)
    if endpoint is None:
        record = answers_module.json.loads(line)
        del record["endpoint"]
        line = (answers_module.json.dumps(record) + "\n").encode("utf-8")
    DurableLog(Workspace(work).flex_answers(run_id)).append(line)


def answer(lesson_id: str, content: str = LESSON, finish_reason: str = "stop") -> dict:
    return success_record(lesson_id, content, finish_reason)["response"]["body"]


def unreadable(lesson_id: str) -> dict:
    """A 200 with its usage (billed) and nothing to read: no ``choices``."""
    return {key: value for key, value in answer(lesson_id).items() if key != "choices"}


def states(ledger: Ledger) -> dict[str, str]:
    return {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}


@pytest.fixture
def work(tmp_path):
    return tmp_path / "work"


@pytest.fixture
def out(tmp_path):
    return tmp_path / "lessons"


def test_lessons_in_flight_with_no_answer_kept_are_saved_when_their_file_was_written_else_pending(work, out):
    """No answer kept: a lesson asked for without --force had no file when it was sent, so a file
    found now is that request's answer (saved); a --force lesson's file is the old one (pending)."""
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-a", "M2-L001", "M2-L002")
        in_flight(ledger, "flex-b", "M10-L001", force=True)
        out.mkdir()
        for lesson_id in ("M2-L001", "M10-L001"):
            (out / f"{lesson_id}.md").write_text(LESSON, encoding="utf-8")

        settled = settle_interrupted_flex(ledger, out)

        assert settled.released == ["M2-L001", "M2-L002", "M10-L001"]  # in the curriculum's order
        assert (settled.saved, settled.runs) == (["M2-L001"], "flex-a, flex-b")
        assert states(ledger) == {"M10-L001": PENDING, "M2-L001": SUCCEEDED, "M2-L002": PENDING}


def test_settling_records_a_run_that_died_as_stopped_and_leaves_a_finished_run_as_it_was(work, out):
    with Ledger.open(work) as ledger:
        ledger.flex_run_started("flex-done", MODEL, 1)
        ledger.flex_run_finished("flex-done", "max_cost")
        in_flight(ledger, "flex-dead", "M0-L001")

        settle_interrupted_flex(ledger, out)

        runs = {run.run_id: run for run in ledger.flex_runs()}
    assert runs["flex-done"].stop_reason == "max_cost"
    assert runs["flex-dead"].stop_reason == "stopped before finishing" and runs["flex-dead"].finished_at is not None


def test_a_kept_answer_that_cannot_be_read_marks_its_lesson_invalid_and_the_next_kept_one_is_saved(work, out):
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-dead", "M0-L001", "M0-L002")
        keep(work, "flex-dead", "M0-L001", unreadable("M0-L001"))
        keep(work, "flex-dead", "M0-L002", answer("M0-L002"))

        settled = settle_interrupted_flex(ledger, out)

        assert settled.kept == ["M0-L001", "M0-L002"] and settled.released == []
        assert settled.kept_report.failed == {"unreadable answer": ["M0-L001"]}
        record = ledger.lessons(["M0-L001"])["M0-L001"]
        assert (record.state, record.attempts) == (INVALID, 1)
        assert record.reason.startswith("unreadable answer: ")
        assert states(ledger)["M0-L002"] == SUCCEEDED
    assert (out / "M0-L002.md").read_text(encoding="utf-8") == LESSON


def test_a_kept_answer_that_cannot_be_read_counts_towards_the_attempts_cap(work, out):
    with Ledger.open(work) as ledger:
        ledger.set_max_attempts(1)
        in_flight(ledger, "flex-dead", "M0-L001")
        keep(work, "flex-dead", "M0-L001", unreadable("M0-L001"))

        settle_interrupted_flex(ledger, out)

        assert states(ledger) == {"M0-L001": NEEDS_ATTENTION}


def test_a_kept_answer_that_cannot_be_read_counts_towards_the_default_cap_when_none_was_set(work, out):
    with Ledger.open(work) as ledger:
        for attempt in range(DEFAULT_MAX_ATTEMPTS - 1):  # requests that got no answer, each maybe paid
            in_flight(ledger, f"flex-{attempt}", "M0-L001")
            ledger.release_flex_lessons(["M0-L001"], "no answer")
        in_flight(ledger, "flex-dead", "M0-L001")
        keep(work, "flex-dead", "M0-L001", unreadable("M0-L001"))

        settle_interrupted_flex(ledger, out)

        record = ledger.lessons(["M0-L001"])["M0-L001"]
        assert (record.state, record.attempts) == (NEEDS_ATTENTION, DEFAULT_MAX_ATTEMPTS)


def test_a_kept_truncated_answer_at_the_top_of_the_budget_ladder_is_retried_one_effort_below_its_own(work, out):
    """Its budget cannot grow: the retry runs at the next effort below the one the answer ran at
    (not below the model's default, which would send the same request again, to be cut off again)."""
    top = models.ladder_cap(MODEL, 16_000)
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-dead", "M0-L001")
        keep(work, "flex-dead", "M0-L001", answer("M0-L001", finish_reason="length"), budget=top, effort="low")

        settle_interrupted_flex(ledger, out)

        record = ledger.lessons(["M0-L001"])["M0-L001"]
    assert (record.retry_budget, record.retry_effort) == (top, "none")


def test_a_kept_answer_written_by_an_older_version_without_its_endpoint_is_taken_as_a_chat_answer(work, out):
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-dead", "M0-L001")
        keep(work, "flex-dead", "M0-L001", answer("M0-L001"), endpoint=None)

        settle_interrupted_flex(ledger, out)

        assert states(ledger) == {"M0-L001": SUCCEEDED}
    assert (out / "M0-L001.md").read_text(encoding="utf-8") == LESSON


def test_the_answers_of_a_second_dead_run_are_found_when_the_first_kept_none(work, out):
    """Two runs left lessons in flight: the first died before any answer arrived (it has no
    answers file), the second kept one. That one is saved, not requested (paid) again."""
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-a", "M0-L001")
        in_flight(ledger, "flex-b", "M0-L002")
        keep(work, "flex-b", "M0-L002", answer("M0-L002"))

        settled = settle_interrupted_flex(ledger, out)

        assert settled.kept == ["M0-L002"] and settled.released == ["M0-L001"]
        assert states(ledger)["M0-L002"] == SUCCEEDED


def test_a_line_cut_short_in_the_answers_file_is_skipped_and_the_lines_after_it_are_read(work):
    """A write that failed and could not be taken back leaves part of a line, and the next answer
    is appended to it: that line cannot be read, and is skipped; the lines after it are read."""
    keep(work, "flex-a", "M0-L001", answer("M0-L001"))
    with open(Workspace(work).flex_answers("flex-a"), "ab") as handle:
        handle.write(b'{"custom_id": "M0-L002", "run_id": "flex-a", "resp')
    keep(work, "flex-a", "M0-L003", answer("M0-L003"))  # on the same line as the part of M0-L002's
    keep(work, "flex-a", "M0-L004", answer("M0-L004"))

    found = kept_answers(Workspace(work), {"flex-a"}, {"M0-L001", "M0-L002", "M0-L003", "M0-L004"})

    assert sorted(found) == ["M0-L001", "M0-L004"]


def test_only_the_answers_of_lessons_still_in_flight_are_taken_from_the_answers_file(work, out):
    """The run saved M0-L001 before it died (its answer is in the file too); only M0-L002 is settled."""
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-dead", "M0-L001", "M0-L002")
        keep(work, "flex-dead", "M0-L001", answer("M0-L001", "# The version saved\n"))
        keep(work, "flex-dead", "M0-L002", answer("M0-L002"))
        out.mkdir()
        (out / "M0-L001.md").write_text("# The version saved\n", encoding="utf-8")
        ledger.release_flex_lessons(["M0-L001"], "saved", saved=["M0-L001"])

        settled = settle_interrupted_flex(ledger, out)

        assert settled.kept == ["M0-L002"]
        assert settled.kept_report.saved == ["M0-L002"]


def test_a_kept_answer_is_read_as_utf8_whatever_the_systems_encoding(work, out, monkeypatch):
    """On a system whose locale is not UTF-8 (Windows' cp1252), a file opened as text would read
    the answer wrongly, or not at all (and the lesson would be paid again)."""
    monkeypatch.setattr(answers_module, "open", open_as_on_windows, raising=False)
    content = "# Données publiques\n\nÝ, ő, “quoted” — naïve café.\n"
    with Ledger.open(work) as ledger:
        in_flight(ledger, "flex-dead", "M0-L001")
        keep(work, "flex-dead", "M0-L001", answer("M0-L001", content))

        settled = settle_interrupted_flex(ledger, out)

        assert settled.kept == ["M0-L001"]
    assert (out / "M0-L001.md").read_text(encoding="utf-8") == content


# --------------------------------------------------------------------------- a run killed after an answer was kept


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario(QUICK)
    return Project(tmp_path, fake_openai)


def test_the_kept_answer_of_a_killed_force_run_replaces_the_old_file(project):
    """--force asked for a new version; the run was killed after the answer arrived and before it
    was written. The next run (without --force) writes the kept answer over the old file."""
    ok(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))
    lesson = project.out / "M0-L001.md"
    lesson.write_text(lesson.read_text(encoding="utf-8") + "\nAn old version the user wants replaced.\n",
                      encoding="utf-8")

    killed = project.generate("--lessons", "M0-L001", "--via", "flex", "--yes", "--force", crash_at="flex_answer")
    assert killed.returncode == KILLED and project.states() == {"M0-L001": FLEX}

    out = ok(project.generate("--lessons", "M0-L002", "--via", "flex", "--yes"))

    assert "1 answers an earlier flex run received (and paid for) were kept" in out
    assert "An old version" not in lesson.read_text(encoding="utf-8")
    assert project.states()["M0-L001"] == SUCCEEDED
    assert len(project.server.chat_requests("M0-L001")) == 2


def test_a_kept_truncated_answer_is_requested_again_with_twice_the_budget_at_the_same_effort(project):
    project.server.set_scenario({**QUICK, "faults": {"truncate": {"M0-L001": 1}}})
    args = ("--lessons", "M0-L001", "--via", "flex", "--yes", "--reasoning-effort", "low")
    killed = project.generate(*args, crash_at="flex_answer")
    assert killed.returncode == KILLED and project.states() == {"M0-L001": FLEX}

    ok(project.generate(*args))

    first, again = (entry.body for entry in project.server.chat_requests("M0-L001"))
    assert again["max_completion_tokens"] == 2 * first["max_completion_tokens"]
    assert first["reasoning_effort"] == again["reasoning_effort"] == "low"
    assert project.states() == {"M0-L001": SUCCEEDED}
