"""The work dir's layout: every name inside a work dir, made in one place."""

from pathlib import Path

from lesson_batch import results
from lesson_batch.ledger import Ledger
from lesson_batch.workspace import Workspace


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


def test_the_workspace_names_the_files_results_processing_writes_as_it_does(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.result_file_names("batch_1") == results.result_file_names("batch_1")
    assert workspace.rejected("M0-L001") == Path(tmp_path) / results.REJECTED_DIR / "M0-L001.md"
    assert workspace.not_overwritten("M0-L001") == Path(tmp_path) / results.NOT_OVERWRITTEN_DIR / "M0-L001.md"
    assert workspace.replaced("M0-L001", "20261202T101500") == (
        Path(tmp_path) / results.REPLACED_DIR / "M0-L001.20261202T101500.md"
    )
