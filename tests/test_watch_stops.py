"""A watch that meets an error no retry can fix stops at once, with the API's own words
(issue 19: ``batch_sync.watch``'s mutants 18, 20 and 21 survived the suite).

A transient error (a 503 the client's retries did not outlast) is waited out: see
``tests/test_submit_and_status.py::test_watch_survives_more_503s_than_the_client_retries_and_still_finishes``.
A batch the API answers 404 for is not waited for, and the others are: ``tests/test_polling_cost.py``.
"""

from __future__ import annotations

import pytest

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
