"""Interrupts tell the truth about money (issue 20, items 2 and 3).

A request in flight is billed whether or not its answer is kept. A second Ctrl-C in a flex run
therefore does not drop the requests in flight: the run says so and keeps waiting for them; a
third quits, and says how many requests it abandoned, that OpenAI bills them, and that running
again asks for them again. A Ctrl-C while ``generate --wait`` follows its batches says that the
batches keep running on the server and are billed, and names the commands to follow or cancel
them.

The scripts run as processes of their own (``start_python``) and get real SIGINTs; what they
did is read back from their output, the ledger and the server's request log.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from lesson_batch.states import FLEX, SUCCEEDED
from tests.helpers import (
    GENERATE_SCRIPT,
    REPO_ROOT,
    ScriptDriver,
    script_env,
    start_python,
    wait_until,
    write_curriculum,
)
from tests.test_next_steps_are_promises import check_every_printed_command

LESSONS = [f"M0-L{number:03d}" for number in range(1, 7)]
SLOW_FLEX = {"flex": {"latency_ms": 2500}}


class Running:
    """A generate run in a process of its own, its output unbuffered into files."""

    def __init__(self, project: ScriptDriver, *args):
        self.root = project.root
        self.out_path, self.err_path = project.root / "stdout.txt", project.root / "stderr.txt"
        self.out, self.err = open(self.out_path, "w+", encoding="utf-8"), open(self.err_path, "w+", encoding="utf-8")
        argv = ["--curriculum", project.curriculum, "--work-dir", project.work, "--output-dir", project.out, *args]
        env = script_env({**project.env(), "PYTHONUNBUFFERED": "1"})
        self.process = start_python(REPO_ROOT / GENERATE_SCRIPT, *argv, cwd=project.root, env=env,
                                    stdout=self.out, stderr=self.err)

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8")

    def interrupt_when(self, condition, what: str) -> None:
        wait_until(lambda: condition() or self.process.poll() is not None, what, timeout=60)
        assert self.process.poll() is None, f"the run ended before {what}:\n{self.stdout()}\n{self.stderr()}"
        self.process.send_signal(signal.SIGINT)

    def finish(self) -> int:
        code = self.process.wait(timeout=60)
        self.out.close()
        self.err.close()
        return code


@pytest.fixture
def project(tmp_path: Path, fake_openai) -> ScriptDriver:
    project = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(project.curriculum, [f"Topic {n}" for n in range(1, 7)])
    return project


def paid(server) -> set[str]:
    return {entry.lesson for entry in server.chat_requests() if entry.status == 200}


def start_flex_and_interrupt_twice(project: ScriptDriver) -> Running:
    project.server.set_scenario(SLOW_FLEX)
    run = Running(project, "--via", "flex", "--yes", "--concurrency", "3")
    run.interrupt_when(lambda: len(project.saved_lessons()) >= 1, "a first lesson was saved")
    run.interrupt_when(lambda: "Stopping: no new requests" in run.stdout(), "the first Ctrl-C was taken")
    return run


def test_a_second_ctrl_c_in_flex_keeps_waiting_for_the_requests_in_flight(project):
    run = start_flex_and_interrupt_twice(project)
    code = run.finish()
    assert code == 1
    states = project.states()
    assert FLEX not in states.values(), f"requests in flight were dropped:\n{run.stderr()}"
    assert paid(project.server) == {lesson for lesson, state in states.items() if state == SUCCEEDED}
    assert "Still waiting for the" in run.stderr() and "OpenAI bills" in run.stderr()
    # Its last words name the command that requests exactly the lessons not saved yet, through flex.
    assert check_every_printed_command(project, run.stdout() + run.stderr()) == 1


def test_a_second_ctrl_c_in_flex_does_not_say_nothing_is_lost_when_answers_were_dropped(project):
    run = start_flex_and_interrupt_twice(project)
    run.interrupt_when(lambda: "Press Ctrl-C once more to quit anyway" in run.stderr(), "the second Ctrl-C was taken")
    assert run.finish() == 1
    stderr = run.stderr()
    abandoned = sorted(lesson for lesson, state in project.states().items() if state == FLEX)
    assert abandoned, "the third Ctrl-C should have quit with requests in flight"
    assert f"Quit with {len(abandoned)} request" in stderr and "abandoned" in stderr
    assert "OpenAI bills" in stderr and "asks for" in stderr
    assert "Nothing is lost" not in stderr


def test_ctrl_c_during_generate_wait_says_the_batches_keep_running_and_are_billed(project):
    project.server.set_scenario({"batches": ["stuck"]})
    run = Running(project, "--yes", "--wait", "--interval", "0.05")
    run.interrupt_when(lambda: "Waiting for 1 batch" in run.stdout(), "the run waits for its batch")
    assert run.finish() == 1
    stderr = run.stderr()
    batch_id = project.server.created_batches()[0]["id"]
    assert "keep running on the server" in stderr and "billed" in stderr
    assert batch_id in stderr
    assert "check_batch_status.py --work-dir" in stderr and "--watch" in stderr
    assert "--cancel" in stderr
