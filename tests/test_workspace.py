"""The work dir's layout: every name inside a work dir, made in one place."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

from lesson_batch import existing_lesson
from lesson_batch.files import write_temporary
from lesson_batch.ledger import Ledger, ShardRecord
from lesson_batch.saving import Processing, process_files
from lesson_batch.states import SHARD_SUBMITTED
from lesson_batch.submit import forget_input
from lesson_batch.workspace import Workspace
from tests.helpers import ledger_awaiting_results, success_record

SECTIONS = ["Learning Objectives", "Summary"]
GOOD = "# A lesson\n\n## Learning Objectives\n\n- One\n\n## Summary\n\nDone.\n"


def test_the_ledger_lives_where_the_workspace_says(tmp_path):
    with Ledger.open(tmp_path / "work"):
        pass
    assert Workspace(tmp_path / "work").ledger_path.is_file()
    assert Ledger.exists(tmp_path / "work")


def test_a_plan_of_one_request_file_keeps_the_plain_name_and_several_are_numbered(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.input_file(0, 1) == tmp_path / "datagov_lessons_input.jsonl"
    assert workspace.input_file(2, 3) == tmp_path / "datagov_lessons_input_003.jsonl"


def test_a_submitted_request_file_is_kept_under_submitted(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.submitted_input("batch_abc") == tmp_path / "submitted" / "batch_abc.jsonl"
    assert Workspace.is_submitted_input(workspace.submitted_input("batch_abc"))
    assert not Workspace.is_submitted_input(workspace.input_file(0, 1))


def _process(tmp_path: Path, answers: dict[str, str], force: bool = False) -> Workspace:
    """Process, in ``tmp_path/work``, a results file answering each lesson with its text."""
    results = tmp_path / "results.jsonl"
    results.write_text(
        "".join(json.dumps(success_record(lesson_id, text)) + "\n" for lesson_id, text in answers.items()),
        encoding="utf-8",
    )
    with ledger_awaiting_results(tmp_path / "work", list(answers), SECTIONS) as ledger:
        process_files(Processing.of(ledger, tmp_path / "lessons", tmp_path / "work", force), [results])
    return Workspace(tmp_path / "work")


def _shard(input_path: Path) -> ShardRecord:
    return ShardRecord("run1-s001", "run1", "gpt-6.1-terra", str(input_path), "0" * 64, 1, 10, 10, (),
                       SHARD_SUBMITTED, "file-1", "batch_abc", 0.0)


def test_only_a_request_file_kept_under_submitted_is_deleted_once_its_batch_is_processed(tmp_path):
    """A processed batch's request file kept under submitted/ goes; a request file an older version
    left elsewhere in the work dir (the plan's own name, which the next plan writes again) is left
    alone."""
    workspace = Workspace(tmp_path)
    ours = workspace.submitted_input("batch_abc")
    ours.parent.mkdir()
    older = tmp_path / "datagov_lessons_input.jsonl"
    for path in (ours, older):
        path.write_text("{}\n", encoding="utf-8")

    forget_input(_shard(ours))
    forget_input(_shard(older))
    forget_input(None)  # a batch with no shard (adopted, or an older ledger's)

    assert not ours.exists()
    assert older.read_text(encoding="utf-8") == "{}\n"


def test_a_lesson_that_fails_its_checks_is_kept_where_the_workspace_says(tmp_path):
    workspace = _process(tmp_path, {"M0-L001": "# A title only\n\nSome text.\n"})
    assert workspace.rejected("M0-L001").read_text(encoding="utf-8").startswith("# A title only")
    assert not (tmp_path / "lessons" / "M0-L001.md").exists()


def test_a_lesson_not_saved_over_an_existing_file_is_kept_where_the_workspace_says(tmp_path):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "M0-L001.md").write_text("# Written by hand\n", encoding="utf-8")
    workspace = _process(tmp_path, {"M0-L001": GOOD})
    assert workspace.not_overwritten("M0-L001").read_text(encoding="utf-8") == GOOD
    assert (tmp_path / "lessons" / "M0-L001.md").read_text(encoding="utf-8") == "# Written by hand\n"


def test_a_lesson_file_replaced_with_force_is_kept_where_the_workspace_says(tmp_path):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "M0-L001.md").write_text("# Written by hand\n", encoding="utf-8")
    workspace = _process(tmp_path, {"M0-L001": GOOD}, force=True)
    [kept] = (workspace.root / "replaced").iterdir()
    stamp = kept.name[len("M0-L001."):-len(".md")]
    assert kept == workspace.replaced("M0-L001", stamp)
    assert kept.read_text(encoding="utf-8") == "# Written by hand\n"
    assert (tmp_path / "lessons" / "M0-L001.md").read_text(encoding="utf-8") == GOOD


def test_a_batch_s_result_files_are_named_by_the_workspace_after_its_id(tmp_path):
    assert Workspace(tmp_path).result_file_names("batch_1") == (
        "datagov_lessons_results_batch_1.jsonl", "datagov_lessons_errors_batch_1.jsonl"
    )


def test_each_older_version_replaced_with_force_is_kept_under_the_time_it_was_replaced(tmp_path, monkeypatch):
    """Two replacements of one lesson keep both older versions (issue 19: ``resolve_existing`` 15,
    19, 20). The clock is the test's: the first replacement at 0 s, the second at 1 s (UTC)."""
    moments = iter([time.gmtime(0), time.gmtime(1)])
    clock = SimpleNamespace(strftime=lambda form: time.strftime(form, next(moments)))
    monkeypatch.setattr(existing_lesson, "time", clock)
    workspace = Workspace(tmp_path / "work")
    path = tmp_path / "lessons" / "M0-L001.md"
    path.parent.mkdir()
    path.write_text("# First\n", encoding="utf-8")

    for version in ("# Second\n", "# Third\n"):
        temporary = write_temporary(path, version)
        outcome = existing_lesson.resolve_existing(workspace, "M0-L001", version.encode(), temporary, str(path), True)
        assert outcome is existing_lesson.SaveOutcome.REPLACED

    assert path.read_text(encoding="utf-8") == "# Third\n"
    kept = {kept.name: kept.read_text(encoding="utf-8") for kept in (workspace.root / "replaced").iterdir()}
    assert kept == {"M0-L001.19700101T000000.md": "# First\n", "M0-L001.19700101T000001.md": "# Second\n"}
