"""Specification of generate_datagov_lessons_batch.py without a server: dry runs and early errors.

Each test runs the real script (tests/helpers.run_script) with the network
blocked, no OPENAI_* variable, and tmp_path as its current folder. There is no server at all
here, so any attempt to reach an API would fail the run.
"""

from __future__ import annotations

import json

import pytest

from lesson_batch.curriculum import load_curriculum
from tests.helpers import BUNDLED_CURRICULUM, GENERATE_SCRIPT, REPO_ROOT, run_script

WORK = "tmp/work"
LESSONS = "tmp/lessons"


def generate(tmp_path, *args, env=None):
    return run_script(GENERATE_SCRIPT, "--work-dir", WORK, "--output-dir", LESSONS, *args, env=env, cwd=tmp_path)


def request_lines(tmp_path):
    return [
        line
        for path in sorted((tmp_path / WORK).glob("datagov_lessons_input*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


@pytest.fixture(scope="module")
def bundled_ids():
    return [lesson.id for lesson in load_curriculum(BUNDLED_CURRICULUM).lessons]


# --- dry run on the bundled curriculum --------------------------------------------------------


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dry_run")
    return folder, generate(folder, "--dry-run")


def test_dry_run_on_the_bundled_curriculum_exits_0(dry_run):
    _, result = dry_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_writes_one_valid_request_line_per_bundled_lesson(dry_run, bundled_ids):
    folder, _ = dry_run
    lines = request_lines(folder)
    assert len(lines) == 336
    records = [json.loads(line) for line in lines]
    custom_ids = [record["custom_id"] for record in records]
    assert len(set(custom_ids)) == len(custom_ids)
    assert custom_ids == bundled_ids
    for record in records:
        assert record["method"] == "POST"
        assert record["url"] == "/v1/chat/completions"
        assert record["body"]["model"] == "gpt-6.1-terra"
        assert [message["role"] for message in record["body"]["messages"]] == ["system", "user"]


def test_dry_run_writes_the_request_file_under_the_given_work_dir(dry_run):
    folder, _ = dry_run
    assert (folder / WORK / "datagov_lessons_input.jsonl").is_file()
    assert not (folder / LESSONS).exists()


def test_dry_run_prints_the_plan_with_an_estimated_cost(dry_run):
    _, result = dry_run
    assert "15 modules, 336 lessons" in result.stdout
    assert "to request: 336" in result.stdout
    assert "Input files: 1" in result.stdout
    assert "Estimated cost: $" in result.stdout
    assert "Dry run: nothing was uploaded" in result.stdout


def test_dry_run_prints_no_warning_for_the_bundled_files(dry_run):
    _, result = dry_run
    assert "warning" not in result.stderr.lower()


def test_dry_run_with_selection_writes_only_the_selected_lessons(tmp_path):
    result = generate(tmp_path, "--dry-run", "--lessons", "M0-L001,M14-L001")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["custom_id"] for line in request_lines(tmp_path)] == ["M0-L001", "M14-L001"]


def test_dry_run_skips_lessons_that_already_have_a_file(tmp_path):
    (tmp_path / LESSONS).mkdir(parents=True)
    (tmp_path / LESSONS / "M0-L002.md").write_text("# Done\n", encoding="utf-8")
    result = generate(tmp_path, "--dry-run", "--modules", "M0")
    assert result.returncode == 0, result.stderr
    custom_ids = [json.loads(line)["custom_id"] for line in request_lines(tmp_path)]
    assert "M0-L002" not in custom_ids and "M0-L001" in custom_ids
    assert "already generated (skipped): 1" in result.stdout


# --- without a key ----------------------------------------------------------------------------


def test_without_a_key_the_run_exits_1_naming_every_place_a_key_can_be(tmp_path):
    if any((REPO_ROOT / name).exists() for name in (".env", "openaiapikey.txt")):
        pytest.skip("the project folder holds a key file, which the script would find")
    result = generate(tmp_path)
    assert result.returncode == 1
    for place in ("OPENAI_API_KEY", ".env", "openaiapikey.txt"):
        assert place in result.stderr
    assert "Traceback" not in result.stderr
    assert "NetworkBlockedError" not in result.stderr


def test_without_a_key_nothing_is_planned_or_recorded(tmp_path):
    if any((REPO_ROOT / name).exists() for name in (".env", "openaiapikey.txt")):
        pytest.skip("the project folder holds a key file, which the script would find")
    result = generate(tmp_path)
    assert result.returncode == 1
    work = tmp_path / WORK
    assert not work.exists() or list(work.iterdir()) == []


# --- errors -----------------------------------------------------------------------------------


def test_curriculum_error_exits_1_naming_file_and_line_without_traceback(tmp_path):
    (tmp_path / "bad.md").write_text("# Course\n## L001: Orphan lesson\n", encoding="utf-8")
    result = generate(tmp_path, "--dry-run", "--curriculum", "bad.md")
    assert result.returncode == 1
    assert "bad.md:2:" in result.stderr
    assert "Traceback" not in result.stderr
    assert request_lines(tmp_path) == []


def test_missing_curriculum_exits_1_naming_the_file(tmp_path):
    result = generate(tmp_path, "--dry-run", "--curriculum", "nowhere.md")
    assert result.returncode == 1
    assert "nowhere.md" in result.stderr
    assert "Traceback" not in result.stderr


def test_temperature_with_the_default_reasoning_model_exits_2(tmp_path):
    result = generate(tmp_path, "--dry-run", "--temperature", "0.5")
    assert result.returncode == 2
    assert "temperature" in result.stderr
    assert "Traceback" not in result.stderr
    assert request_lines(tmp_path) == []


def test_unknown_module_exits_2_naming_it(tmp_path):
    result = generate(tmp_path, "--dry-run", "--modules", "M99")
    assert result.returncode == 2
    assert "M99" in result.stderr
    assert "Traceback" not in result.stderr
    assert request_lines(tmp_path) == []


def test_help_exits_0_and_explains_the_exit_codes(tmp_path):
    result = run_script(GENERATE_SCRIPT, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "--dry-run" in result.stdout
    assert "exit codes: 0 success, 1 failure" in result.stdout
    assert "2 usage error" in result.stdout
