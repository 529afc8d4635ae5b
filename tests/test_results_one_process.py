"""Specification of processing a results file in one process (lesson_batch.saving), line by line:
read, clean and check, write, record.

The file mixes good lessons with garbage, a lesson missing a section, a refusal, a failed request,
a blank line, a repeated id far from its first line and an id that is no lesson. Lessons are
recorded a few at a time here (the group size is lowered), so that a kill lands between groups:
whatever the point, nothing is half-written, nothing is marked saved before its file was flushed
to disk, and the next run finishes the job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lesson_batch import saving
from lesson_batch.crashpoints import ENV_VAR
from lesson_batch.files import TEMP_SUFFIX
from lesson_batch.ledger import Ledger
from lesson_batch.saving import Processing, process_files
from tests.helpers import ledger_awaiting_results, run_python, success_record

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ["Learning Objectives", "Summary"]
LESSON_IDS = [f"M1-L{number:03d}" for number in range(1, 41)]
GROUP = 4  # lessons per ledger transaction in these tests
NOT_SAVED = {3, 7, 9, 11, 15}  # garbage, a missing section, a refusal, a failed request, a blank line


def lesson_text(lesson_id: str, variant: str = "") -> str:
    return f"# {lesson_id}{variant}\n\n## Learning Objectives\n\n- One\n\n## Summary\n\nDone {variant}.\n"


def make_ledger(work_dir: Path) -> Ledger:
    return ledger_awaiting_results(work_dir, LESSON_IDS, SECTIONS)


def results_lines() -> list[str]:
    lines = [json.dumps(success_record(lesson_id, lesson_text(lesson_id))) for lesson_id in LESSON_IDS[:30]]
    lines[3] = "{not json"
    lines[7] = json.dumps(success_record(LESSON_IDS[7], "# Only a title\n"))
    refusal = success_record(LESSON_IDS[9], None)
    refusal["response"]["body"]["choices"][0]["message"]["refusal"] = "I cannot help with that."
    lines[9] = json.dumps(refusal)
    lines[11] = json.dumps({"custom_id": LESSON_IDS[11], "response": {"status_code": 500, "body": {
        "error": {"code": "server_error", "message": "boom"}}}, "error": None})
    lines[15] = ""
    lines.append(json.dumps(success_record(LESSON_IDS[2], lesson_text(LESSON_IDS[2], " (second answer)"))))
    lines.append(json.dumps(success_record("not-a-lesson", "# x\n")))
    return lines


def write_results(path: Path) -> Path:
    path.write_text("\n".join(results_lines()) + "\n", encoding="utf-8")
    return path


EXPECTED_SAVED = set(LESSON_IDS[:30]) - {LESSON_IDS[i] for i in NOT_SAVED}


@pytest.fixture
def small_groups(monkeypatch):
    monkeypatch.setattr(saving, "LEDGER_GROUP_SIZE", GROUP)


def outcome(root: Path) -> tuple[dict, dict, dict]:
    """The report, the lesson files and the ledger's lesson states of a processing run in ``root``."""
    path = write_results(root / "results.jsonl")
    with make_ledger(root / "work") as ledger:
        report = process_files(Processing.of(ledger, root / "lessons", root / "work"), [path])
        states = {lesson_id: (record.state, record.reason) for lesson_id, record in ledger.lessons().items()}
    summary = json.loads(json.dumps(report.as_json()).replace(str(root), "ROOT"))
    files = {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*.md")}
    return summary, files, states


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{TEMP_SUFFIX}"))


def test_a_repeated_id_far_from_its_first_line_is_skipped_and_the_first_line_wins(tmp_path, small_groups):
    summary, files, _ = outcome(tmp_path)
    assert files[f"lessons/{LESSON_IDS[2]}.md"] == lesson_text(LESSON_IDS[2]).encode()
    [repeated] = [entry for entry in summary["bad_lines"] if "appears again" in entry]
    assert repeated == f"ROOT/results.jsonl:31: {LESSON_IDS[2]} appears again (first at ROOT/results.jsonl:3); skipped"
    assert len(summary["bad_lines"]) == 3  # the garbage, the repeated id, the id that is no lesson
    assert temporaries(tmp_path / "lessons") == []


def test_lines_are_numbered_counting_blank_lines(tmp_path, small_groups):
    summary, _, _ = outcome(tmp_path)
    assert "ROOT/results.jsonl:4: the line is not valid JSON" in summary["bad_lines"]
    not_a_lesson = "ROOT/results.jsonl:32: the custom_id 'not-a-lesson'"
    assert any(entry.startswith(not_a_lesson) for entry in summary["bad_lines"])


def test_the_good_lessons_are_saved_and_the_others_marked_with_why(tmp_path, small_groups):
    _, files, states = outcome(tmp_path)
    saved = {lesson_id for lesson_id, (state, _) in states.items() if state == "succeeded"}
    assert saved == EXPECTED_SAVED
    assert {path for path in files if path.startswith("lessons/")} == {f"lessons/{i}.md" for i in EXPECTED_SAVED}
    assert states[LESSON_IDS[9]][0] == "failed" and "refusal" in states[LESSON_IDS[9]][1]
    assert "http_500" in states[LESSON_IDS[11]][1]


def test_no_lesson_is_marked_saved_before_its_file_was_flushed_to_disk(tmp_path, small_groups, monkeypatch):
    flushed: set[str] = set()
    marked_early: list[str] = []
    real_flush, real_saved = saving.flush_to_disk, Ledger.lessons_saved

    def flush(paths):
        paths = list(paths)
        real_flush(paths)
        flushed.update(Path(path).stem for path in paths)

    def lessons_saved(self, saved):
        marked_early.extend(entry.lesson_id for entry in saved if entry.lesson_id not in flushed)
        return real_saved(self, saved)

    monkeypatch.setattr(saving, "flush_to_disk", flush)
    monkeypatch.setattr(Ledger, "lessons_saved", lessons_saved)
    _, _, states = outcome(tmp_path)
    assert {lesson_id for lesson_id, (state, _) in states.items() if state == "succeeded"} == EXPECTED_SAVED
    assert marked_early == []


RUN = """
import sys
from pathlib import Path
from lesson_batch import saving
from lesson_batch.ledger import Ledger
from lesson_batch.saving import Processing, process_files

saving.LEDGER_GROUP_SIZE = int(sys.argv[2])
root = Path(sys.argv[1])
with Ledger.open(root / "work") as ledger:
    report = process_files(Processing.of(ledger, root / "lessons", root / "work"), [root / "results.jsonl"])
print(len(report.saved), len(report.already_done))
"""


@pytest.mark.parametrize("crash_at", ["lesson_prepared:2", "lesson_saved:6", "lessons_marked:2"])
def test_a_run_killed_in_the_middle_is_finished_by_the_next_without_loss(tmp_path, crash_at):
    write_results(tmp_path / "results.jsonl")
    with make_ledger(tmp_path / "work"):
        pass
    script = tmp_path / "run.py"
    script.write_text(RUN, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), ENV_VAR: crash_at}
    killed = run_python(script, tmp_path, GROUP, env=env, cwd=tmp_path)
    assert killed.returncode != 0
    with Ledger.open(tmp_path / "work") as ledger:
        marked = {lesson_id for lesson_id, record in ledger.lessons().items() if record.state == "succeeded"}
    assert marked < EXPECTED_SAVED, "the run was not killed in the middle"
    for lesson_id in marked:
        assert (tmp_path / "lessons" / f"{lesson_id}.md").read_text() == lesson_text(lesson_id)
    for path in (tmp_path / "lessons").glob("*.md"):
        assert path.read_text() == lesson_text(path.stem), "a half-written or wrong lesson file"

    env.pop(ENV_VAR)
    finished = run_python(script, tmp_path, GROUP, env=env, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    with Ledger.open(tmp_path / "work") as ledger:
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
    saved = {lesson_id for lesson_id, state in states.items() if state == "succeeded"}
    assert saved == EXPECTED_SAVED
    for lesson_id in saved:
        assert (tmp_path / "lessons" / f"{lesson_id}.md").read_text() == lesson_text(lesson_id)
    assert temporaries(tmp_path / "lessons") == []


def test_a_lesson_file_that_cannot_take_its_name_leaves_no_temporary_behind(tmp_path, monkeypatch):
    """A failure while a good lesson takes its name (a full disk, a permission) stops processing,
    and its temporary file is gone from the lessons folder (``saving._save``: only a published
    temporary is kept)."""
    def full_disk(temporary, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(saving, "publish", full_disk)
    path = write_results(tmp_path / "results.jsonl")
    with make_ledger(tmp_path / "work") as ledger, pytest.raises(OSError):
        process_files(Processing.of(ledger, tmp_path / "lessons", tmp_path / "work"), [path])

    assert temporaries(tmp_path / "lessons") == []
