"""What a flex run says when a write fails mid-run: which answers it kept on disk, which it could
not keep, and which file could not be written (issue 19, the surviving mutants of the message).

A failed write stops the run (no new request) and the run ends with one message: the answers
received but not saved, kept in the run's answers file for the next run to save without asking
the API again, and the answers that could not even be kept, which the next run requests again
(they may have been paid). Every number and name in it must be true: a person decides from it
what to do, and what it may cost.

Writes fail as in tests/test_user_faults.py: the file writers of ``lesson_batch/files.py`` see
``os.write`` fail under the folders given (never a real full disk); the scripts run in this
process with the real ``openai`` client against the local server.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from lesson_batch import files, models
from lesson_batch.api import BatchApi
from lesson_batch.errors import LessonBatchError
from lesson_batch.flex import FlexSettings, run_flex
from lesson_batch.ledger import Ledger
from lesson_batch.output import Printer
from lesson_batch.plan import PlanOptions, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.saving import Processing
from lesson_batch.states import FLEX, PENDING, SUCCEEDED
from tests.helpers import BUNDLED_CURRICULUM, BUNDLED_TEMPLATE
from tests.test_user_faults import QUICK, Project, disk, failed, needs_proc, ok

__all__ = ["disk"]  # the fixture, imported for the tests below


class _OsWithFailingWrites:
    """``os`` as ``lesson_batch.files`` sees it: a write to a file under one of ``folders`` fails
    with ``code``."""

    def __init__(self, folders: list[Path], code: int):
        self._folders = tuple(os.path.realpath(folder) + os.sep for folder in folders)
        self._code = code

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, descriptor, data):
        if os.path.realpath(os.readlink(f"/proc/self/fd/{descriptor}")).startswith(self._folders):
            raise OSError(self._code, os.strerror(self._code))
        return os.write(descriptor, data)


@pytest.fixture
def failing_writes(monkeypatch):
    """``failing_writes(folders, code)``: from now on, writes under ``folders`` fail with ``code``."""

    def fail(folders: list[Path], code: int = errno.ENOSPC) -> None:
        monkeypatch.setattr(files, "os", _OsWithFailingWrites(folders, code))

    return fail


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario(QUICK)
    return Project(tmp_path, fake_openai)


@needs_proc
def test_a_write_failure_counts_as_kept_only_the_answers_not_saved(project, disk):
    """Two lessons are saved, the third cannot be written: one answer is kept for the next run,
    not three (the two saved ones are in the answers file too, but are done)."""
    disk.fill(project.out, after=2)

    said = failed(project.generate("--via", "flex", "--yes", "--concurrency", "1"))

    assert project.states() == {"M0-L001": SUCCEEDED, "M0-L002": SUCCEEDED, "M0-L003": FLEX}
    assert "flex stopped sending; 1 answers received and not saved are kept in work/flex/flex-" in said
    assert "stopped: a write failed (No space left on device: lessons/M0-L003.md)" in said


@needs_proc
def test_a_write_that_fails_for_another_reason_than_a_full_disk_names_the_file_and_the_error(
    project, failing_writes
):
    failing_writes([project.out], errno.EIO)

    said = failed(project.generate("--lessons", "M0-L001", "--via", "flex", "--yes"))

    assert "error: cannot write lessons/M0-L001.md (Input/output error); flex stopped sending; " in said
    assert "without asking the API again. Fix that, then run the same command again." in said


@needs_proc
def test_an_answer_that_could_not_be_kept_nor_saved_is_named_and_requested_again_by_the_next_run(
    project, failing_writes
):
    failing_writes([project.work / "flex", project.out])

    said = failed(project.generate("--via", "flex", "--yes", "--concurrency", "1"))

    assert project.states() == {"M0-L001": FLEX, "M0-L002": PENDING, "M0-L003": PENDING}
    assert "flex stopped sending; 0 answers received and not saved are kept in work/flex/flex-" in said
    assert ("; 1 answers could not be kept (M0-L001): they may have been paid, and the next run requests them "
            "again. Free some space") in said
    failing_writes([])
    ok(project.generate("--via", "flex", "--yes"))
    assert project.paid() == {"M0-L001": 2, "M0-L002": 1, "M0-L003": 1}
    assert set(project.states().values()) == {SUCCEEDED}


@needs_proc
def test_an_answer_that_could_not_be_kept_but_was_saved_is_not_said_to_be_requested_again(
    project, failing_writes
):
    """The answers file cannot be written, the lessons folder can: the answer is saved all the
    same, so the next run does not request it, and the message must not say it will."""
    failing_writes([project.work / "flex"])

    said = failed(project.generate("--via", "flex", "--yes", "--concurrency", "1"))

    assert project.states()["M0-L001"] == SUCCEEDED
    assert "could not be kept" not in said and "M0-L001" not in said.split("error:", 1)[1]
    failing_writes([])
    ok(project.generate("--via", "flex", "--yes"))
    assert project.paid()["M0-L001"] == 1


@needs_proc
def test_when_the_ledger_cannot_be_read_either_every_answer_in_the_file_is_said_to_be_kept(
    tmp_path, fake_openai, failing_writes, monkeypatch
):
    """The message cannot tell which kept answers were saved: it says what the answers file holds."""
    fake_openai.set_scenario(QUICK)
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=models.DEFAULT_MODEL), lessons=("M0-L001",),
    )

    def unreadable(*args):
        raise sqlite3.DatabaseError("database disk image is malformed")

    with Ledger.open(options.work_dir) as ledger:
        plan = make_plan(options)
        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=lambda line: None))
        failing_writes([options.output_dir])
        monkeypatch.setattr(ledger, "lessons", unreadable)
        report = run_flex(plan, processing, BatchApi("sk-test", base_url=fake_openai.base_url), FlexSettings())

    assert "flex stopped sending; 1 answers received and not saved are kept in " in report.write_failure


def test_a_lesson_the_ledger_could_not_put_in_flight_is_reported_not_sent(tmp_path, fake_openai, monkeypatch):
    """Its request is not sent (the ledger would not know it was paid); the run stops, and lists it
    with the others not sent: pending, nothing paid."""
    fake_openai.set_scenario(QUICK)
    options = PlanOptions(
        curriculum_path=BUNDLED_CURRICULUM, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work", settings=RequestSettings(model=models.DEFAULT_MODEL),
        lessons=("M0-L001", "M0-L002", "M0-L003"),
    )
    with Ledger.open(options.work_dir) as ledger:
        sending = ledger.flex_sending

        def full_at_the_second(run_id, lesson_id, force):
            if lesson_id == "M0-L002":
                raise LessonBatchError("cannot write the ledger: database or disk is full")
            return sending(run_id, lesson_id, force)

        plan = make_plan(options)
        processing = Processing.of(ledger, options.output_dir, options.work_dir, printer=Printer(out=lambda line: None))
        monkeypatch.setattr(ledger, "flex_sending", full_at_the_second)
        report = run_flex(plan, processing, BatchApi("sk-test", base_url=fake_openai.base_url), FlexSettings())
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}

    assert report.not_sent == ["M0-L002", "M0-L003"]
    assert report.stop_reason == "write_failed"
    assert report.stop_detail == "cannot write the ledger: database or disk is full"
    assert [entry.lesson for entry in fake_openai.chat_requests()] == ["M0-L001"]
    assert states == {"M0-L001": SUCCEEDED}  # (generate notes the others pending; run_flex never put them in flight)
