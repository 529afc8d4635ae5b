"""Each batch's results are its own (issue 14): named by batch id, found through the ledger.

The API's ``created_at`` is in whole seconds and batch ids are random, so batches created in the
same second sort in any order. The fake server does that on demand (``same_second_batches``,
``batch_id_order: "descending"``: each new batch sorts before every earlier one), which is what
once made a batch read another batch's results file, mark its own lessons missing, and have them
paid for again. These tests run the real scripts against it and check, from the server's own
records, that every lesson is requested in exactly one batch.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import GENERATE_SCRIPT, PROCESS_SCRIPT, STATUS_SCRIPT, run_script, success_record

INTERVAL = "0.05"
SHARD_SIZE = 4
# Four lessons of this curriculum estimate ~3,100 prompt tokens: the cap lets one batch run at a time.
ONE_SHARD_AT_A_TIME = 4000
SAME_SECOND_DESCENDING = {"same_second_batches": True, "batch_id_order": "descending"}


def write_curriculum(path: Path, modules: int) -> list[str]:
    """A curriculum of ``modules`` modules of four lessons; returns the lesson ids."""
    lines, lesson_ids = ["# Results Per Batch Curriculum", ""], []
    for module in range(modules):
        lines += [f"# M{module}: Module {module} — Lesson Map", ""]
        for number in range(1, 5):
            lines += [f"## L{number:03d}: Topic {module}.{number} [F]", f"Key topics: topic {number}.", ""]
            lesson_ids.append(f"M{module}-L{number:03d}")
    path.write_text("\n".join(lines), encoding="utf-8")
    return lesson_ids


@dataclass
class Project:
    root: Path
    server: FakeOpenAIServer
    lesson_ids: list[str]

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def out(self) -> Path:
        return self.root / "lessons"

    def run(self, script: str, *args, crash_at: str | None = None) -> subprocess.CompletedProcess:
        env = {**self.server.env(api_key="sk-test-results-per-batch"), "LESSON_BATCH_CRASH_AT": crash_at}
        result = run_script(script, *args, "--work-dir", self.work, env=env, cwd=self.root)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def generate(self, *args, crash_at: str | None = None) -> subprocess.CompletedProcess:
        return self.run(
            GENERATE_SCRIPT, "--yes", "--curriculum", self.root / "curriculum.md", "--output-dir", self.out,
            "--max-requests-per-batch", SHARD_SIZE, "--interval", INTERVAL, *args, crash_at=crash_at,
        )

    def watch(self) -> subprocess.CompletedProcess:
        return self.run(STATUS_SCRIPT, "--watch", "--interval", INTERVAL)

    def process(self, *args) -> subprocess.CompletedProcess:
        return self.run(PROCESS_SCRIPT, "--output-dir", self.out, *args)

    def batches_per_lesson(self) -> Counter:
        """How many batches the server was asked to run each lesson in (each one is paid for)."""
        return Counter(
            line["custom_id"]
            for batch in self.server.created_batches()
            for line in self.server.file_lines(batch["input_file_id"])
        )

    def saved(self) -> list[str]:
        return sorted(path.stem for path in self.out.glob("*.md"))


def new_project(tmp_path: Path, server: FakeOpenAIServer, modules: int) -> Project:
    return Project(tmp_path, server, write_curriculum(tmp_path / "curriculum.md", modules))


def created_without_recording(project: Project, batch_number: int) -> None:
    """generate is killed right after creating its ``batch_number``-th batch, before recording it."""
    killed = project.generate(crash_at=f"after_create:{batch_number}")
    assert killed.returncode < 0, killed.stdout + killed.stderr
    assert len(project.server.created_batches()) == batch_number


# ---- the two sequences of the issue -------------------------------------------------------


def test_rolling_submission_with_batches_in_the_same_second_saves_every_lesson_paying_once(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=3)
    fake_openai.set_scenario(SAME_SECOND_DESCENDING)

    waited = project.generate("--wait", "--max-enqueued-tokens", ONE_SHARD_AT_A_TIME)

    assert len(fake_openai.created_batches()) == 3
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert project.saved() == project.lesson_ids
    assert project.batches_per_lesson() == Counter(project.lesson_ids)
    again = project.generate()
    assert "Nothing to submit." in again.stdout and len(fake_openai.created_batches()) == 3


def test_an_adopted_batch_sorting_first_reads_its_own_results_and_wait_saves_them(tmp_path, fake_openai):
    project = new_project(tmp_path, fake_openai, modules=2)
    fake_openai.set_scenario(SAME_SECOND_DESCENDING)
    created_without_recording(project, 2)
    project.watch()
    assert project.process().returncode == 0  # the first batch only: the second is not recorded

    waited = project.generate("--wait")

    assert "adopted" in waited.stdout
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert project.saved() == project.lesson_ids
    assert "All requested lessons are saved." in waited.stdout
    assert project.batches_per_lesson() == Counter(project.lesson_ids)
