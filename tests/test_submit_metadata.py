"""What each batch carries in its metadata, and the ids a run makes: a lost ledger is rebuilt from
the batches' metadata (``recovery``), so every value must be the one the rebuild reads back, the
same from one version to the next (issue 19, the values the mutation run left unguarded in
``submit.py``).
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time

from lesson_batch.submit import job_id, new_run_id
from tests.helpers import BUNDLED_TEMPLATE
from tests.test_submit_and_status import Project, ok


def test_every_batch_carries_its_run_shard_work_dir_course_template_lessons_folder_and_estimate(
    tmp_path, fake_openai
):
    project = Project(tmp_path, fake_openai)
    ok(project.generate("--yes"))

    [batch] = fake_openai.created_batches()
    metadata = batch["metadata"]
    assert metadata["lesson_batch_job"] == job_id(project.work)
    assert metadata["lesson_batch_course"] == str(project.curriculum.resolve())
    assert metadata["lesson_batch_lessons_dir"] == str(project.out.resolve())
    assert metadata["lesson_batch_template"] == str(BUNDLED_TEMPLATE.resolve())
    assert metadata["lesson_batch_shard"].startswith(metadata["lesson_batch_run"] + "-s")
    prompt, output = (int(value) for value in metadata["lesson_batch_estimate"].split(","))
    assert prompt > 0 and output > 0


def test_a_work_dir_s_fingerprint_is_the_one_every_earlier_version_wrote(tmp_path):
    """A batch made before an upgrade must still be recognised as this work dir's when a lost
    ledger is rebuilt: the first 24 hex digits of the SHA-256 of the work dir's resolved path."""
    (tmp_path / "work").mkdir()
    expected = hashlib.sha256(str((tmp_path / "work").resolve()).encode("utf-8")).hexdigest()[:24]

    assert job_id(tmp_path / "work") == expected
    assert job_id(str(tmp_path / "work")) == expected


def test_a_run_id_is_its_utc_start_time_and_a_random_suffix_safe_in_a_file_name(monkeypatch):
    """Run ids name shards, uploads and flex answer files: a UTC time stamp (whatever the local
    time zone) and six random hex digits."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # nine hours from UTC: a local time would show
    time.tzset()
    try:
        before = int(time.time())
        run_id = new_run_id()
        after = int(time.time())
    finally:
        monkeypatch.undo()
        time.tzset()

    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run_id), run_id
    started = calendar.timegm(time.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%SZ"))
    assert before <= started <= after
    assert new_run_id() != new_run_id()
