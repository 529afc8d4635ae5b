"""The cost of a results file that answers lessons of two models (a file downloaded by hand).

A report is priced at the model most of its lines were for; a line for a lesson an earlier run
already saved is skipped, but its tokens were billed, and its model counts like any other.
"""

from __future__ import annotations

import json

import pytest

from lesson_batch import models
from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger
from lesson_batch.ledger.records import Saved
from tests.helpers import PROCESS_SCRIPT, run_script, success_record

DONE_MODEL, NEW_MODEL = models.DEFAULT_MODEL, models.CHEAPER_MODEL
USAGE = {"prompt_tokens": 100_000, "completion_tokens": 50_000, "total_tokens": 150_000}  # of each line


def _batch(ledger: Ledger, number: int, model: str, lesson_ids: list[str], work) -> None:
    shard = f"run{number}-s001"
    ledger.record_shard(
        shard_key=shard, run_id=f"run{number}", model=model, input_path=str(work / f"input{number}.jsonl"),
        sha256=str(number) * 64, lessons=[(lesson_id, 16_000, None) for lesson_id in lesson_ids],
        prompt_tokens=1_000, output_tokens=1_000, required_sections=[],
    )
    ledger.shard_uploaded(shard, f"file-input-{number}")
    ledger.shard_submitted(shard, BatchInfo(
        id=f"batch_{number}", status="completed", input_file_id=f"file-input-{number}",
        request_total=len(lesson_ids),
    ))


@pytest.mark.parametrize(("done", "new", "priced_at"), [(3, 2, DONE_MODEL), (2, 3, NEW_MODEL)])
def test_a_file_mixing_models_is_priced_at_the_model_of_most_of_its_lines_lessons_already_saved_counted(
    tmp_path, done, new, priced_at
):
    """Issue 19: ``saving._apply`` 64-66 counted a skipped line's model once, against it, or twice,
    and so priced the file at the model of fewer of its lines."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    done_ids = [f"M0-L00{n}" for n in range(1, done + 1)]
    new_ids = [f"M1-L00{n}" for n in range(1, new + 1)]
    with Ledger.open(work) as ledger:
        _batch(ledger, 1, DONE_MODEL, done_ids, work)
        _batch(ledger, 2, NEW_MODEL, new_ids, work)
        ledger.lessons_saved([Saved(lesson_id, "batch_1") for lesson_id in done_ids])
    hand = tmp_path / "downloaded_by_hand.jsonl"
    lines = [success_record(lesson_id, f"# {lesson_id}\n\nA lesson.\n", usage=USAGE)
             for lesson_id in done_ids + new_ids]
    hand.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--results-file", hand, "--json",
                        cwd=tmp_path)

    assert "Traceback" not in result.stderr, result.stderr
    total = json.loads(result.stdout)["result"]["total"]
    assert (total["saved"], total["already_done"]) == (new, done)
    billed = done + new
    expected = models.batch_cost(priced_at, 100_000 * billed, 50_000 * billed)
    other = models.batch_cost(NEW_MODEL if priced_at == DONE_MODEL else DONE_MODEL, 100_000 * billed, 50_000 * billed)
    assert abs(expected - other) > 0.01
    assert total["actual_cost_usd"] == pytest.approx(expected, abs=1e-4)
