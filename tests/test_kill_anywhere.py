"""Kill any script at a random moment, run again, and check nothing is lost or paid twice (issue 14).

Unlike ``test_kill_recovery.py`` (named crash points), the kills here land anywhere. For each
seed, a fresh local Batch API server hands out batches in the same second with ids in any order
(``same_second_batches``, ``batch_id_order``), and a curriculum of 15 lessons is split into
shards of 3 under an enqueued-token cap that lets two batches run at once (rolling submission).
A seeded sequence of runs of ``generate --wait``, ``generate``, ``process_batch_results.py`` and
``check_batch_status.py --watch`` follows; each run's whole process group is SIGKILLed:

- right after the server handled the run's n-th upload, create, poll, download or API call of any
  kind, before the answer leaves the server (a call whose answer the client never gets), or
- a random delay after that call, up to two seconds (while it records, downloads, saves lessons,
  plans the next shards, sleeps between polls), or
- the n-th time the run reaches one of the product's crash points (``lesson_batch/crashpoints.py``:
  a shard recorded, uploaded, created; a poll; a download chunk or file; a lesson prepared or saved;
  lessons marked): the run kills itself there.

What a random delay lands on depends on the machine's speed. So a second test plays seeds with
counted events only (the n-th API call, before its answer; the n-th crash point), against a
server whose batches move only when polled: the same seed covers the same moments on any machine.

Then ``generate --wait`` runs to completion, and one more ``generate``. What must hold, read from
the server's own records and the disk: every lesson in exactly one created batch; no upload
left without a batch; every lesson file present, complete (the answer of the batch that ran it)
and nothing else in the lessons folder; no traceback in any run; the last ``generate`` submits
nothing; the ledger says every lesson succeeded.

The suite runs a few seeds of each test. By hand: ``KILL_SEEDS=200 python -m pytest
tests/test_kill_anywhere.py`` runs seeds 0 to 199, ``KILL_SEED=17`` only seed 17. A failure names
its seed and every run with how it was killed.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import (
    CRASH_AT,
    GENERATE_SCRIPT,
    PROCESS_SCRIPT,
    REPO_ROOT,
    STATUS_SCRIPT,
    batches_per_lesson,
    script_env,
    start_python,
    write_modules_curriculum,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups and SIGKILL")

SUITE_SEEDS = [0, 1, 2, 3]  # ~15 s on a busy 2-CPU machine
COUNTED_SUITE_SEEDS = [0, 1, 2]  # ~7 s
KILLS_PER_SEED = 4
SCRIPT_TIMEOUT = 120.0
MODULES, LESSONS_PER_MODULE, SHARD_SIZE = 5, 3, 3
# Three lessons estimate ~2,300 prompt tokens: the cap lets two batches run at once.
ENQUEUED_TOKEN_CAP = 5000

# The API calls a kill can follow, and (for each run) which of them the run makes, with how many
# times the n of "the n-th such call" is drawn up to (a run that makes fewer is simply not killed).
CALL_KINDS = {
    "upload": lambda method, path: method == "POST" and path == "/v1/files",
    "create": lambda method, path: method == "POST" and path == "/v1/batches",
    "poll": lambda method, path: method == "GET" and path.startswith("/v1/batches/"),
    "download": lambda method, path: method == "GET" and path.endswith("/content"),
    "any": lambda method, path: True,
}
KILLS = {
    "generate --wait": {"upload": 5, "create": 5, "poll": 25, "download": 5, "any": 40},
    "generate": {"upload": 2, "create": 2, "any": 6},
    "process": {"poll": 3, "download": 3, "any": 4},
    "status --watch": {"poll": 10},
}
RUN_WEIGHTS = {"generate --wait": 4, "generate": 1, "process": 2, "status --watch": 2}
# The crash points each run can reach, with how many times the n of "the n-th time" is drawn up to.
# 15 lessons in 5 shards of 3, two batches at a time.
CRASH_POINTS = {
    "generate --wait": {
        "shard_recorded": 5, "after_upload": 5, "after_create": 5, "watch_poll": 12, "download_chunk": 5,
        "after_download": 5, "lesson_prepared": 15, "lesson_saved": 15, "lessons_marked": 5,
    },
    "generate": {"shard_recorded": 2, "after_upload": 2, "after_create": 2, "lesson_saved": 6},
    "process": {"download_chunk": 3, "after_download": 3, "lesson_prepared": 6, "lesson_saved": 6, "lessons_marked": 3},
    "status --watch": {"watch_poll": 10},
}


def seeds(suite_seeds: list[int] = SUITE_SEEDS) -> list[int]:
    if os.environ.get("KILL_SEED"):
        return [int(os.environ["KILL_SEED"])]
    if os.environ.get("KILL_SEEDS"):  # "200": seeds 0 to 199; "200-299": seeds 200 to 299
        first, _, last = os.environ["KILL_SEEDS"].partition("-")
        return list(range(int(first), int(last) + 1)) if last else list(range(int(first)))
    return suite_seeds


# ---- killing a process group at a chosen moment --------------------------------------------


@dataclass(frozen=True)
class Kill:
    kind: str  # a key of CALL_KINDS, or a crash point (crash_point is True)
    nth: int  # once the server has handled the run's nth call of that kind (the nth time the point is reached)...
    delay: float  # ...this many seconds later (0: before the answer to that call is sent)
    crash_point: bool = False  # the run kills itself at its nth ``kind`` crash point

    def __str__(self) -> str:
        if self.crash_point:
            return f"killed at crash point {self.kind}:{self.nth}"
        return f"killed {self.delay * 1000:.0f}ms after {self.kind} call {self.nth}"


def random_kill(rng: random.Random, run: str) -> Kill:
    kind = rng.choice(sorted(KILLS[run]))
    delay = rng.choice([0.0, 0.0, rng.uniform(0, 0.02), rng.uniform(0, 0.3), rng.uniform(0, 2.0)])
    return Kill(kind, rng.randint(1, KILLS[run][kind]), delay)


def counted_kill(rng: random.Random, run: str) -> Kill:
    """A kill at a counted event: the nth API call of a kind (before its answer), or a crash point."""
    if rng.random() < 0.35:
        kind = rng.choice(sorted(KILLS[run]))
        return Kill(kind, rng.randint(1, KILLS[run][kind]), 0.0)
    point = rng.choice(sorted(CRASH_POINTS[run]))
    return Kill(point, rng.randint(1, CRASH_POINTS[run][point]), 0.0, crash_point=True)


class KillingServer(FakeOpenAIServer):
    """The local Batch API, able to SIGKILL the process group of the run it serves at a chosen call."""

    def __init__(self, scenario: dict):
        super().__init__(scenario)
        self._httpd.handle_error = lambda request, address: None  # a killed client drops its connection
        self._arm_lock = threading.Lock()
        self._target: tuple[int, Kill] | None = None
        self._calls = self._matching = 0
        self._timers: list[threading.Timer] = []
        self.fired_at: str | None = None  # the call after which the kill was sent

    def arm(self, pgid: int, kill: Kill | None) -> None:
        with self._arm_lock:
            self._target, self._calls, self._matching, self.fired_at = ((pgid, kill) if kill else None), 0, 0, None

    def disarm(self) -> int:
        """Stop any pending kill; returns how many API calls the run made."""
        with self._arm_lock:
            self._target = None
            for timer in self._timers:
                timer.cancel()
            self._timers = []
            return self._calls

    def dispatch(self, request):
        response = super().dispatch(request)
        if not request.path.startswith("/_control/"):
            with self._arm_lock:
                self._calls += 1
                if self._target is not None and CALL_KINDS[self._target[1].kind](request.method, request.path):
                    self._matching += 1
                    pgid, kill = self._target
                    if self._matching == kill.nth:
                        self.fired_at = f"{request.method} {request.path}"
                        if kill.delay:
                            self._later(kill.delay, pgid)
                        else:
                            _kill_group(pgid)  # before this answer is sent
        return response

    def _later(self, delay: float, pgid: int) -> None:
        timer = threading.Timer(delay, self._kill_if_armed, args=(pgid,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _kill_if_armed(self, pgid: int) -> None:
        with self._arm_lock:
            if self._target is not None and self._target[0] == pgid:
                _kill_group(pgid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- the runs ------------------------------------------------------------------------------


@dataclass
class Outcome:
    run: str
    kill: Kill | None
    returncode: int
    stdout: str
    stderr: str
    fired_at: str | None
    calls: int

    def __str__(self) -> str:
        if self.kill is None:
            how = ""
        elif self.kill.crash_point:
            how = f", {self.kill} ({'reached' if self.returncode == -signal.SIGKILL else 'not reached'})"
        else:
            how = f", {self.kill} ({self.fired_at or 'not reached'})"
        return f"{self.run}{how} -> {self.returncode} after {self.calls} calls"


@dataclass
class Job:
    root: Path
    server: KillingServer
    seed: int
    lesson_ids: list[str]
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def lessons(self) -> Path:
        return self.root / "lessons"

    def where(self) -> str:
        return f"seed {self.seed}: " + "; ".join(str(outcome) for outcome in self.outcomes)

    def arguments(self, run: str) -> list[str]:
        common = ["--work-dir", str(self.work)]
        if run.startswith("generate"):
            return [
                GENERATE_SCRIPT, "--yes", "--curriculum", str(self.root / "curriculum.md"),
                "--output-dir", str(self.lessons), "--max-requests-per-batch", str(SHARD_SIZE),
                "--max-enqueued-tokens", str(ENQUEUED_TOKEN_CAP), *common,
            ] + (["--wait", "--interval", "0.01"] if run == "generate --wait" else [])
        if run == "process":
            return [PROCESS_SCRIPT, "--output-dir", str(self.lessons), *common]
        return [STATUS_SCRIPT, "--watch", "--interval", "0.01", *common]

    def run(self, run: str, kill: Kill | None = None) -> Outcome:
        script, *args = self.arguments(run)
        crash_at = f"{kill.kind}:{kill.nth}" if kill is not None and kill.crash_point else None
        env = script_env({**self.server.env(api_key="sk-test-kill-anywhere"), CRASH_AT: crash_at})
        with open(self.root / "stdout.txt", "w+", encoding="utf-8") as out, \
                open(self.root / "stderr.txt", "w+", encoding="utf-8") as err:
            process = start_python(
                REPO_ROOT / script, *args, cwd=self.root, env=env, stdout=out, stderr=err, start_new_session=True,
            )
            self.server.arm(process.pid, None if crash_at else kill)
            watchdog = threading.Timer(SCRIPT_TIMEOUT, _kill_group, args=(process.pid,))
            watchdog.start()
            try:
                # Wait for the end with the pid still taken, so no kill can reach a recycled one.
                process.wait_for_exit()
            finally:
                watchdog.cancel()
                calls = self.server.disarm()
                process.wait()
            out.seek(0)
            err.seek(0)
            outcome = Outcome(run, kill, process.returncode, out.read(), err.read(), self.server.fired_at, calls)
        self.outcomes.append(outcome)
        assert "Traceback" not in outcome.stdout + outcome.stderr, f"{self.where()}\n{outcome.stderr[-3000:]}"
        return outcome

    # ---- what the server and the disk say

    def answers(self) -> dict[str, str]:
        """The lesson text each lesson's batch answered with (what its file must hold)."""
        return {
            line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"]
            for batch in self.server.created_batches()
            for line in self.server.file_lines(batch["output_file_id"])
        }


def check_always(job: Job) -> None:
    """What must hold after any run, killed or not."""
    twice = sorted(lesson for lesson, count in batches_per_lesson(job.server).items() if count > 1)
    assert not twice, f"lessons requested (and paid) in two batches: {twice} ({job.where()})"
    shards = Counter(batch["metadata"]["lesson_batch_shard"] for batch in job.server.created_batches())
    assert all(count == 1 for count in shards.values()), f"a shard has several batches ({job.where()})"
    answers = job.answers()
    for path in job.lessons.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert text == answers.get(path.stem), f"{path.name} is not complete ({job.where()})"


def check_done(job: Job) -> None:
    """What must hold once the job has been run to completion."""
    wanted = job.lesson_ids
    per_lesson = batches_per_lesson(job.server)
    assert per_lesson == Counter(wanted), f"batches per lesson: {per_lesson} ({job.where()})"

    inputs = {batch["input_file_id"] for batch in job.server.created_batches()}
    uploads = {file_id for file_id, stored in job.server.files.items() if stored.purpose == "batch"}
    assert uploads <= inputs, f"uploads without a batch: {sorted(uploads - inputs)} ({job.where()})"

    in_folder = sorted(path.name for path in job.lessons.iterdir())
    assert in_folder == [f"{lesson}.md" for lesson in wanted], f"lessons folder: {in_folder} ({job.where()})"
    check_always(job)

    with Ledger.open(job.work) as ledger:
        states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
        unprocessed = [batch.batch_id for batch in ledger.batches() if batch.processed_at is None]
    assert states == {lesson: "succeeded" for lesson in wanted}, f"ledger: {states} ({job.where()})"
    assert not unprocessed, f"batches never processed: {unprocessed} ({job.where()})"
    leftovers = sorted(path.name for path in job.work.rglob("*.partial"))
    assert not leftovers, f"temporary files left in the work dir: {leftovers} ({job.where()})"


def scenario_for(rng: random.Random) -> dict:
    scenario = {
        "same_second_batches": rng.random() < 0.8,
        "batch_id_order": rng.choice(["random", "descending", "ascending"]),
    }
    if rng.random() < 0.3:  # batches also move on while nobody polls them
        scenario.update(advance="time", seconds_per_step=rng.choice([0.05, 0.2]))
    return scenario


@pytest.mark.parametrize("seed", seeds())
def test_killed_anywhere_the_job_finishes_with_every_lesson_paid_once(seed, tmp_path):
    rng = random.Random(f"kill-anywhere:{seed}")
    play(tmp_path, seed, rng, scenario_for(rng), random_kill)


@pytest.mark.parametrize("seed", seeds(COUNTED_SUITE_SEEDS))
def test_killed_at_counted_events_the_job_finishes_with_every_lesson_paid_once(seed, tmp_path):
    rng = random.Random(f"kill-counted:{seed}")
    scenario = {key: value for key, value in scenario_for(rng).items() if key not in ("advance", "seconds_per_step")}
    play(tmp_path, seed, rng, scenario, counted_kill)


def play(tmp_path: Path, seed: int, rng: random.Random, scenario: dict, draw_kill) -> None:
    """KILLS_PER_SEED seeded runs, each killed as ``draw_kill`` says; then the job is finished."""
    lesson_ids = write_modules_curriculum(tmp_path / "curriculum.md", MODULES, LESSONS_PER_MODULE)
    with KillingServer(scenario) as server:
        job = Job(tmp_path, server, seed, lesson_ids)
        for number in range(KILLS_PER_SEED):
            if number == 0:
                run = rng.choice(["generate --wait", "generate"])
            else:
                run = rng.choices(list(RUN_WEIGHTS), weights=list(RUN_WEIGHTS.values()))[0]
            job.run(run, draw_kill(rng, run))
            check_always(job)

        finished = job.run("generate --wait")
        assert finished.returncode == 0, f"{job.where()}\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
        assert "All requested lessons are saved." in finished.stdout, job.where()

        calls_before = len(server.requests)
        last = job.run("generate")
        submitted = [r for r in server.requests[calls_before:] if r.method == "POST"]
        assert last.returncode == 0 and "Nothing to submit." in last.stdout, f"{job.where()}\n{last.stdout}"
        assert not submitted, f"the last generate submitted {submitted} ({job.where()})"

        check_done(job)
