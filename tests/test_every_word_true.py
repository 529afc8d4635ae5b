"""What the scripts say is what they do: the smaller cases of issue 20 ("Every word true").

Filters that exclude each other, a cost that reads like a new charge, a dry run over --max-cost,
an option that would be silently ignored, a folder named only by its last part, and a work dir
given relative to the current folder that a later run from another folder must find again.
"""

from __future__ import annotations

import json

from tests.helpers import (
    GENERATE_SCRIPT,
    PROCESS_SCRIPT,
    STATUS_SCRIPT,
    ledger_awaiting_results,
    run_script,
    success_record,
    write_curriculum,
)

TODAY = {"LESSON_BATCH_TODAY": "2026-12-02"}


def dry_run(tmp_path, *args):
    return run_script(GENERATE_SCRIPT, "--dry-run", "--work-dir", "work", "--output-dir", "lessons", *args,
                      cwd=tmp_path, env=TODAY)


# --------------------------------------------------------------------------- selection


def test_lessons_and_modules_that_exclude_each_other_are_a_usage_error_that_says_so(tmp_path):
    result = dry_run(tmp_path, "--lessons", "M0-L001", "--modules", "M1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--lessons M0-L001 and --modules M1 exclude each other" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_named_lesson_outside_the_named_modules_is_said_to_be_left_out(tmp_path):
    result = dry_run(tmp_path, "--lessons", "M0-L001,M1-L001", "--modules", "M1")
    assert result.returncode == 0, result.stderr
    assert "to request: 1" in result.stdout
    assert "warning: --lessons M0-L001 is not in --modules M1: left out" in result.stderr


def test_a_dry_run_with_nothing_to_request_points_at_no_request_files(tmp_path):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "M0-L001.md").write_text("# A lesson\n", encoding="utf-8")
    result = dry_run(tmp_path, "--lessons", "M0-L001")
    assert result.returncode == 0, result.stderr
    assert "to request: 0" in result.stdout and "Input files: 0" in result.stdout
    assert "request files are listed above" not in result.stdout
    assert "there is nothing to request" in result.stdout


# --------------------------------------------------------------------------- money


def test_a_dry_run_over_max_cost_warns_that_the_real_run_would_refuse(tmp_path):
    result = dry_run(tmp_path, "--max-cost", "1")
    assert result.returncode == 0, result.stderr
    cost = next(line for line in result.stdout.splitlines() if line.startswith("Estimated cost: "))
    shown = cost.split()[2]
    assert float(shown.lstrip("$").replace(",", "")) > 1
    assert (f"warning: the estimated cost {shown} is above --max-cost $1.00: the same command without --dry-run "
            "would refuse to submit") in result.stderr


def test_a_dry_run_within_max_cost_does_not_warn(tmp_path):
    result = dry_run(tmp_path, "--max-cost", "1000")
    assert result.returncode == 0, result.stderr
    assert "max-cost" not in result.stderr


def _awaiting(tmp_path, lesson_ids):
    """A work dir whose completed batch awaits ``lesson_ids``, and a results file answering each."""
    work = tmp_path / "work"
    ledger_awaiting_results(work, lesson_ids, []).close()
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(success_record(lesson_id, f"# Lesson {lesson_id}\n\nText.\n")) + "\n"
                               for lesson_id in lesson_ids), encoding="utf-8")
    return work, results


def test_processing_a_processed_file_again_does_not_read_like_a_new_charge(tmp_path):
    work, results = _awaiting(tmp_path, ["M0-L001", "M0-L002"])
    args = ("--work-dir", work, "--output-dir", tmp_path / "lessons", "--results-file", results)
    first = run_script(PROCESS_SCRIPT, *args, cwd=tmp_path)
    again = run_script(PROCESS_SCRIPT, *args, cwd=tmp_path)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "charges nothing" not in first.stdout + first.stderr
    said = again.stdout + again.stderr
    assert "already processed before: 2" in said
    cost = next(line for line in said.splitlines() if "cost at Batch prices" in line)
    assert "all processed before: processing them again charges nothing" in cost


# --------------------------------------------------------------------------- options that do nothing


def test_interval_without_wait_is_a_usage_error_like_concurrency_without_flex(tmp_path):
    generate = dry_run(tmp_path, "--interval", "5")
    status = run_script(STATUS_SCRIPT, "--work-dir", "work", "--interval", "5", cwd=tmp_path)
    assert (generate.returncode, status.returncode) == (2, 2)
    assert "--interval goes with --wait" in generate.stderr
    assert "--interval goes with --watch" in status.stderr
    assert dry_run(tmp_path, "--concurrency", "3").returncode == 2  # the rule it follows


# --------------------------------------------------------------------------- folders named in full


def test_a_replaced_lesson_names_the_folder_its_old_version_is_kept_in(tmp_path):
    work, results = _awaiting(tmp_path, ["M0-L001"])
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "M0-L001.md").write_text("# An older lesson\n", encoding="utf-8")
    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", tmp_path / "lessons",
                        "--results-file", results, "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(1 replaced older files, kept in work/replaced/)" in result.stdout + result.stderr
    assert [path.parent for path in (work / "replaced").iterdir()] == [work / "replaced"]


def test_a_work_dir_given_relative_to_the_current_folder_is_found_again_from_another_folder(tmp_path, fake_openai):
    """The request file kept for a batch that failed validation, recorded by a run given
    ``--work-dir work``, is named by a status run from another folder."""
    fake_openai.set_scenario({"batches": [{"outcome": "fail_validation",
                                           "error": {"code": "invalid_json_line", "line": 2}}]})
    write_curriculum(tmp_path / "course.md", ["First", "Second"])
    env = fake_openai.env()
    submitted = run_script(GENERATE_SCRIPT, "--curriculum", "course.md", "--work-dir", "work",
                           "--output-dir", "lessons", "--yes", cwd=tmp_path, env=env)
    assert submitted.returncode == 0, submitted.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    status = run_script(STATUS_SCRIPT, "--work-dir", tmp_path / "work", cwd=elsewhere, env=env)
    batch_id = fake_openai.created_batches()[0]["id"]
    kept = tmp_path / "work" / "submitted" / f"{batch_id}.jsonl"
    assert kept.is_file()
    assert f"input file: {kept}" in status.stdout, status.stdout + status.stderr
