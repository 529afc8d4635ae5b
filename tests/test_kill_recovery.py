"""Kill a script at a named point of the whole workflow, re-run, and check nothing is lost or paid twice.

Each case runs the real workflow (generate ``--yes`` -> ``check_batch_status.py --watch`` ->
``process_batch_results.py``) against the fake Batch API (a run that is killed as a subprocess), on a 12-lesson
curriculum split into shards of 5 (so three batches). One script is killed with SIGKILL at a
crash point (``LESSON_BATCH_CRASH_AT``), the N-th time it reaches it, N drawn from a seeded
``random.Random``; then the workflow is run again, from the top, until every lesson is saved.

After every script run, invariants that must hold at any moment are checked (at most one batch
per shard, no lesson requested in two batches, no partial file in the lessons folder, every
lesson file present is complete, the ledger never calls a lesson saved whose file is missing);
at the end, the ones that must hold once the workflow is done (every lesson saved exactly once,
no uploaded file left without a batch, the ledger agreeing with the files on disk as
``check_batch_status.py --json --lessons`` reports it, no temporary file left in the work dir).
"""

from __future__ import annotations

import json
import random
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from tests.helpers import BUNDLED_TEMPLATE, ScriptDriver

API_KEY = "sk-test-kill-recovery-0000"
SHARD_SIZE = 5
MAX_RECOVERY_ROUNDS = 3
SCRIPT_TIMEOUT = 60

CURRICULUM = """\
# Kill Recovery Curriculum

# M0: Foundations — Lesson Map
Why the basics matter.

## L001: Defining Data Governance [F]
Key topics: decision rights; accountability.

## L002: Why Organisations Govern Data [F]
Key topics: risk, value and trust.

## L003: Core Vocabulary [F]
Key topics: data, information, metadata.

## L004: The Cost of Ungoverned Data [I]
Key topics: rework; fines.
Prerequisites: M0-L001

# M1: Operating Model
Who does what.

## L001: Roles and Responsibilities [F]
Key topics: owners, stewards, custodians.

## L002: Governance Councils [I]
Key topics: charters; escalation.

## L003: RACI for Data [I]
Related: M1-L001

## L004: Funding the Program [A]
Key topics: business case; payback.

# M2: Data Quality
Measuring and improving quality.

## L001: Quality Dimensions [F]
Key topics: accuracy, completeness, timeliness.

## L002: Profiling Data [I]
Key topics: column statistics; outliers.

## L003: Quality Rules in Pipelines [A]
Key topics: SQL checks; thresholds.

## L004: Quality Scorecards [I]
Key topics: KPIs; dashboards.
"""

TITLES = {
    "M0-L001": "Defining Data Governance",
    "M0-L002": "Why Organisations Govern Data",
    "M0-L003": "Core Vocabulary",
    "M0-L004": "The Cost of Ungoverned Data",
    "M1-L001": "Roles and Responsibilities",
    "M1-L002": "Governance Councils",
    "M1-L003": "RACI for Data",
    "M1-L004": "Funding the Program",
    "M2-L001": "Quality Dimensions",
    "M2-L002": "Profiling Data",
    "M2-L003": "Quality Rules in Pipelines",
    "M2-L004": "Quality Scorecards",
}
BATCH_COUNT = -(-len(TITLES) // SHARD_SIZE)  # 3 shards: 5, 5 and 2 lessons

# The level-2 headings the template asks for: every saved lesson must have each of them.
REQUIRED_SECTIONS = [
    line[3:].strip() for line in BUNDLED_TEMPLATE.read_text(encoding="utf-8").splitlines() if line.startswith("## ")
]

# Where a script can be killed, and how many times it reaches that point in one clean run of
# the workflow (the N of a kill is drawn from 1..that many, so the kill always happens).
KILL_POINTS = {
    "shard_recorded": ("generate", BATCH_COUNT),  # the plan is recorded, nothing uploaded
    "after_upload": ("generate", BATCH_COUNT),  # uploaded, file id not recorded
    "after_create": ("generate", BATCH_COUNT),  # batch created, not recorded
    "watch_poll": ("status", 4),  # while watching
    "download_chunk": ("process", BATCH_COUNT),  # in the middle of downloading a results file
    "after_download": ("process", BATCH_COUNT),  # a results file downloaded, not applied
    "lesson_saved": ("process", len(TITLES)),  # a lesson file written, not yet marked
    "lessons_marked": ("process", BATCH_COUNT),  # a batch's lessons marked, batch not marked processed
}

# Each case: the kills to apply, one after another (a second kill hits the recovery run).
CASES = {
    "after-plan": ["shard_recorded"],
    "after-upload": ["after_upload"],
    "after-create": ["after_create"],
    "during-watch": ["watch_poll"],
    "during-download": ["download_chunk"],
    "while-saving-lessons": ["lesson_saved"],
    "after-marking": ["lessons_marked"],
    "after-create-then-while-saving": ["after_create", "lesson_saved"],
    "after-upload-then-after-download": ["after_upload", "after_download"],
}
# The same workflow with the requests sent to the Responses API (``--endpoint responses``).
RESPONSES_CASES = {
    "responses-after-create-then-while-saving": ["after_create", "lesson_saved"],
    "responses-during-download": ["download_chunk"],
}


class Workflow(ScriptDriver):
    """The three scripts on one curriculum, work dir and lessons folder, against the fake server."""

    def __init__(self, root: Path, server, endpoint: str | None = None):
        super().__init__(root, server, api_key=API_KEY)
        self.curriculum.write_text(CURRICULUM, encoding="utf-8")
        self.runs: list[str] = []  # what ran, for failure messages
        self.endpoint = endpoint  # --endpoint of every generate run (None: the default)

    def step(self, script: str, crash_at: str | None = None):
        """One step of the workflow (``generate``, ``status`` or ``process``), killed at ``crash_at``."""
        if script == "generate":
            endpoint = ("--endpoint", self.endpoint) if self.endpoint else ()
            result = self.generate(
                "--yes", "--prompt-template", BUNDLED_TEMPLATE, "--max-requests-per-batch", SHARD_SIZE, *endpoint,
                crash_at=crash_at, timeout=SCRIPT_TIMEOUT,
            )
        elif script == "status":
            result = self.watch(crash_at=crash_at, timeout=SCRIPT_TIMEOUT)
        else:
            result = self.process(crash_at=crash_at, timeout=SCRIPT_TIMEOUT)
        self.runs.append(f"{script}{' killed at ' + crash_at if crash_at else ''} -> {result.returncode}")
        return result

    def status_json(self) -> dict:
        result = self.status("--json", "--lessons")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["result"]

    def ledger_states(self) -> dict[str, str]:
        if not (self.work / "ledger.sqlite3").exists():
            return {}
        with Ledger.open(self.work) as ledger:
            return {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}

    def lesson_files(self) -> dict[str, Path]:
        if not self.out.is_dir():
            return {}
        return {path.stem: path for path in self.out.iterdir() if path.suffix == ".md"}


# --------------------------------------------------------------------------- invariants


def lesson_problems(lesson_id: str, path: Path) -> list[str]:
    """What is wrong with a saved lesson file (nothing, for a complete lesson)."""
    assert len(REQUIRED_SECTIONS) >= 5, "the template's required sections were not found"
    text = path.read_text(encoding="utf-8")
    problems = []
    first_line = text.splitlines()[0] if text else ""
    if first_line != f"# {TITLES.get(lesson_id)}":
        problems.append(f"{path.name} starts with {first_line!r}")
    headings = {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}
    missing = [section for section in REQUIRED_SECTIONS if section not in headings]
    if missing:
        problems.append(f"{path.name} lacks sections {missing}")
    return problems


def requested_lessons_per_batch(server) -> dict[str, list[str]]:
    """custom_ids of the input file of every batch the server created (what each batch is paid for)."""
    return {
        batch["id"]: [line["custom_id"] for line in server.file_lines(batch["input_file_id"])]
        for batch in server.created_batches()
    }


def check_always(flow: Workflow) -> None:
    """What must hold after any run, even one that was killed."""
    server = flow.server
    where = "; ".join(flow.runs)

    shards = Counter(batch["metadata"].get("lesson_batch_shard") for batch in server.created_batches())
    assert None not in shards, f"a batch without its shard in the metadata ({where})"
    assert all(count == 1 for count in shards.values()), f"a shard has several batches: {shards} ({where})"

    requested = Counter(lesson for ids in requested_lessons_per_batch(server).values() for lesson in ids)
    twice = sorted(lesson for lesson, count in requested.items() if count > 1)
    assert not twice, f"lessons requested (and paid) in two batches: {twice} ({where})"

    if flow.out.is_dir():
        leftovers = [p.name for p in flow.out.iterdir() if p.name.startswith(".") or p.name.endswith(".partial")]
        assert not leftovers, f"temporary files left in the lessons folder: {leftovers} ({where})"
        strays = [p.name for p in flow.out.iterdir() if p.stem not in TITLES or p.suffix != ".md"]
        assert not strays, f"unexpected files in the lessons folder: {strays} ({where})"

    files = flow.lesson_files()
    for lesson_id, path in files.items():
        assert not lesson_problems(lesson_id, path), f"{lesson_problems(lesson_id, path)} ({where})"

    saved_without_file = sorted(
        lesson for lesson, state in flow.ledger_states().items() if state == "succeeded" and lesson not in files
    )
    assert not saved_without_file, f"the ledger calls these saved but they have no file: {saved_without_file} ({where})"


def check_done(flow: Workflow) -> None:
    """What must hold once the workflow has been run to the end."""
    server = flow.server
    where = "; ".join(flow.runs)

    files = flow.lesson_files()
    assert sorted(files) == sorted(TITLES), f"lessons not saved: {sorted(set(TITLES) - set(files))} ({where})"

    # Saved exactly once: each lesson was answered by exactly one batch, and no second version
    # of any lesson was written aside (replaced/ or not_overwritten/).
    answered = Counter(
        line["custom_id"]
        for batch in server.created_batches()
        for line in server.file_lines(batch["output_file_id"])
    )
    assert answered == Counter(TITLES.keys()), f"answers per lesson: {dict(answered)} ({where})"
    for aside in ("replaced", "not_overwritten", "rejected"):
        assert not (flow.work / aside).exists(), f"{aside}/ was written ({where})"

    batch_inputs = {batch["input_file_id"] for batch in server.created_batches()}
    uploads = {file_id for file_id, stored in server.files.items() if stored.purpose == "batch"}
    assert uploads <= batch_inputs, f"uploaded files without a batch: {sorted(uploads - batch_inputs)} ({where})"

    temporaries = sorted(p.name for p in flow.work.rglob("*") if p.name.endswith(".partial"))
    assert not temporaries, f"temporary files left in the work dir: {temporaries} ({where})"

    status = flow.status_json()
    unsaved = {entry["lesson_id"] for entry in status["unsaved_lessons"]}
    assert not unsaved, f"the ledger has unsaved lessons: {status['unsaved_lessons']} ({where})"
    assert status["lessons"]["succeeded"] == len(TITLES)
    succeeded = {lesson for lesson, state in flow.ledger_states().items() if state == "succeeded"}
    assert succeeded == set(files), f"ledger and disk disagree ({where})"
    assert all(batch["processed"] for batch in status["batches"]), f"a batch is not marked processed ({where})"


# --------------------------------------------------------------------------- the test


def run_workflow(flow: Workflow, kills: list[str]) -> None:
    """generate -> status --watch -> process; a pending kill applies to its script's next run.

    A killed script ends the round (the user starts over), after the invariants are checked.
    """
    for script in ("generate", "status", "process"):
        crash_at = None
        if kills and KILL_POINTS[kills[0].partition(":")[0]][0] == script:
            crash_at = kills.pop(0)
        result = flow.step(script, crash_at)
        check_always(flow)
        if crash_at:
            assert result.returncode == -signal.SIGKILL, (
                f"{script} was not killed at {crash_at} (exit {result.returncode}): the point was never reached\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
            return
        assert result.returncode == 0, (
            f"{script} failed ({'; '.join(flow.runs)}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def finished(flow: Workflow) -> bool:
    """Every lesson saved and every batch processed, as far as the ledger knows."""
    with Ledger.open(flow.work) as ledger:
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
        processed = all(batch.processed_at is not None for batch in ledger.batches())
    return processed and all(states.get(lesson) == "succeeded" for lesson in TITLES)


@pytest.mark.parametrize("case", [*CASES, *RESPONSES_CASES], ids=[*CASES, *RESPONSES_CASES])
def test_killed_workflow_recovers_without_loss_or_double_payment(case, fake_openai, tmp_path):
    rng = random.Random(f"kill-recovery:{case}")
    points = CASES.get(case) or RESPONSES_CASES[case]
    kills = [f"{point}:{rng.randint(1, KILL_POINTS[point][1])}" for point in points]
    flow = Workflow(tmp_path, fake_openai, "responses" if case in RESPONSES_CASES else None)

    run_workflow(flow, kills)  # the run that gets killed
    for _round in range(MAX_RECOVERY_ROUNDS):  # then start over until done (a second kill may come)
        run_workflow(flow, kills)
        if not kills and finished(flow):
            break
    assert not kills, f"kills never applied: {kills} ({'; '.join(flow.runs)})"

    check_done(flow)
    endpoints = {batch["endpoint"] for batch in fake_openai.created_batches()}
    assert endpoints == {"/v1/responses" if flow.endpoint == "responses" else "/v1/chat/completions"}


def test_crash_point_names_used_here_exist_in_the_code():
    # A renamed crash point would make every kill above a silent no-op (the test would notice
    # the missing kill, but this says why).
    root = Path(__file__).resolve().parent.parent / "lesson_batch"
    reached = set()
    for source in root.glob("*.py"):
        reached.update(re.findall(r'crashpoints\.reached\("([a-z_]+)"\)', source.read_text(encoding="utf-8")))
    assert set(KILL_POINTS) <= reached, sorted(set(KILL_POINTS) - reached)
