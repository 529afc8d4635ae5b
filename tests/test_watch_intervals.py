"""How long a watch waits between polls (``batch_sync.watch`` and ``next_interval``): the
interval asked for, half as long again after each poll that finds nothing changed, up to the
ceiling, and the interval again once something changes. Polls are free, but a watch that
polled every second would hammer the API for the 24 hours a batch may take."""

from lesson_batch.api import BatchApi
from lesson_batch.batch_sync import watch
from lesson_batch.ledger import Ledger
from tests.helpers import ScriptDriver, write_curriculum


def test_a_watch_waits_longer_while_nothing_changes_and_the_interval_again_after_a_change(tmp_path, fake_openai):
    # Each step of the batch (validating, in_progress twice, finalizing, completed) takes three polls.
    fake_openai.set_scenario({"polls_per_step": 3})
    driver = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(driver.curriculum, ["One"])
    assert driver.generate("--yes").returncode == 0
    waits: list[float] = []

    with Ledger.open(driver.work) as ledger:
        [batch_id] = [record.batch_id for record in ledger.batches()]
        api = BatchApi("sk-test", base_url=fake_openai.base_url)
        [record] = watch(ledger, api, [batch_id], interval=10.0, sleep=waits.append, max_interval=20.0)

    assert record.status == "completed"
    assert waits[:3] == [15.0, 20.0, 10.0]  # nothing new twice (x1.5, then the ceiling), then a change
    assert min(waits) == 10.0 and max(waits) == 20.0, waits
