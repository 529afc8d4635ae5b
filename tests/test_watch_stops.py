"""A watch that meets an error no retry can fix stops at once, with the API's own words
(issue 19: ``batch_sync.watch``'s mutants 18, 20 and 21 survived the suite).

A transient error (a 503 the client's retries did not outlast) is waited out: see
``tests/test_submit_and_status.py::test_watch_survives_more_503s_than_the_client_retries_and_still_finishes``.
A batch the API answers 404 for is not waited for, and the others are: ``tests/test_polling_cost.py``.
"""

from __future__ import annotations

import pytest

from lesson_batch.api import ApiError, BatchApi
from lesson_batch.batch_sync import watch
from lesson_batch.ledger import Ledger
from tests.helpers import wait_until
from tests.test_submit_and_status import INTERVAL, Project, calls, ok


@pytest.mark.timeout(60)  # a watch that does not stop polls for ever: fail, with a stack, instead
def test_a_watch_that_meets_an_error_no_retry_can_fix_stops_with_the_api_s_message(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai)
    ok(project.generate("--yes"))
    [batch] = fake_openai.created_batches()
    fake_openai.set_scenario({"valid_api_keys": ["sk-another-key-0000"]})  # the key is revoked meanwhile

    result = project.status("--watch", "--interval", INTERVAL)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"reading batch {batch['id']}" in result.stderr
    assert "Incorrect API key provided" in result.stderr  # the API's words
    assert "Traceback" not in result.stderr
    # Stopped at the first such answer: the batch was asked about once, not polled again.
    assert len(calls(fake_openai.requests, "GET", f"/v1/batches/{batch['id']}")) == 1


# ---- watch itself, with a sleep that fails: a watch that should stop never polls again ------------


class Sleeps(list):
    """``watch``'s sleep: records a wait instead of waiting, and ends a watch that would poll again."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        raise AssertionError(f"watch polled again after waiting {seconds} s")


def one_batch(tmp_path, fake_openai) -> tuple[Project, str]:
    project = Project(tmp_path, fake_openai)
    ok(project.generate("--yes"))
    [batch] = fake_openai.created_batches()
    return project, batch["id"]


def test_a_watch_raises_the_api_s_error_at_the_first_poll_that_meets_it(tmp_path, fake_openai):
    """Issue 19: ``batch_sync.watch`` 19, 22 (an error no retry can fix taken for one to wait out)."""
    project, batch_id = one_batch(tmp_path, fake_openai)
    fake_openai.set_scenario({"valid_api_keys": ["sk-another-key-0000"]})  # the key is revoked meanwhile
    sleeps = Sleeps()
    with Ledger.open(project.work) as ledger, pytest.raises(ApiError, match="Incorrect API key provided"):
        watch(ledger, BatchApi("sk-test", base_url=fake_openai.base_url), [batch_id], 5.0, sleep=sleeps)
    assert sleeps == []


def test_a_watch_of_a_batch_that_has_ended_returns_at_the_first_poll(tmp_path, fake_openai):
    """Issue 19: ``batch_sync.watch`` 34 (never saw every batch ended: polled for ever)."""
    project, batch_id = one_batch(tmp_path, fake_openai)
    api = BatchApi("sk-test", base_url=fake_openai.base_url)
    wait_until(lambda: api.get_batch(batch_id).status == "completed", "the batch has completed at the API")
    sleeps = Sleeps()
    with Ledger.open(project.work) as ledger:
        records = watch(ledger, api, [batch_id], 5.0, sleep=sleeps)
    assert [(record.batch_id, record.status) for record in records] == [(batch_id, "completed")]
    assert sleeps == []
