"""Specification of splitting requests into Batch API input files (lesson_batch.shards).

Requests here are real ``LessonRequest`` values with lines of known size, so each limit can be
reached with a handful of requests.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from lesson_batch.requests import LessonRequest
from lesson_batch.shards import ShardError, ShardLimits, ShardWriter
from lesson_batch.workspace import INPUT_STEM, Workspace

LINE_BYTES = 100


def make_request(
    lesson_number: int, size: int = LINE_BYTES, prompt_tokens: int = 10, budget: int = 16_000
) -> LessonRequest:
    """A valid JSONL request line for M0-L<n> of exactly ``size`` bytes (newline included)."""
    lesson_id = f"M0-L{lesson_number:03d}"
    record = {"custom_id": lesson_id, "method": "POST", "url": "/v1/chat/completions", "body": {"pad": ""}}
    bare = len(json.dumps(record, separators=(",", ":"))) + 1
    assert size >= bare, "size too small for a request line"
    record["body"]["pad"] = "x" * (size - bare)
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
    assert len(line) == size
    return LessonRequest(lesson_id, line, prompt_tokens, budget, None)


def write_shards(work_dir, requests, limits=ShardLimits(), output_tokens=100):
    writer = ShardWriter(work_dir, limits)
    for request in requests:
        writer.add(request, output_tokens)
    return writer.close()


def input_files(work_dir):
    return sorted(path.name for path in work_dir.iterdir())


# --- limits -----------------------------------------------------------------------------------


def test_requests_under_every_limit_go_into_one_shard(tmp_path):
    requests = [make_request(n) for n in range(1, 6)]
    shards = write_shards(tmp_path, requests, ShardLimits(max_requests=5, max_bytes=5 * LINE_BYTES))
    assert [shard.request_count for shard in shards] == [5]


def test_a_new_shard_starts_at_the_request_limit(tmp_path):
    shards = write_shards(tmp_path, [make_request(n) for n in range(1, 6)], ShardLimits(max_requests=2))
    assert [shard.request_count for shard in shards] == [2, 2, 1]


def test_a_new_shard_starts_at_the_byte_limit(tmp_path):
    limits = ShardLimits(max_bytes=2 * LINE_BYTES + LINE_BYTES // 2)
    shards = write_shards(tmp_path, [make_request(n) for n in range(1, 6)], limits)
    assert [shard.request_count for shard in shards] == [2, 2, 1]
    assert all(shard.size_bytes <= limits.max_bytes for shard in shards)


def test_a_shard_may_fill_the_byte_limit_exactly(tmp_path):
    shards = write_shards(tmp_path, [make_request(n) for n in range(1, 5)], ShardLimits(max_bytes=2 * LINE_BYTES))
    assert [shard.size_bytes for shard in shards] == [2 * LINE_BYTES, 2 * LINE_BYTES]


def test_a_new_shard_starts_at_the_enqueued_token_limit(tmp_path):
    requests = [make_request(n, prompt_tokens=10) for n in range(1, 6)]
    shards = write_shards(tmp_path, requests, ShardLimits(max_enqueued_tokens=25))
    assert [shard.request_count for shard in shards] == [2, 2, 1]
    assert [shard.prompt_tokens for shard in shards] == [20, 20, 10]


def test_a_shard_may_fill_the_enqueued_token_limit_exactly(tmp_path):
    requests = [make_request(n, prompt_tokens=10) for n in range(1, 5)]
    shards = write_shards(tmp_path, requests, ShardLimits(max_enqueued_tokens=20))
    assert [shard.prompt_tokens for shard in shards] == [20, 20]


def test_without_an_enqueued_token_limit_tokens_never_split(tmp_path):
    requests = [make_request(n, prompt_tokens=1_000_000) for n in range(1, 4)]
    assert len(write_shards(tmp_path, requests)) == 1


def test_the_tightest_limit_decides_where_a_shard_ends(tmp_path):
    requests = [make_request(n, prompt_tokens=10) for n in range(1, 8)]
    limits = ShardLimits(max_requests=3, max_bytes=10 * LINE_BYTES, max_enqueued_tokens=20)
    assert [shard.request_count for shard in write_shards(tmp_path, requests, limits)] == [2, 2, 2, 1]


def test_a_request_larger_than_the_byte_limit_is_a_shard_error_naming_the_lesson(tmp_path):
    writer = ShardWriter(tmp_path, ShardLimits(max_bytes=LINE_BYTES - 1))
    with pytest.raises(ShardError, match="M0-L001"):
        writer.add(make_request(1), 100)


def test_a_request_larger_than_the_byte_limit_fails_even_after_others_fit(tmp_path):
    writer = ShardWriter(tmp_path, ShardLimits(max_bytes=2 * LINE_BYTES))
    writer.add(make_request(1), 100)
    with pytest.raises(ShardError, match="M0-L002"):
        writer.add(make_request(2, size=2 * LINE_BYTES + 1), 100)


def test_shard_error_is_a_value_error():
    assert issubclass(ShardError, ValueError)


# --- names ------------------------------------------------------------------------------------


def test_a_single_shard_keeps_the_plain_name(tmp_path):
    shards = write_shards(tmp_path, [make_request(n) for n in range(1, 4)])
    assert [shard.path for shard in shards] == [tmp_path / "datagov_lessons_input.jsonl"]
    assert input_files(tmp_path) == ["datagov_lessons_input.jsonl"]


def test_several_shards_are_numbered_from_001(tmp_path):
    shards = write_shards(tmp_path, [make_request(n) for n in range(1, 6)], ShardLimits(max_requests=2))
    names = ["datagov_lessons_input_001.jsonl", "datagov_lessons_input_002.jsonl", "datagov_lessons_input_003.jsonl"]
    assert [shard.path for shard in shards] == [tmp_path / name for name in names]
    assert [shard.index for shard in shards] == [0, 1, 2]
    assert input_files(tmp_path) == names


def test_the_request_files_are_named_plainly_for_one_shard_and_numbered_for_several(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.input_file(0, 1).name == f"{INPUT_STEM}.jsonl"
    assert workspace.input_file(0, 2).name == f"{INPUT_STEM}_001.jsonl"
    assert workspace.input_file(11, 12).name == f"{INPUT_STEM}_012.jsonl"


def test_the_work_dir_is_created_when_missing(tmp_path):
    work_dir = tmp_path / "a" / "b"
    shards = write_shards(work_dir, [make_request(1)])
    assert shards[0].path == work_dir / "datagov_lessons_input.jsonl"
    assert shards[0].path.is_file()


# --- contents ---------------------------------------------------------------------------------


def test_every_request_lands_in_exactly_one_shard_in_order(tmp_path):
    requests = [make_request(n) for n in range(1, 12)]
    shards = write_shards(tmp_path, requests, ShardLimits(max_requests=3))
    assert [lesson_id for shard in shards for lesson_id in shard.lesson_ids] == [r.lesson_id for r in requests]
    in_files = [
        json.loads(line)["custom_id"]
        for shard in shards for line in shard.path.read_text(encoding="utf-8").splitlines()
    ]
    assert in_files == [r.lesson_id for r in requests]


def test_shard_file_content_is_its_request_lines_concatenated(tmp_path):
    requests = [make_request(n, size=LINE_BYTES + n) for n in range(1, 6)]
    shards = write_shards(tmp_path, requests, ShardLimits(max_requests=2))
    for shard, chunk in zip(shards, [requests[0:2], requests[2:4], requests[4:5]], strict=True):
        assert shard.path.read_bytes() == b"".join(request.line for request in chunk)
        assert shard.size_bytes == sum(len(request.line) for request in chunk)


def test_shard_sha256_is_the_checksum_of_its_file(tmp_path):
    shards = write_shards(tmp_path, [make_request(n) for n in range(1, 6)], ShardLimits(max_requests=2))
    for shard in shards:
        assert shard.sha256 == hashlib.sha256(shard.path.read_bytes()).hexdigest()


def test_shard_sums_its_estimated_tokens_and_keeps_each_budget(tmp_path):
    requests = [make_request(1, prompt_tokens=7, budget=16_000), make_request(2, prompt_tokens=5, budget=32_000)]
    writer = ShardWriter(tmp_path, ShardLimits())
    writer.add(requests[0], 300)
    writer.add(requests[1], 400)
    (shard,) = writer.close()
    assert (shard.prompt_tokens, shard.output_tokens) == (12, 700)
    assert shard.budgets == [(16_000, None), (32_000, None)]


def test_no_temporary_files_are_left_after_closing(tmp_path):
    write_shards(tmp_path, [make_request(n) for n in range(1, 6)], ShardLimits(max_requests=2))
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".") or "partial" in path.name]


def test_abort_leaves_no_files_behind(tmp_path):
    writer = ShardWriter(tmp_path, ShardLimits(max_requests=2))
    for n in range(1, 4):
        writer.add(make_request(n), 100)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


# --- files of an earlier plan -----------------------------------------------------------------


def test_stale_shard_files_of_an_earlier_plan_are_removed(tmp_path):
    for name in (f"datagov_lessons_input_{number:03d}.jsonl" for number in (1, 2, 3)):
        (tmp_path / name).write_text("old\n", encoding="utf-8")
    write_shards(tmp_path, [make_request(1)])
    assert input_files(tmp_path) == ["datagov_lessons_input.jsonl"]


def test_a_plain_shard_file_of_an_earlier_plan_is_removed_when_shards_are_numbered(tmp_path):
    (tmp_path / "datagov_lessons_input.jsonl").write_text("old\n", encoding="utf-8")
    write_shards(tmp_path, [make_request(n) for n in range(1, 4)], ShardLimits(max_requests=2))
    assert input_files(tmp_path) == ["datagov_lessons_input_001.jsonl", "datagov_lessons_input_002.jsonl"]


def test_a_shard_file_of_an_earlier_plan_is_replaced_not_appended_to(tmp_path):
    (tmp_path / "datagov_lessons_input.jsonl").write_text("old\n", encoding="utf-8")
    (shard,) = write_shards(tmp_path, [make_request(1)])
    assert shard.path.read_bytes() == make_request(1).line


def test_an_empty_plan_writes_no_shard_and_removes_stale_ones(tmp_path):
    (tmp_path / "datagov_lessons_input.jsonl").write_text("old\n", encoding="utf-8")
    assert write_shards(tmp_path, []) == []
    assert input_files(tmp_path) == []


def test_other_files_in_the_work_dir_are_kept(tmp_path):
    for name in ("ledger.sqlite3", "results_batch_1.jsonl", "README.md"):
        (tmp_path / name).write_text("keep\n", encoding="utf-8")
    write_shards(tmp_path, [make_request(1)])
    assert input_files(tmp_path) == [
        "README.md", "datagov_lessons_input.jsonl", "ledger.sqlite3", "results_batch_1.jsonl",
    ]
