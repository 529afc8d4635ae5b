"""The model rules as a user meets them: the scripts run as subprocesses, with the network blocked.

Dry runs need no server: the model table alone decides (efforts, temperature, budgets, shutdown
dates). Real runs talk to the local Batch API server, which knows the models from its own table
(``tests/fake_openai``): before anything is uploaded the API is asked about the model, and its
answer wins. "Today" is always given (``LESSON_BATCH_TODAY`` for the scripts, ``today`` for the
server), so that these tests mean the same whatever the calendar says.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAIServer
from tests.helpers import GENERATE_SCRIPT, PROCESS_SCRIPT, STATUS_SCRIPT, run_script

TODAY = "2026-12-02"
INTERVAL = "0.05"
TITLES = ["Alpha: What Governance Is", "Beta: Roles and Owners", "Gamma: Policies in Practice"]
LESSONS = ["M0-L001", "M0-L002", "M0-L003"]


def _curriculum(path: Path) -> Path:
    lines = ["# Rules Curriculum", "", "# M0: Foundations — Lesson Map", ""]
    for number, title in enumerate(TITLES, start=1):
        lines += [f"## L{number:03d}: {title} [F]", f"Key topics: topic {number}.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class User:
    """Someone running the three scripts in ``root`` on a small curriculum, on a given day."""

    root: Path
    server: FakeOpenAIServer | None = None
    today: str = TODAY

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def out(self) -> Path:
        return self.root / "lessons"

    def run(self, script: str, *args) -> subprocess.CompletedProcess:
        env = {"LESSON_BATCH_TODAY": self.today, "LESSON_BATCH_CRASH_AT": None}
        if self.server is not None:
            env.update(self.server.env(api_key="sk-test-model-rules"))
        result = run_script(script, *args, env=env, cwd=self.root)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def generate(self, *args) -> subprocess.CompletedProcess:
        return self.run(GENERATE_SCRIPT, "--curriculum", _curriculum(self.root / "curriculum.md"),
                        "--work-dir", self.work, "--output-dir", self.out, *args)

    def watch(self) -> subprocess.CompletedProcess:
        return self.run(STATUS_SCRIPT, "--work-dir", self.work, "--watch", "--interval", INTERVAL)

    def process(self) -> tuple[subprocess.CompletedProcess, dict]:
        result = self.run(PROCESS_SCRIPT, "--work-dir", self.work, "--output-dir", self.out, "--json")
        return result, json.loads(result.stdout)

    def status(self, *args) -> subprocess.CompletedProcess:
        return self.run(STATUS_SCRIPT, "--work-dir", self.work, *args)

    def round(self, *generate_args) -> tuple[subprocess.CompletedProcess, dict]:
        """One submit, follow, process cycle, as the README's workflow runs it."""
        submitted = self.generate("--yes", *generate_args)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        self.watch()
        return self.process()

    def request_bodies(self) -> dict[str, dict]:
        path = self.work / "datagov_lessons_input.jsonl"
        return {line["custom_id"]: line["body"]
                for line in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture
def user(tmp_path) -> User:
    return User(tmp_path)


@pytest.fixture
def api_user(tmp_path, fake_openai) -> User:
    fake_openai.set_scenario({"today": TODAY})
    return User(tmp_path, fake_openai)


def uploads_and_creations(server: FakeOpenAIServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "POST" and r.path in ("/v1/files", "/v1/batches")]


# --- dry runs: the model table decides ---------------------------------------------------------


def test_the_default_dry_run_shows_gpt_6_1_terra_as_a_reasoning_model_with_its_batch_price(user):
    result = user.generate("--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Model: gpt-6.1-terra (reasoning model, effort medium (its default)), max_completion_tokens 16,000" in result.stdout
    assert "Batch price per 1M tokens: $0.50 input, $0.025 cached input, $2.50 output" in result.stdout
    assert {body["model"] for body in user.request_bodies().values()} == {"gpt-6.1-terra"}
    assert all("reasoning_effort" not in body and "temperature" not in body for body in user.request_bodies().values())


def test_an_effort_the_model_does_not_accept_is_a_usage_error_naming_the_accepted_values(user):
    result = user.generate("--dry-run", "--model", "gpt-6.1-terra", "--reasoning-effort", "minimal")
    assert result.returncode == 2
    assert ("gpt-6.1-terra does not accept --reasoning-effort minimal; "
            "it accepts none, low, medium (default), high, xhigh, max") in result.stderr
    assert not (user.work / "datagov_lessons_input.jsonl").exists()


def test_an_effort_the_model_accepts_is_sent_in_every_request(user):
    assert user.generate("--dry-run", "--model", "gpt-6.1-sol", "--reasoning-effort", "low").returncode == 0
    assert {body["reasoning_effort"] for body in user.request_bodies().values()} == {"low"}


def test_temperature_on_a_reasoning_model_is_a_usage_error_unless_its_effort_is_none(user):
    refused = user.generate("--dry-run", "--temperature", "0.3")
    assert refused.returncode == 2
    assert "gpt-6.1-terra accepts --temperature only with --reasoning-effort none" in refused.stderr
    never = user.generate("--dry-run", "--model", "gpt-5-mini", "--temperature", "0.3")
    assert never.returncode == 2 and "does not accept --temperature" in never.stderr
    accepted = user.generate("--dry-run", "--temperature", "0.3", "--reasoning-effort", "none")
    assert accepted.returncode == 0, accepted.stderr
    assert {(b["temperature"], b["reasoning_effort"]) for b in user.request_bodies().values()} == {(0.3, "none")}


def test_a_budget_above_the_models_maximum_output_is_a_usage_error_naming_the_maximum(user):
    result = user.generate("--dry-run", "--model", "gpt-4o", "--max-completion-tokens", "16385")
    assert result.returncode == 2
    assert "at most 16,384 output tokens" in result.stderr
    assert user.generate("--dry-run", "--model", "gpt-4o", "--max-completion-tokens", "16384").returncode == 0


def test_a_model_shutting_down_within_30_days_is_warned_about_with_its_date_and_replacement(user):
    result = user.generate("--dry-run", "--model", "gpt-5-mini")
    assert result.returncode == 0, result.stderr
    assert "warning: gpt-5-mini shuts down on 2026-12-11 (in 9 days); use --model gpt-6.1-terra" in result.stderr


def test_a_model_shutting_down_later_than_30_days_from_today_is_not_warned_about(user):
    assert "warning" not in user.generate("--dry-run", "--model", "gpt-4o").stderr  # 2027-01-14 is 43 days away
    user.today = "2026-12-20"
    warned = user.generate("--dry-run", "--model", "gpt-4o")
    assert "warning: gpt-4o shuts down on 2027-01-14 (in 25 days); use --model gpt-6-luna" in warned.stderr


def test_a_model_past_its_shutdown_date_in_the_table_is_an_error_naming_its_replacement(user):
    user.today = "2026-12-11"
    result = user.generate("--dry-run", "--model", "gpt-5-mini")
    assert result.returncode == 2
    assert "gpt-5-mini was shut down on 2026-12-11; use --model gpt-6.1-terra" in result.stderr
    assert not (user.work / "datagov_lessons_input.jsonl").exists()


def test_an_unknown_model_follows_the_naming_rule_sends_no_effort_and_has_an_unknown_price(user):
    result = user.generate("--dry-run", "--model", "gpt-7-preview")
    assert result.returncode == 0, result.stderr
    assert "not in the model table; a reasoning model by its name" in result.stdout
    assert "Estimated cost: unknown price" in result.stdout
    assert all("reasoning_effort" not in body for body in user.request_bodies().values())


def test_a_today_that_is_not_a_date_is_a_usage_error(user):
    user.today = "tomorrow"
    result = user.generate("--dry-run")
    assert result.returncode == 2 and "LESSON_BATCH_TODAY" in result.stderr
