"""What the ledger records as saved is not bought again silently (issue 20, item 4).

A run whose plan would request lessons that the ledger records as saved (in another lessons
folder, or moved or deleted since) says so, with the folder they were saved in and what paying
again costs, and does not pay without ``--force`` (or a yes at a terminal's prompt: ``--yes``
alone is not enough). A run on a lessons folder that another work dir uses, with some of the
same lessons in flight there, is warned.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from lesson_batch.api import BatchApi
from lesson_batch.generate_job import generate
from lesson_batch.ledger import Ledger
from lesson_batch.plan import PlanOptions
from tests.helpers import BUNDLED_TEMPLATE, ScriptDriver, batches_per_lesson, write_curriculum
from tests.test_ledger_upgrade import ASSUMED, processed_and_in_flight
from tests.v1_ledger import V1WorkDir

LESSONS = ["M0-L001", "M0-L002", "M0-L003"]
QUICK_FLEX = {"flex": {"latency_ms": 1}}


@pytest.fixture
def saved(tmp_path, fake_openai) -> ScriptDriver:
    """Three lessons generated through flex and saved in ``lessons/``."""
    fake_openai.set_scenario(QUICK_FLEX)
    project = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(project.curriculum, ["One", "Two", "Three"])
    result = project.generate("--via", "flex", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.saved_lessons() == set(LESSONS)
    return project


def chat_paid(server) -> int:
    return sum(1 for entry in server.chat_requests() if entry.status == 200)


def test_a_dry_run_into_another_folder_names_the_folder_they_were_saved_in_and_the_cost(saved, tmp_path):
    result = saved.run("generate_datagov_lessons_batch.py", "--work-dir", saved.work, "--output-dir",
                       tmp_path / "elsewhere", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "of those, saved before elsewhere (paid again if requested): 3" in result.stdout
    assert "recorded as saved already, in lessons" in result.stderr
    assert re.search(r"pays again, estimated \$\d", result.stderr)


def test_another_output_dir_with_yes_is_refused_without_force(saved, tmp_path):
    paid_before = chat_paid(saved.server)
    result = saved.run("generate_datagov_lessons_batch.py", "--work-dir", saved.work, "--output-dir",
                       tmp_path / "elsewhere", "--yes")
    assert result.returncode == 1
    assert "Nothing was submitted" in result.stderr and "--force" in result.stderr
    assert "--output-dir lessons" in result.stderr
    assert saved.server.created_batches() == [] and chat_paid(saved.server) == paid_before


def test_deleted_lesson_files_are_not_requested_again_without_force(saved):
    (saved.out / "M0-L002.md").unlink()
    result = saved.generate("--yes")
    assert result.returncode == 1, result.stdout
    assert "M0-L002" in result.stderr and saved.server.created_batches() == []


def test_force_pays_for_them_again(saved, tmp_path):
    result = saved.run("generate_datagov_lessons_batch.py", "--work-dir", saved.work, "--output-dir",
                       tmp_path / "elsewhere", "--yes", "--force")
    assert result.returncode == 0, result.stderr
    assert sum(batches_per_lesson(saved.server).values()) == 3


def test_a_second_work_dir_on_the_same_lessons_folder_is_warned_of_lessons_in_flight(tmp_path, fake_openai):
    fake_openai.set_scenario({"batches": ["stuck"]})
    first = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(first.curriculum, ["One", "Two", "Three"])
    assert first.generate("--yes").returncode == 0
    second = ScriptDriver(tmp_path, fake_openai, work=tmp_path / "work2")
    result = second.generate("--dry-run")
    assert "is also used by the work dir work, where 3 lessons of this plan are in flight" in result.stderr


def test_an_upgraded_ledger_takes_its_saved_lessons_to_be_in_the_folder_it_remembers(tmp_path):
    old = V1WorkDir(tmp_path / "work")
    processed_and_in_flight(old)
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    for lesson_id in ("M0-L001", "M0-L002"):
        (lessons / f"{lesson_id}.md").write_text("# Lesson\n", encoding="utf-8")
    with Ledger.open(old.work_dir, assume=replace(ASSUMED, output_dir=str(lessons))) as ledger:
        assert ledger.saved_folders() == {"M0-L001": str(lessons), "M0-L002": str(lessons)}


def test_a_yes_to_the_question_pays_for_them_again(saved, tmp_path):
    asked = []
    options = PlanOptions(
        curriculum_path=saved.curriculum, template_path=BUNDLED_TEMPLATE, output_dir=tmp_path / "elsewhere",
        work_dir=saved.work,
    )
    with Ledger.open(saved.work) as ledger:
        generate(
            options, ledger, BatchApi("sk-test-fake-key-0000", base_url=saved.server.base_url),
            confirm_paying_again=lambda plan: asked.append(sorted(plan.saved_before)) or True,
        )
    assert asked == [LESSONS]
    assert sum(batches_per_lesson(saved.server).values()) == 3
