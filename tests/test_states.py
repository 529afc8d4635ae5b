"""States as ``str`` enums: each is the very string the ledger stores and the API sends."""

import json
import sqlite3

import pytest

from lesson_batch import states
from lesson_batch.states import BatchStatus, LessonState, ShardState


@pytest.mark.parametrize("member", [*LessonState, *ShardState, *BatchStatus])
def test_a_state_is_equal_to_its_string_and_prints_as_it(member):
    assert member == member.value
    assert str(member) == member.value
    assert f"{member}" == member.value
    assert json.dumps({member: member}) == json.dumps({member.value: member.value})


def test_a_state_is_stored_in_sqlite_as_its_plain_string():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (state TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (LessonState.NEEDS_ATTENTION,))
    assert db.execute("SELECT state, typeof(state) FROM t").fetchone() == ("needs_attention", "text")


def test_each_short_name_is_the_enum_member_itself():
    for member in LessonState:
        assert getattr(states, member.name) is member
    for member in ShardState:
        assert getattr(states, f"SHARD_{member.name}") is member


def test_the_batch_statuses_are_the_ones_the_batch_api_documents():
    assert {status.value for status in BatchStatus} == {
        "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled",
    }
    assert set(states.ACTIVE_BATCH_STATUSES) | set(states.TERMINAL_BATCH_STATUSES) == set(BatchStatus)
    assert not set(states.ACTIVE_BATCH_STATUSES) & set(states.TERMINAL_BATCH_STATUSES)
