"""The model rules as a user meets them: the scripts run (tests/helpers.run_script) with the network blocked.

Dry runs need no server: the model table alone decides (efforts, temperature, budgets, shutdown
dates). Real runs talk to the local Batch API server, which knows the models from its own table
(``tests/fake_openai``): before anything is uploaded the API is asked about the model, and its
answer wins. "Today" is always given (``LESSON_BATCH_TODAY`` for the scripts, ``today`` for the
server), so that these tests mean the same whatever the calendar says.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import openai
import pytest

from lesson_batch.ledger import Ledger
from lesson_batch.states import SUBMITTED
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import GENERATE_SCRIPT, PROCESS_SCRIPT, ScriptDriver, as_typed, write_curriculum

TODAY = "2026-12-02"
TITLES = ["Alpha: What Governance Is", "Beta: Roles and Owners", "Gamma: Policies in Practice"]
LESSONS = ["M0-L001", "M0-L002", "M0-L003"]


class User(ScriptDriver):
    """Someone running the three scripts in ``root`` on a small curriculum, on a given day."""

    def __init__(self, root: Path, server: FakeOpenAIServer | None = None, today: str = TODAY):
        super().__init__(root, server, api_key="sk-test-model-rules")
        self.today = today

    def env(self, crash_at: str | None = None) -> dict:
        return {**super().env(crash_at), "LESSON_BATCH_TODAY": self.today}

    def run(self, script: str, *args, **options) -> subprocess.CompletedProcess:
        result = super().run(script, *args, **options)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def generate(self, *args, **options) -> subprocess.CompletedProcess:
        write_curriculum(self.curriculum, TITLES)
        return super().generate(*args, **options)

    def process(self) -> tuple[subprocess.CompletedProcess, dict]:
        result = super().process("--json")
        return result, json.loads(result.stdout)["result"]

    def round(self, *generate_args) -> tuple[subprocess.CompletedProcess, dict]:
        """One submit, follow, process cycle, as the README's workflow runs it."""
        submitted = self.generate("--yes", *generate_args)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        self.watch()
        return self.process()

    def request_bodies(self) -> dict[str, dict]:
        """The requests of the latest plan (a dry run leaves its request file in the work dir)."""
        path = self.work / "datagov_lessons_input.jsonl"
        return {line["custom_id"]: line["body"]
                for line in map(json.loads, path.read_text(encoding="utf-8").splitlines())}

    def submitted_bodies(self) -> dict[str, dict]:
        """The requests of the latest batch, as the API received them."""
        batch = self.server.created_batches()[-1]
        return {line["custom_id"]: line["body"] for line in self.server.file_lines(batch["input_file_id"])}


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
    assert (
        "Model: gpt-6.1-terra (reasoning model, effort medium (its default)), max_completion_tokens 16,000"
    ) in result.stdout
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


@pytest.mark.parametrize("model, reasoning", [("gpt-7-preview", True), ("my-own-model", False)])
def test_the_json_plan_of_an_unknown_model_says_false_where_it_is_not_in_the_table_or_does_not_reason(
    user, model, reasoning
):
    """``--json`` is read by programs: "not in the model table" and "not a reasoning model" are
    ``false``, never ``null`` (which reads as "not known")."""
    result = user.generate("--dry-run", "--json", "--model", model)
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)["result"]["plan"]["model"]
    assert (said["name"], said["reasoning"], said["in_model_table"]) == (model, reasoning, False)
    assert said["in_model_table"] is False and said["reasoning"] is reasoning


def test_a_today_that_is_not_a_date_is_a_usage_error(user):
    user.today = "tomorrow"
    result = user.generate("--dry-run")
    assert result.returncode == 2 and "LESSON_BATCH_TODAY" in result.stderr


# --- real runs: the API is asked before anything is uploaded, and its answer wins --------------


def test_a_model_the_api_does_not_know_stops_the_run_before_anything_is_uploaded(api_user):
    api_user.server.set_scenario({"today": TODAY, "models": {"gpt-6.1-terra": None}})
    result = api_user.generate("--yes")
    assert result.returncode == 1
    assert "the API does not know the model gpt-6.1-terra" in result.stderr
    assert "nothing was uploaded" in result.stderr
    assert uploads_and_creations(api_user.server) == []


def test_a_model_the_api_retires_tomorrow_stops_the_run_before_anything_is_uploaded(api_user):
    api_user.server.set_scenario({"today": TODAY, "models": {"gpt-6.1-terra": {"shutdown_date": "2026-12-03"}}})
    result = api_user.generate("--yes")
    assert result.returncode == 1
    assert "gpt-6.1-terra shuts down on 2026-12-03, before a batch submitted now could finish" in result.stderr
    assert "choose another model, for example --model gpt-6-luna" in result.stderr
    assert uploads_and_creations(api_user.server) == []


def test_a_model_the_api_retires_within_30_days_is_warned_about_and_submitted(api_user):
    api_user.server.set_scenario({"today": TODAY, "models": {"gpt-6.1-terra": {"shutdown_date": "2026-12-20"}}})
    result = api_user.generate("--yes")
    assert result.returncode == 0, result.stderr
    assert "warning: gpt-6.1-terra shuts down on 2026-12-20 (in 18 days)" in result.stderr
    assert "(the API's shutdown_date, judged against 2026-12-02, the date LESSON_BATCH_TODAY sets" in result.stderr
    assert uploads_and_creations(api_user.server) == ["/v1/files", "/v1/batches"]


def test_the_apis_answer_wins_over_the_model_table(api_user):
    # the table says gpt-4o shuts down on 2027-01-14, 25 days after this "today"; this API says never
    api_user.today = "2026-12-20"
    api_user.server.set_scenario({"today": "2026-12-20", "models": {"gpt-4o": {"shutdown_date": None}}})
    result = api_user.generate("--yes", "--model", "gpt-4o")
    assert result.returncode == 0, result.stderr
    assert "shuts down" not in result.stderr
    assert uploads_and_creations(api_user.server) == ["/v1/files", "/v1/batches"]


def test_the_model_is_looked_up_before_anything_is_uploaded(api_user):
    assert api_user.generate("--yes").returncode == 0
    calls = [(r.method, r.path) for r in api_user.server.requests]
    lookup = calls.index(("GET", "/v1/models/gpt-6.1-terra"))
    assert lookup < calls.index(("POST", "/v1/files"))


def test_a_dry_run_never_asks_the_api(api_user):
    assert api_user.generate("--dry-run").returncode == 0
    assert api_user.server.requests == []


# --- the truncation ladder and the attempts cap ------------------------------------------------


def test_the_ladder_raises_the_budget_then_lowers_the_effort_through_values_the_model_accepts(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"truncate": ["M0-L002"]}})
    options = ("--lessons", "M0-L002", "--max-completion-tokens", "64000", "--max-attempts", "9")
    bodies = []
    for _ in range(3):
        _result, summary = api_user.round(*options)
        bodies.append(api_user.submitted_bodies()["M0-L002"])
        assert list(summary["total"]["failed"]) == ["truncated"]  # never a 400 for a rejected value
    assert api_user.generate("--dry-run", *options).returncode == 0  # the step after the last
    bodies.append(api_user.request_bodies()["M0-L002"])
    steps = [(body["max_completion_tokens"], body.get("reasoning_effort")) for body in bodies]
    # 64,000 is the ladder's cap: gpt-6.1-terra's default effort (medium) is lowered to low, then
    # none, its lowest; from there the lesson is asked for as it was, until the attempts cap
    assert steps == [(64_000, None), (64_000, "low"), (64_000, "none"), (64_000, "none")]


def test_the_ladder_starts_from_the_effort_the_lessons_complexity_gave_it(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"truncate": ["M0-L002"]}})
    options = ("--lessons", "M0-L002", "--max-completion-tokens", "64000", "--reasoning-effort", "F=high")
    api_user.round(*options)  # every lesson of this curriculum is [F]
    assert api_user.submitted_bodies()["M0-L002"]["reasoning_effort"] == "high"
    assert api_user.generate("--dry-run", *options).returncode == 0
    # at the budget cap already: one step down from high, not from the model's default (medium)
    assert api_user.request_bodies()["M0-L002"]["reasoning_effort"] == "medium"


def test_a_lesson_requested_again_after_truncation_is_estimated_at_its_doubled_budget(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"truncate": ["M0-L002"]}})
    api_user.round()
    again = api_user.generate("--dry-run")
    assert "to request: 1" in again.stdout
    assert "1 truncated before: requested again with a larger budget or a lower effort" in again.stdout
    assert "+ ~32,000 output" in again.stdout
    assert api_user.request_bodies()["M0-L002"]["max_completion_tokens"] == 32_000


def test_a_lesson_that_keeps_failing_needs_a_person_after_three_runs_and_is_never_requested_again(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"truncate": ["M0-L002"]}})
    for _ in range(3):
        processed, summary = api_user.round()
    assert summary["needs_attention"] == ["M0-L002"]
    assert "Need a person: 1: M0-L002" in processed.stderr

    status = api_user.status()
    assert status.returncode == 1
    assert "Need a person: 1: M0-L002" in status.stdout
    listing = api_user.status("--lessons").stdout
    assert "M0-L002: needs_attention (The model stopped at its output token limit.)" in listing
    assert "tried 3 times; what to do:" in listing
    assert f"{as_typed(GENERATE_SCRIPT)} --work-dir work --lessons M0-L002 --force" in listing
    entry, = json.loads(api_user.status("--json").stdout)["result"]["needs_attention"]
    assert (entry["lesson_id"], entry["attempts"]) == ("M0-L002", 3)
    assert "--lessons M0-L002 --force" in entry["what_to_do"]

    uploads = len(uploads_and_creations(api_user.server))
    held = api_user.generate("--yes")
    assert held.returncode == 0
    assert "need a person, tried 3 times already (held back): 1: M0-L002" in held.stdout
    assert "Nothing to submit." in held.stdout
    assert len(uploads_and_creations(api_user.server)) == uploads


def test_a_lesson_that_needs_a_person_is_requested_again_with_force_or_a_higher_cap(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"truncate": {"M0-L002": 1}}})
    api_user.round("--max-attempts", "1")
    assert api_user.generate("--dry-run", "--max-attempts", "1").stdout.count("held back") == 1
    raised = api_user.generate("--dry-run", "--max-attempts", "2")
    assert "to request: 1" in raised.stdout and "held back" not in raised.stdout
    _result, summary = api_user.round("--lessons", "M0-L002", "--force", "--max-attempts", "1")
    assert summary["total"]["saved"] == 1
    assert (api_user.out / "M0-L002.md").is_file()


def test_attempts_that_never_ran_do_not_count_towards_the_cap(api_user):
    api_user.server.set_scenario({"today": TODAY, "batches": [{"outcome": "expire", "done_fraction": 0.0}]})
    api_user.round("--max-attempts", "1")
    unsaved = json.loads(api_user.status("--json", "--lessons").stdout)["result"]["unsaved_lessons"]
    listing = {entry["lesson_id"]: entry for entry in unsaved}
    assert {entry["state"] for entry in listing.values()} == {"expired"}
    assert {entry["attempts"] for entry in listing.values()} == {0}
    assert "to request: 3" in api_user.generate("--dry-run", "--max-attempts", "1").stdout


# --- what the results say ---------------------------------------------------------------------


def test_a_refusal_is_reported_as_a_refusal_with_the_models_text(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"refusal": ["M0-L001"]}})
    processed, summary = api_user.round()
    assert summary["total"]["failed"] == {"refusal": ["M0-L001"]}
    refusal = summary["total"]["refusals"]["M0-L001"]
    assert refusal and f"M0-L001 refused: {refusal}" in processed.stderr
    assert "empty" not in processed.stderr
    unsaved = json.loads(api_user.status("--json", "--lessons").stdout)["result"]["unsaved_lessons"]
    reasons = {entry["lesson_id"]: entry["reason"] for entry in unsaved}
    assert reasons == {"M0-L001": f"refusal: {refusal}"}


def test_a_result_not_served_at_batch_rates_is_reported_and_the_lesson_still_saved(api_user):
    api_user.server.set_scenario({"today": TODAY, "faults": {"wrong_tier": ["M0-L003"]}})
    processed, summary = api_user.round()
    assert summary["total"]["not_at_batch_rates"] == {"priority": ["M0-L003"]}
    assert ("served at service tier 'priority', not at Batch rates (the 50% discount did not apply): 1: M0-L003"
            in processed.stderr)
    assert (api_user.out / "M0-L003.md").is_file()


def test_a_download_cut_short_is_started_again_and_the_lessons_saved(api_user, no_retry_waits):
    api_user.server.set_scenario({"today": TODAY, "faults": {"cut_download": 1}})
    processed, summary = api_user.round()
    assert processed.returncode == 0, processed.stderr
    assert summary["total"]["saved"] == 3
    downloads = [r for r in api_user.server.requests if r.method == "GET" and r.path.endswith("/content")]
    assert len(downloads) == 2


def test_a_download_that_keeps_being_cut_is_reported_in_plain_words_and_a_later_run_finishes(api_user, no_retry_waits):
    api_user.server.set_scenario({"today": TODAY, "faults": {"cut_download": 3}})
    assert api_user.generate("--yes").returncode == 0
    api_user.watch()
    failed = api_user.run(PROCESS_SCRIPT, "--work-dir", api_user.work, "--output-dir", api_user.out)
    assert failed.returncode == 1
    assert "the connection was cut before the whole file arrived, 3 times" in failed.stderr
    assert "Run the same command again later" in failed.stderr
    assert not list(api_user.work.glob("datagov_lessons_results*")) and not list(api_user.out.glob("*.md"))
    again, summary = api_user.process()
    assert again.returncode == 0 and summary["total"]["saved"] == 3


# --- adopting a batch after a crash -----------------------------------------------------------


@pytest.mark.parametrize("order", ["oldest_first", "shuffled"])
def test_a_batch_created_by_a_killed_run_is_adopted_whatever_order_the_api_lists_batches_in(api_user, order):
    server = api_user.server
    server.set_scenario({"today": TODAY, "batch_list_order": order})
    # An earlier batch, an hour old: the API may list it before the one being looked for.
    server._store._clock = lambda: time.time() - 3600  # the fake's clock; no scenario key ages a batch
    api_user.round("--lessons", "M0-L001")
    server._store._clock = time.time

    killed = api_user.generate("--yes", crash_at="after_create")
    assert killed.returncode != 0 and len(server.created_batches()) == 2
    again = api_user.generate("--yes")
    assert again.returncode == 0, again.stderr
    assert "by an interrupted run: adopted it" in again.stdout
    assert len(server.created_batches()) == 2  # not created, nor paid for, a second time


def test_an_adopted_batch_that_had_already_failed_returns_its_lessons_to_be_requested_again(api_user):
    """A run killed right after creating its batch; the batch fails (over the enqueued-token limit)
    before the next run finds and adopts it. It ran nothing, so its lessons go back to pending and
    that run requests them in a new batch; they are not left ``submitted`` in a batch that is over."""
    server = api_user.server
    server.set_scenario({"today": TODAY, "batches": ["token_limit"]})
    killed = api_user.generate("--yes", crash_at="after_create")
    assert killed.returncode != 0 and len(server.created_batches()) == 1
    orphan = server.created_batches()[0]["id"]
    client = openai.OpenAI(api_key="sk-test-model-rules", base_url=server.base_url, max_retries=0)
    failed = client.batches.retrieve(orphan)
    assert failed.status == "failed" and failed.errors.data[0].code == "token_limit_exceeded"

    again = api_user.generate("--yes")

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Found batch {orphan} created for shard" in again.stdout
    batches = server.created_batches()
    assert len(batches) == 2, again.stdout  # the lessons requested again, in a new batch
    second = batches[1]
    assert {line["custom_id"] for line in server.file_lines(second["input_file_id"])} == set(LESSONS)
    with Ledger.open(api_user.work) as ledger:
        lessons = ledger.lessons()
    assert {lesson_id: (record.state, record.batch_id) for lesson_id, record in lessons.items()} == {
        lesson_id: (SUBMITTED, second["id"]) for lesson_id in LESSONS
    }


# --- the models of December (issue 22) --------------------------------------------------------


def test_a_dry_run_with_gpt_6_2_sol_shows_its_batch_price(user):
    result = user.generate("--dry-run", "--model", "gpt-6.2-sol")
    assert result.returncode == 0, result.stderr
    assert "Batch price per 1M tokens: $1.00 input, $0.05 cached input, $5.00 output" in result.stdout
    assert "unknown price" not in result.stdout


def test_effort_none_with_gpt_6_2_sol_is_a_usage_error_naming_low_to_max(user):
    result = user.generate("--dry-run", "--model", "gpt-6.2-sol", "--reasoning-effort", "none")
    assert result.returncode == 2
    assert "gpt-6.2-sol does not accept --reasoning-effort none; it accepts low, medium (default), high, xhigh, max" \
        in result.stderr


def test_a_shut_down_snapshot_is_refused_by_a_dry_run_with_its_own_date_and_replacement(user):
    result = user.generate("--dry-run", "--model", "gpt-4o-2024-05-13")
    assert result.returncode == 2
    assert "gpt-4o-2024-05-13 was shut down on 2026-10-23; use --model gpt-5.6-sol" in result.stderr
    assert not (user.work / "datagov_lessons_input.jsonl").exists()


def test_a_snapshot_the_table_does_not_list_is_planned_with_a_warning_that_its_date_is_not_known(user):
    result = user.generate("--dry-run", "--model", "gpt-4o-2099-01-01")
    assert result.returncode == 0, result.stderr
    assert "the model table has no shutdown date for the snapshot gpt-4o-2099-01-01" in result.stderr


def test_a_shut_down_snapshot_is_refused_before_anything_is_uploaded(api_user):
    api_user.server.set_scenario({"today": TODAY})
    result = api_user.generate("--yes", "--model", "gpt-4o-2024-05-13")
    assert result.returncode == 1
    assert "the API does not know the model gpt-4o-2024-05-13" in result.stderr
    assert "the model table says it was shut down on 2026-10-23" in result.stderr
    assert "Use --model gpt-5.6-sol (its replacement) instead" in result.stderr
    assert uploads_and_creations(api_user.server) == []


def test_efforts_by_complexity_are_submitted_per_lesson_and_the_plan_shows_the_mix(api_user):
    api_user.server.set_scenario({"today": TODAY})
    write_curriculum(api_user.curriculum, TITLES)
    text = api_user.curriculum.read_text(encoding="utf-8")
    for title, tag in zip(TITLES, ("F", "I", "A"), strict=True):
        text = text.replace(f"{title} [F]", f"{title} [{tag}]")
    api_user.curriculum.write_text(text, encoding="utf-8")
    result = ScriptDriver.generate(api_user, "--yes", "--reasoning-effort", "F=low,I=medium,A=high")
    assert result.returncode == 0, result.stderr
    assert "effort by complexity: [F] low, [I] medium, [A] high" in result.stdout
    assert "    low: 1 lesson ([F])" in result.stdout and "    high: 1 lesson ([A])" in result.stdout
    (batch,) = api_user.server.created_batches()
    sent = {line["custom_id"]: line["body"]["reasoning_effort"]
            for line in api_user.server.file_lines(batch["input_file_id"])}
    assert sent == {"M0-L001": "low", "M0-L002": "medium", "M0-L003": "high"}
    with Ledger.open(api_user.work) as ledger:  # each lesson's effort is recorded with its request
        recorded = {lesson_id: effort for lesson_id, (_budget, effort) in ledger.batch_requests(batch["id"]).items()}
    assert recorded == sent


@pytest.mark.parametrize("value, words", [
    ("F=none,A=high", "for lessons tagged [F]: gpt-6.2-sol does not accept --reasoning-effort none; "
                      "it accepts low, medium (default), high, xhigh, max"),
    ("Q=low", "'Q' is not a complexity tag"),
])
def test_a_mix_with_a_value_the_model_refuses_or_an_unknown_tag_is_a_usage_error(user, value, words):
    result = user.generate("--dry-run", "--model", "gpt-6.2-sol", "--reasoning-effort", value)
    assert result.returncode == 2
    assert words in result.stderr
