"""Specification of processing a large results file in worker processes (lesson_batch.result_workers).

Workers start only for large files; here the size threshold is lowered and the ranges made small
(a few lines each), so that a file of a few dozen lines is shared among two spawned workers. The
outcome must be exactly the one a single process gives, a worker that dies must lose nothing and
half-write nothing, and a run killed in the middle must be finished by the next one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lesson_batch import files, result_workers
from lesson_batch.crashpoints import ENV_VAR
from lesson_batch.files import TEMP_SUFFIX
from lesson_batch.ledger import Ledger
from lesson_batch.result_workers import WorkerDied
from lesson_batch.results import Processing, process_files
from tests.helpers import ledger_awaiting_results, run_python, success_record, wait_until

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ["Learning Objectives", "Summary"]
LESSON_IDS = [f"M1-L{number:03d}" for number in range(1, 41)]


def lesson_text(lesson_id: str, variant: str = "") -> str:
    return f"# {lesson_id}{variant}\n\n## Learning Objectives\n\n- One\n\n## Summary\n\nDone {variant}.\n"


def make_ledger(work_dir: Path) -> Ledger:
    return ledger_awaiting_results(work_dir, LESSON_IDS, SECTIONS)


def results_lines() -> list[str]:
    """Good lessons, with among them garbage, a duplicate far from its first line, a lesson missing
    a section, a refusal, a failed request and a blank line."""
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


@pytest.fixture
def in_workers(monkeypatch):
    """Every results file is shared among two workers, in ranges of about three lines."""
    monkeypatch.setattr(result_workers, "WORKERS_FROM_BYTES", 0)
    monkeypatch.setattr(result_workers, "RANGE_BYTES", 1000)
    monkeypatch.setattr(result_workers, "WORKERS", 2)


def outcome(root: Path) -> tuple[dict, dict, dict]:
    """The report, the lesson files and the ledger's lesson states of a processing run in ``root``."""
    results = write_results(root / "results.jsonl")
    with make_ledger(root / "work") as ledger:
        report = process_files(Processing.of(ledger, root / "lessons", root / "work"), [results])
        states = {lesson_id: (record.state, record.reason) for lesson_id, record in ledger.lessons().items()}
    summary = json.loads(json.dumps(report.as_json()).replace(str(root), "ROOT"))
    files = {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*.md")}
    return summary, files, states


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{TEMP_SUFFIX}"))


def test_the_ranges_of_the_test_file_really_are_shared_among_workers(tmp_path, in_workers):
    ranges = result_workers.line_ranges(write_results(tmp_path / "results.jsonl"), result_workers.RANGE_BYTES)
    assert len(ranges) >= 4


def test_workers_give_the_same_report_files_and_ledger_as_one_process(tmp_path, monkeypatch):
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    single = outcome(tmp_path / "one")
    monkeypatch.setattr(result_workers, "WORKERS_FROM_BYTES", 0)
    monkeypatch.setattr(result_workers, "RANGE_BYTES", 1000)
    monkeypatch.setattr(result_workers, "WORKERS", 2)
    shared = outcome(tmp_path / "many")
    assert shared == single
    assert len(single[0]["bad_lines"]) == 3  # the garbage, the repeated id, the id that is no lesson


def test_a_duplicate_id_in_another_range_is_skipped_and_the_first_line_wins(tmp_path, in_workers):
    summary, files, _ = outcome(tmp_path)
    assert files[f"lessons/{LESSON_IDS[2]}.md"] == lesson_text(LESSON_IDS[2]).encode()
    [repeated] = [entry for entry in summary["bad_lines"] if "appears again" in entry]
    assert repeated == f"ROOT/results.jsonl:31: {LESSON_IDS[2]} appears again (first at ROOT/results.jsonl:3); skipped"
    assert temporaries(tmp_path / "lessons") == []


def test_lines_are_numbered_across_ranges_counting_blank_lines(tmp_path, in_workers):
    summary, _, _ = outcome(tmp_path)
    assert "ROOT/results.jsonl:4: the line is not valid JSON" in summary["bad_lines"]
    assert any(entry.startswith("ROOT/results.jsonl:32: the custom_id 'not-a-lesson'") for entry in summary["bad_lines"])


def test_a_worker_that_dies_loses_nothing_and_the_next_run_finishes(tmp_path, in_workers, monkeypatch):
    results = write_results(tmp_path / "results.jsonl")
    lessons = tmp_path / "lessons"
    monkeypatch.setenv(ENV_VAR, "lesson_prepared:4")  # each worker kills itself at its 4th lesson
    with make_ledger(tmp_path / "work") as ledger:
        with pytest.raises(WorkerDied, match="run the same command again"):
            process_files(Processing.of(ledger, lessons, tmp_path / "work"), [results])
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
    for lesson_id, state in states.items():
        if state == "succeeded":
            assert (lessons / f"{lesson_id}.md").read_text() == lesson_text(lesson_id)
    for path in lessons.glob("*.md"):
        assert path.read_text() == lesson_text(path.stem), "a half-written or wrong lesson file"
    assert sum(state == "succeeded" for state in states.values()) < 20, "the workers did not die early"

    monkeypatch.delenv(ENV_VAR)
    with Ledger.open(tmp_path / "work") as ledger:
        report = process_files(Processing.of(ledger, lessons, tmp_path / "work"), [results])
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
    saved = {lesson_id for lesson_id, state in states.items() if state == "succeeded"}
    assert saved == set(LESSON_IDS[:30]) - {LESSON_IDS[i] for i in (3, 7, 9, 11, 15)}
    assert set(report.saved) | set(report.already_done) >= saved
    assert temporaries(lessons) == []


RUN_IN_WORKERS = """
import os
import sys
from pathlib import Path
from lesson_batch import result_workers
from lesson_batch.ledger import Ledger
from lesson_batch.results import Processing, process_files

start_worker = result_workers._start_worker


def start_worker_and_say_so(*args):
    with open(Path(sys.argv[1]) / "workers.txt", "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\\n")
    start_worker(*args)


if __name__ == "__main__":
    result_workers.WORKERS_FROM_BYTES, result_workers.RANGE_BYTES, result_workers.WORKERS = 0, 1000, 2
    result_workers._start_worker = start_worker_and_say_so
    root = Path(sys.argv[1])
    with Ledger.open(root / "work") as ledger:
        report = process_files(Processing.of(ledger, root / "lessons", root / "work"), [root / "results.jsonl"])
    print(len(report.saved), len(report.already_done))
"""


@pytest.mark.parametrize("crash_at", ["lesson_saved:6", "lessons_marked", "lesson_prepared:2"])
def test_a_run_killed_in_the_middle_is_finished_by_the_next_without_loss(tmp_path, crash_at):
    write_results(tmp_path / "results.jsonl")
    make_ledger(tmp_path / "work").close()
    script = tmp_path / "run_in_workers.py"
    script.write_text(RUN_IN_WORKERS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), ENV_VAR: crash_at}
    killed = run_python(script, tmp_path, env=env, cwd=tmp_path)
    assert killed.returncode != 0
    # The killed run's workers end themselves once they notice (result_workers._end_with), which
    # can take a moment on a busy machine. A re-run started before that leaves a live worker's
    # temporaries alone (it may still be writing), so the last check below would fail by chance.
    # A person runs the command again seconds later: so does this test, once they are gone.
    workers = [int(pid) for pid in (tmp_path / "workers.txt").read_text(encoding="utf-8").split()]
    assert workers, "the killed run should have started workers"
    wait_until(
        lambda: not any(files._writer_may_be_running(pid, tmp_path) for pid in workers),
        "the killed run's workers have ended",
    )
    for path in (tmp_path / "lessons").glob("*.md"):
        assert path.read_text() == lesson_text(path.stem), "a half-written or wrong lesson file"

    env.pop(ENV_VAR)
    finished = run_python(script, tmp_path, env=env, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    with Ledger.open(tmp_path / "work") as ledger:
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
    saved = {lesson_id for lesson_id, state in states.items() if state == "succeeded"}
    assert saved == set(LESSON_IDS[:30]) - {LESSON_IDS[i] for i in (3, 7, 9, 11, 15)}
    for lesson_id in saved:
        assert (tmp_path / "lessons" / f"{lesson_id}.md").read_text() == lesson_text(lesson_id)
    assert temporaries(tmp_path / "lessons") == []
