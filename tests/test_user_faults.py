"""Faults a user meets (issue 23): a full disk, odd lesson paths, a flex run whose writes fail,
the date override.

The scripts run in this process (tests/helpers.run_script) with the real ``openai`` client against
the local server; its request log judges "paid twice" (a lesson in two batches, or two chat
answers for it). A full disk is simulated in this process, never by filling a real one: the file
writers of ``lesson_batch/files.py`` see a disk that is full under one folder (every write there
raises ``OSError(ENOSPC)``, as the system does), and SQLite is given a page limit
(``PRAGMA max_page_count``), which fails as a full disk does ("database or disk is full").
"""

from __future__ import annotations

import builtins
import datetime
import errno
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from lesson_batch import files, models
from lesson_batch import ledger as ledger_module
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import ScriptDriver, batches_per_lesson, write_modules_curriculum

LESSONS = ["M0-L001", "M0-L002", "M0-L003"]
QUICK = {"flex": {"latency_ms": 1}}
needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="tells a descriptor's file through /proc")


class Project(ScriptDriver):
    """A three-lesson course, a work dir and a lessons folder in tmp_path, run against the server."""

    def __init__(self, root: Path, server: FakeOpenAIServer, lessons: int = 3):
        super().__init__(root, server)
        self.lesson_ids = write_modules_curriculum(self.curriculum, 1, lessons)

    def paid(self) -> Counter:
        """Chat requests answered 200 (billed) per lesson, and lessons in batches: each is paid."""
        chat = Counter(entry.lesson for entry in self.server.chat_requests() if entry.status == 200)
        return chat + batches_per_lesson(self.server)

    def lesson_files(self) -> set[str]:
        """The lessons saved: regular files in the lessons folder (not a folder or a link in their place)."""
        return {path.stem for path in self.out.glob("*.md") if path.is_file() and not path.is_symlink()}

    def partials(self) -> list[str]:
        return sorted(path.name for folder in (self.out, self.work) if folder.is_dir()
                      for path in folder.glob(f".*{files.TEMP_SUFFIX}"))


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    fake_openai.set_scenario(QUICK)
    return Project(tmp_path, fake_openai)


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def failed(result) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


# --------------------------------------------------------------------------- a full disk, simulated


class _OsOnAFullDisk:
    """``os`` as ``lesson_batch.files`` sees it: a write to a file under ``folder`` fails, after
    the first ``after`` of them."""

    def __init__(self, folder: Path, after: int = 0):
        self._folder = os.path.realpath(folder) + os.sep
        self._room = after

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, descriptor, data):
        if os.path.realpath(os.readlink(f"/proc/self/fd/{descriptor}")).startswith(self._folder):
            if self._room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._room -= 1
        return os.write(descriptor, data)


class _FullFile:
    """A file opened for writing on a full disk: the first write fails."""

    def __init__(self, handle):
        self._handle = handle

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def disk():
    """``disk.fill(folder)``: from now on, files written under ``folder`` by the project's writers
    fail as on a full disk (after ``after`` more lesson-sized writes); ``disk.free()`` gives the
    space back (so does the end of the test)."""

    class Disk:
        def fill(self, folder: Path, after: int = 0) -> None:
            folder_text = os.path.realpath(folder) + os.sep

            def full_open(file, mode="r", *args, **kwargs):
                handle = builtins.open(file, mode, *args, **kwargs)
                writing = any(flag in mode for flag in "wax+")
                if writing and os.path.realpath(file).startswith(folder_text):
                    return _FullFile(handle)
                return handle

            files.os = _OsOnAFullDisk(folder, after)
            files.open = full_open

        def free(self) -> None:
            files.os = os
            vars(files).pop("open", None)

    space = Disk()
    yield space
    space.free()


# --------------------------------------------------------------------------- 8. a full disk


@needs_proc
def test_a_full_disk_while_saving_a_batch_says_so_and_a_rerun_saves_the_lessons_without_paying_again(project, disk):
    ok(project.generate("--yes"))
    ok(project.watch())
    disk.fill(project.out)

    said = failed(project.process())

    assert "the disk holding lessons is full (cannot write lessons/M0-L00" in said
    assert "stays awaiting processing" in said and "run the same command again" in said
    assert project.partials() == []
    disk.free()
    ok(project.process())
    assert project.lesson_files() == set(project.lesson_ids)
    assert set(project.paid().values()) == {1}


@needs_proc
def test_a_full_disk_during_generate_wait_says_so_and_a_rerun_finishes_without_a_second_batch(project, disk):
    disk.fill(project.out)
    said = failed(project.generate("--yes", "--wait", "--interval", "0.01"))
    assert "the disk holding lessons is full" in said
    disk.free()

    ok(project.generate("--yes", "--wait", "--interval", "0.01"))

    assert project.lesson_files() == set(project.lesson_ids)
    assert set(project.paid().values()) == {1}


@needs_proc
def test_a_full_disk_while_downloading_results_names_the_work_dir_and_a_rerun_downloads_them(project, disk):
    ok(project.generate("--yes"))
    ok(project.watch())
    disk.fill(project.work)

    said = failed(project.process())

    assert "the disk holding work is full (cannot write work/datagov_lessons_results_" in said
    assert project.partials() == []
    disk.free()
    ok(project.process())
    assert project.lesson_files() == set(project.lesson_ids)
    assert set(project.paid().values()) == {1}


@needs_proc
def test_a_full_disk_while_writing_the_request_file_submits_nothing_and_says_so(project, disk):
    disk.fill(project.work)

    said = failed(project.generate("--yes"))

    assert "the disk holding work is full" in said and "none of them was submitted or paid for" in said
    assert project.server.created_batches() == []
    assert project.partials() == []
    disk.free()
    ok(project.generate("--yes", "--wait", "--interval", "0.01"))
    assert set(project.paid().values()) == {1}


# --------------------------------------------------------------------------- 2. flex keeps what it paid for


@needs_proc
def test_flex_on_a_full_disk_stops_sending_keeps_the_answers_and_a_rerun_saves_them_without_asking_again(
    project, disk
):
    disk.fill(project.out)

    said = failed(project.generate("--via", "flex", "--yes", "--concurrency", "1"))

    assert "the disk holding lessons is full (cannot write lessons/M0-L00" in said
    assert "kept in work/flex/" in said and "without asking the API again" in said
    assert sum(project.paid().values()) == 1, "after the failed write no new request should go out"
    assert project.partials() == []
    disk.free()

    out = ok(project.generate("--via", "flex", "--yes"))

    assert "1 answers an earlier flex run received (and paid for) were kept" in out
    assert project.lesson_files() == set(project.lesson_ids)
    assert set(project.paid().values()) == {1}


@needs_proc
def test_flex_answers_in_flight_when_a_write_fails_are_kept_and_saved_by_the_next_run(tmp_path, fake_openai, disk):
    fake_openai.set_scenario({"flex": {"latency_ms": 30}})
    project = Project(tmp_path, fake_openai, lessons=12)
    disk.fill(project.out, after=1)  # the first answer is saved: then several are in flight

    failed(project.generate("--via", "flex", "--yes", "--concurrency", "4"))
    paid_in_the_failed_run = set(project.paid())
    disk.free()
    fake_openai.set_scenario(QUICK)
    ok(project.generate("--via", "flex", "--yes"))

    assert len(paid_in_the_failed_run) > 2, "several requests should have been in flight"
    assert project.lesson_files() == set(project.lesson_ids)
    assert set(project.paid().values()) == {1}


def test_a_full_ledger_mid_flex_is_followed_by_a_run_that_pays_for_no_lesson_twice(tmp_path, fake_openai, monkeypatch):
    fake_openai.set_scenario(QUICK)
    project = Project(tmp_path, fake_openai, lessons=60)
    ok(project.generate("--via", "flex", "--yes", "--limit", "1"))
    connect = ledger_module._connect

    def connect_full(target: str) -> sqlite3.Connection:
        connection = connect(target)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 1}")
        return connection

    with monkeypatch.context() as patch:
        patch.setattr(ledger_module, "_connect", connect_full)
        said = failed(project.generate("--via", "flex", "--yes", "--concurrency", "4"))

    assert "database or disk is full" in said and "cannot rollback" not in said
    assert sum(project.paid().values()) > 1, "the ledger should have filled up after some answers"
    ok(project.generate("--via", "flex", "--yes"))
    assert project.lesson_files() == set(project.lesson_ids)
    assert set(project.paid().values()) == {1}


# --------------------------------------------------------------------------- 5, 6. lesson paths


def odd_paths(project: Project, outside: Path) -> None:
    """A folder at M0-L001's path, a link to a file outside the folder at M0-L002's, a dangling link at M0-L003's."""
    project.out.mkdir(exist_ok=True)
    (project.out / "M0-L001.md").mkdir()
    outside.write_text("not a lesson\n", encoding="utf-8")
    (project.out / "M0-L002.md").symlink_to(outside)
    (project.out / "M0-L003.md").symlink_to(project.root / "nowhere.md")


def test_a_folder_or_link_at_a_lesson_path_is_a_problem_named_in_the_plan_never_a_generated_lesson(project):
    odd_paths(project, project.root / "outside.md")

    out = ok(project.generate("--dry-run"))

    assert "already generated (skipped): 0" in out
    assert "to request: 0" in out
    assert "lesson path not a regular file (not requested until it is moved away): 3" in out
    assert "M0-L001: lessons/M0-L001.md is a folder, not a lesson file" in out
    assert "M0-L002: lessons/M0-L002.md is a symbolic link (to " in out
    assert "M0-L003: lessons/M0-L003.md is a symbolic link (to " in out and "which does not exist" in out


def test_a_submitting_run_requests_the_other_lessons_and_names_the_odd_path(tmp_path, fake_openai):
    fake_openai.set_scenario(QUICK)
    project = Project(tmp_path, fake_openai, lessons=4)
    project.out.mkdir()
    (project.out / "M0-L002.md").mkdir()

    said = failed(project.generate("--yes", "--wait", "--interval", "0.01"))

    assert "M0-L002: lessons/M0-L002.md is a folder" in said
    assert project.lesson_files() == {"M0-L001", "M0-L003", "M0-L004"}
    assert "M0-L002" not in project.paid()


@pytest.mark.parametrize("odd", ["folder", "dangling link", "link to a file outside"])
def test_an_odd_path_appearing_before_processing_blocks_only_its_lesson(project, odd):
    ok(project.generate("--yes"))
    ok(project.watch())
    outside = project.root / "outside.md"
    outside.write_text("not a lesson\n", encoding="utf-8")
    path = project.out / "M0-L002.md"
    project.out.mkdir(exist_ok=True)
    {"folder": lambda: path.mkdir(), "dangling link": lambda: path.symlink_to(project.root / "nowhere.md"),
     "link to a file outside": lambda: path.symlink_to(outside)}[odd]()

    said = failed(project.process())

    assert "lessons/M0-L002.md is a" in said and "not a lesson file" in said
    assert "kept the existing file" not in said and "a lesson file already exists" not in said
    assert project.lesson_files() == {"M0-L001", "M0-L003"}
    states = project.states()
    assert states["M0-L001"] == states["M0-L003"] == "succeeded" and states["M0-L002"] != "succeeded"
    assert project.status_json()["batches"][0]["processed"] is True, "the batch must not stay blocked"
    assert (project.work / "not_overwritten" / "M0-L002.md").is_file(), "the paid-for lesson is kept aside"
    assert project.partials() == []
    assert outside.read_text(encoding="utf-8") == "not a lesson\n"
    assert path.is_symlink() or path.is_dir(), "what was at the path is left as it was"


def test_force_never_writes_through_a_link_nor_replaces_it(project):
    ok(project.generate("--yes"))
    ok(project.watch())
    outside = project.root / "outside.md"
    outside.write_text("not a lesson\n", encoding="utf-8")
    project.out.mkdir(exist_ok=True)
    (project.out / "M0-L002.md").symlink_to(outside)

    said = failed(project.process("--force"))

    assert "lessons/M0-L002.md is a symbolic link" in said
    assert outside.read_text(encoding="utf-8") == "not a lesson\n"
    assert (project.out / "M0-L002.md").is_symlink()


def test_a_later_batch_is_processed_while_an_odd_path_waits(project):
    ok(project.generate("--yes", "--lessons", "M0-L001,M0-L002"))
    ok(project.watch())
    project.out.mkdir(exist_ok=True)
    (project.out / "M0-L001.md").mkdir()
    failed(project.process())
    ok(project.generate("--yes", "--lessons", "M0-L003"))
    ok(project.watch())

    said = failed(project.process())  # M0-L001 still waits for its folder to be moved away

    assert "saved: 1" in said
    assert project.lesson_files() == {"M0-L002", "M0-L003"}


# --------------------------------------------------------------------------- 10. the date override


def test_a_date_override_is_said(project):
    out = project.generate("--dry-run", env={"LESSON_BATCH_TODAY": "2026-12-05"})
    assert "the date is overridden: today is taken as 2026-12-05 (LESSON_BATCH_TODAY)" in ok(out) + out.stderr


def test_a_refusal_from_the_apis_shutdown_date_under_an_override_says_the_api_still_lists_the_model(project):
    shuts_down = {models.DEFAULT_MODEL: {"shutdown_date": "2026-12-11"}}
    project.server.set_scenario({"today": "2026-12-02", "models": shuts_down})

    said = failed(project.generate("--yes", env={"LESSON_BATCH_TODAY": "2026-12-15"}))

    assert "was shut down on 2026-12-11" in said
    assert "(the API's shutdown_date, judged against 2026-12-15, the date LESSON_BATCH_TODAY sets; " in said
    assert "the API still lists the model" in said


def test_the_model_table_s_age_is_shown_once_it_is_more_than_60_days_old(project):
    old = project.generate("--dry-run", env={"LESSON_BATCH_TODAY": "2030-01-01"})
    recent = project.generate("--dry-run", env={"LESSON_BATCH_TODAY": "2026-12-20"})

    age = (datetime.date(2030, 1, 1) - datetime.date.fromisoformat(models.CATALOGUE_DATE)).days
    assert f"was checked on {models.CATALOGUE_DATE}, {age} days ago" in ok(old) + old.stderr
    assert "days ago" not in ok(recent) + recent.stderr
