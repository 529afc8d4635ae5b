"""``--watch`` on a long batch costs a bounded number of API calls per hour.

``lesson_batch.batch_sync.watch`` runs for real against the fake Batch API with the real
``BatchApi``; only time is simulated: ``sleep`` advances a fake clock instead of waiting, and
``stop_when`` ends the watch after one simulated hour. The server's request log then says how
many times the batch was polled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesson_batch.api import BatchApi
from lesson_batch.batch_sync import cancel, refresh, watch
from lesson_batch.ledger import Ledger
from tests.helpers import wait_until

API_KEY = "sk-test-polling-0000"
HOUR = 3600.0
START_INTERVAL = 1.0
CEILING = 300.0
# Growing by half from 1 s, the interval reaches the 300 s ceiling after 15 polls (~870 s); the rest
# of the hour then costs 3600 / 300 = 12 polls at most. 40 leaves room for a few extra polls but
# would catch any loop that does not back off (3,600 polls at 1 s) or backs off too little.
MAX_POLLS_PER_HOUR = 40
MIN_POLLS_PER_HOUR = HOUR // CEILING  # it must keep polling at least once per ceiling


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def submit_batch(api: BatchApi, ledger: Ledger, folder: Path, lessons: int = 3) -> str:
    """Upload a small input file and create its batch, recorded in the ledger as the scripts do."""
    path = folder / "input.jsonl"
    lines = [
        {
            "custom_id": f"M0-L{number:03d}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-6.1-terra", "messages": [{"role": "user", "content": f"Lesson title: Lesson {number}"}]
            },
        }
        for number in range(1, lessons + 1)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    ledger.record_shard(
        shard_key="poll-s001", run_id="poll", model="gpt-6.1-terra", input_path=str(path), sha256="0" * 64,
        lessons=[(line["custom_id"], 16_000, None) for line in lines], prompt_tokens=100, output_tokens=100,
        required_sections=[],
    )
    file_id = api.upload(path, "lesson_batch-poll-s001.jsonl")
    ledger.shard_uploaded("poll-s001", file_id)
    batch = api.create_batch(file_id, {"lesson_batch_shard": "poll-s001"})
    ledger.shard_submitted("poll-s001", batch)
    return batch.id


def polls_of(server, batch_id: str) -> int:
    path = f"/v1/batches/{batch_id}"
    return sum(1 for request in server.requests if request.method == "GET" and request.path == path)


@pytest.fixture
def api_and_ledger(fake_openai, tmp_path):
    api = BatchApi(API_KEY, base_url=fake_openai.base_url, max_retries=0, timeout=30)
    with Ledger.open(tmp_path / "work") as ledger:
        yield api, ledger


def test_watching_a_stuck_batch_for_an_hour_costs_a_bounded_number_of_polls(fake_openai, api_and_ledger, tmp_path):
    fake_openai.set_scenario({"batches": [{"outcome": "stuck", "done_fraction": 0.0}]})
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    clock = FakeClock()

    records = watch(
        ledger, api, [batch_id], START_INTERVAL, sleep=clock.sleep, stop_when=lambda records: clock.now >= HOUR
    )

    assert records[0].status == "in_progress"  # it really was still running when the hour ended
    polls = polls_of(fake_openai, batch_id)
    assert MIN_POLLS_PER_HOUR <= polls <= MAX_POLLS_PER_HOUR, f"{polls} polls in a simulated hour"
    assert polls == len(clock.sleeps) + 1  # one poll before each sleep, and the last one


def test_the_interval_grows_by_half_while_nothing_changes_up_to_the_ceiling(fake_openai, api_and_ledger, tmp_path):
    fake_openai.set_scenario({"batches": ["stuck"]})
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    clock = FakeClock()

    watch(ledger, api, [batch_id], START_INTERVAL, sleep=clock.sleep, stop_when=lambda records: clock.now >= HOUR)

    expected, interval = [], START_INTERVAL
    for _ in clock.sleeps:
        interval = min(interval * 1.5, CEILING)
        expected.append(interval)
    assert clock.sleeps == pytest.approx(expected)
    assert clock.sleeps[-1] == CEILING


def test_the_interval_drops_back_to_the_start_when_the_batch_moves(fake_openai, api_and_ledger, tmp_path):
    # The batch takes a step every 4th poll: its status or request counts change, then stay put.
    fake_openai.set_scenario({"polls_per_step": 4, "in_progress_steps": 3, "batches": ["complete"]})
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    clock = FakeClock()
    seen: list[tuple] = []

    def on_poll(polled):
        assert not polled.problems
        record = polled.records[0]
        seen.append((record.status, record.request_completed, record.request_failed))

    records = watch(ledger, api, [batch_id], START_INTERVAL, events=on_poll, sleep=clock.sleep)

    assert records[0].status == "completed"
    assert len(seen) == len(clock.sleeps) + 1  # no sleep after the last poll
    previous_sleep, resets, growths = START_INTERVAL, 0, 0
    for index, slept in enumerate(clock.sleeps):
        moved = index > 0 and seen[index] != seen[index - 1]
        if moved:
            assert slept == START_INTERVAL, (
                f"poll {index + 1} saw {seen[index]} after {seen[index - 1]} but slept {slept}"
            )
            resets += 1
        else:
            assert slept == pytest.approx(min(previous_sleep * 1.5, CEILING)), f"poll {index + 1}: slept {slept}"
            growths += 1
        previous_sleep = slept
    assert resets >= 3 and growths >= 3, (resets, growths)  # both behaviours were exercised


def test_a_watch_that_cannot_reach_the_api_keeps_backing_off_instead_of_hammering(
    fake_openai, api_and_ledger, tmp_path
):
    fake_openai.set_scenario({"batches": ["stuck"]})
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    fake_openai.stop()  # the network goes away: every poll now fails with a connection error
    clock = FakeClock()
    problems_seen = []

    def on_poll(polled):
        problems_seen.extend(polled.problems)

    watch(ledger, api, [batch_id], START_INTERVAL, events=on_poll, sleep=clock.sleep,
          stop_when=lambda records: clock.now >= HOUR)

    assert problems_seen and all(problem.transient for problem in problems_seen)
    assert len(clock.sleeps) + 1 <= MAX_POLLS_PER_HOUR


def test_a_batch_the_ledger_knows_has_ended_is_not_asked_about_again(fake_openai, api_and_ledger, tmp_path):
    """A batch that has ended never changes again: once the ledger has recorded its end, a status
    or processing run answers from the ledger and spends no API call on it."""
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    wait_until(lambda: refresh(ledger, api, [batch_id])[0][0].is_terminal, "the batch has ended")
    polls = polls_of(fake_openai, batch_id)

    records, problems = refresh(ledger, api, [batch_id])

    assert [record.status for record in records] == ["completed"] and problems == []
    assert polls_of(fake_openai, batch_id) == polls


def test_when_the_api_is_out_of_reach_the_other_batches_get_the_same_problem_without_being_asked(
    fake_openai, api_and_ledger, tmp_path
):
    """No network: the first batch's connection error is the API's, not the batch's. Each batch
    after it is reported with that same problem (and not asked again, which would only repeat the
    same error after the same retries); the ledger's view of a known batch stands."""
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    fake_openai.stop()  # the network goes away

    records, problems = refresh(ledger, api, ["batch_unknown_1", batch_id, "batch_unknown_2"])

    assert [record.batch_id for record in records] == [batch_id]
    assert [problem.batch_id for problem in problems] == ["batch_unknown_1", batch_id, "batch_unknown_2"]
    first = problems[0]
    assert first.transient and first.everywhere
    assert all((problem.message, problem.transient, problem.everywhere) == (first.message, True, True)
               for problem in problems)


def test_a_cancel_is_recorded_from_the_api_s_answer_to_it_without_a_poll(fake_openai, api_and_ledger, tmp_path):
    """The API answers a cancel with the batch's new status: the ledger records it at once, so the
    next run already knows the batch is being cancelled without asking again."""
    fake_openai.set_scenario({"batches": [{"outcome": "stuck", "done_fraction": 0.0}]})
    api, ledger = api_and_ledger
    batch_id = submit_batch(api, ledger, tmp_path)
    polls = polls_of(fake_openai, batch_id)

    [answer] = cancel(ledger, api, [batch_id])

    assert answer.status in ("cancelling", "cancelled")
    assert ledger.batch(batch_id).status == answer.status
    assert polls_of(fake_openai, batch_id) == polls
