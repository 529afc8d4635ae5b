"""A next step is a promise (issue 20, item 1).

For each state the tools can be left in (a filtered run, a cancelled, an expired batch, failed
lessons, a killed or an interrupted flex run, lessons that need a person, a batch the API does
not know), every command the status, processing and generate scripts print is taken from their
output, run as printed with ``--dry-run`` added, from the same folder, and its plan is compared
with its sentence: it requests exactly the lessons the command lists, as many as the sentence
says, through flex where the sentence's command says flex, in the same work dir.
"""

from __future__ import annotations

import importlib
import re
import shlex

import pytest

from tests.helpers import GENERATE_SCRIPT, REPO_ROOT, STATUS_SCRIPT, ScriptDriver, write_curriculum

TITLES = [f"Topic {number}" for number in range(1, 9)]
ALL = [f"M0-L{number:03d}" for number in range(1, 9)]
WITH_VALUE = {"--work-dir", "--lessons", "--output-dir", "--via", "--max-enqueued-tokens", "--max-cost", "--interval",
              "--modules", "--limit", "--curriculum"}
SCRIPT_NAMES = ("generate_datagov_lessons_batch.py", "check_batch_status.py", "process_batch_results.py")


def printed_commands(text: str) -> list[tuple[str, list[str], str]]:
    """Every command in ``text``: (script name, its arguments, the rest of its sentence)."""
    found = []
    for match in re.finditer(r"python (\S+?(?:" + "|".join(map(re.escape, SCRIPT_NAMES)) + r"))", text):
        script = match.group(1).rsplit("/", 1)[-1]
        path = match.group(1)
        assert path in (script, str(REPO_ROOT / script)), f"a script path that does not work here: {path}"
        words = text[match.end():].split("\n", 1)[0].split(" ")
        args, index = [], 0
        while index < len(words) and words[index] == "":
            index += 1
        while index < len(words):
            word = words[index].rstrip(".,;:)")
            if word.startswith("--") and word.split("=")[0] in WITH_VALUE and index + 1 < len(words):
                args += [word, words[index + 1].rstrip(".,;:)")]
                index += 2
            elif word.startswith("--") or re.fullmatch(r"batch_\w+", word):
                args.append(word)
                index += 1
            else:
                break
            if words[index - 1] != words[index - 1].rstrip(".,;:)"):
                break  # the sentence goes on after the command
        rest = " ".join(words[index:])
        found.append((script, args, rest))
    return found


def sentence_count(rest: str) -> int | None:
    """How many lessons the words after a command say it requests (None: it does not say)."""
    number = re.search(r"\b(?:the|its) ([\d,]+) lessons\b", rest)
    if number:
        return int(number.group(1).replace(",", ""))
    if re.search(r"\b(?:the|its|that) lesson\b|\bto request it\b|\bsend it\b", rest):
        return 1
    return None


def plan_counts(stdout: str) -> dict[str, int]:
    counts = {}
    for key in ("to request", "in flight by flex (skipped)", "already generated (skipped)",
                "in a batch not yet processed (skipped)"):
        found = re.search(rf"^  {re.escape(key)}: (\d+)", stdout, re.MULTILINE)
        counts[key] = int(found.group(1)) if found else 0
    return counts


def check_every_printed_command(project: ScriptDriver, text: str, *, in_flex_counts: bool = False) -> int:
    """Run every printed generate command with --dry-run and compare its plan with its sentence;
    return how many were checked. ``in_flex_counts``: lessons in flight by flex count as requested
    (the sentence says the command settles them first, which a dry run does not do)."""
    checked = 0
    for script, args, rest in printed_commands(text):
        said = sentence_count(rest)
        if script != GENERATE_SCRIPT or ("--lessons" not in args and said is None):
            continue  # e.g. "Submit with: ..." (the whole course, as it says)
        listed = args[args.index("--lessons") + 1].split(",") if "--lessons" in args else None
        expected = len(listed) if listed is not None else said
        assert "--work-dir" in args and args[args.index("--work-dir") + 1] == "work", args
        result = project.run(GENERATE_SCRIPT, *args, "--dry-run")
        assert result.returncode == 0, f"{shlex.join(args)}\n{result.stderr}"
        counts = plan_counts(result.stdout)
        requested = counts["to request"] + (counts["in flight by flex (skipped)"] if in_flex_counts else 0)
        assert requested == expected, f"{shlex.join(args)} plans {requested}, promises {expected}:\n{result.stdout}"
        if said is not None:
            assert said == expected, f"the sentence says {said}, the command lists {expected}: {rest}"
        assert ("Via flex:" in result.stdout) == ("--via" in args and args[args.index("--via") + 1] == "flex")
        checked += 1
    return checked


@pytest.fixture
def project(tmp_path, fake_openai) -> ScriptDriver:
    project = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(project.curriculum, TITLES)
    return project


def outputs(*results) -> str:
    return "\n".join(result.stdout + "\n" + result.stderr for result in results)


def test_a_filtered_run_with_failed_lessons(project):
    project.server.set_scenario({"faults": {"fail_400": ["M0-L002"], "truncate": ["M0-L003"]}})
    assert project.generate("--lessons", "M0-L001,M0-L002,M0-L003", "--yes").returncode == 0
    project.watch()
    text = outputs(project.process(), project.status(), project.status("--lessons"))
    assert check_every_printed_command(project, text) >= 2


def test_a_limited_run_whose_batch_expired(project):
    project.server.set_scenario({"batches": [{"outcome": "expire", "done_fraction": 0.34}]})
    assert project.generate("--limit", "3", "--yes").returncode == 0
    project.watch()
    text = outputs(project.process(), project.status())
    assert check_every_printed_command(project, text) >= 2


def test_a_cancelled_batch(project):
    project.server.set_scenario({"batches": ["stuck"]})
    assert project.generate("--modules", "M0", "--limit", "4", "--yes").returncode == 0
    cancelled = project.status("--cancel", "--yes")
    project.watch()
    text = outputs(cancelled, project.process(), project.status())
    assert check_every_printed_command(project, text) >= 2


def test_a_generate_wait_that_could_not_save_every_lesson(project):
    # a 500 can succeed when requested again (a 400 is held for a person: the same request fails again)
    project.server.set_scenario({"faults": {"fail_500": ["M0-L001"]}})
    result = project.generate("--lessons", "M0-L001,M0-L002", "--yes", "--wait", "--interval", "0.01")
    assert result.returncode == 1
    assert check_every_printed_command(project, outputs(result)) == 1


def test_flex_lessons_that_failed_are_requested_through_flex_again(project, monkeypatch):
    # The three retries after a 500 follow at once (not after 1 + 2 + 4 s): the backoff is not what this is about.
    monkeypatch.setattr(importlib.import_module("lesson_batch.flex.send"), "BACKOFF_BASE", 0.001)
    project.server.set_scenario({"flex": {"latency_ms": 1}, "faults": {"fail_500": ["M0-L002"]}})
    result = project.generate("--lessons", "M0-L001,M0-L002,M0-L003", "--via", "flex", "--yes")
    assert result.returncode == 1
    text = outputs(result, project.status())
    assert "--via flex" in text
    assert check_every_printed_command(project, text) >= 2


def test_a_killed_flex_run(project):
    project.server.set_scenario({"flex": {"latency_ms": 1}})
    killed = project.generate("--lessons", ",".join(ALL[:6]), "--via", "flex", "--yes", "--concurrency", "3",
                              crash_at="lesson_saved:2")
    assert killed.returncode != 0
    text = outputs(project.status())
    assert check_every_printed_command(project, text, in_flex_counts=True) >= 1


def test_lessons_that_need_a_person(project):
    project.server.set_scenario({"faults": {"truncate": ["M0-L002"]}})
    for _ in range(3):
        project.generate("--lessons", "M0-L001,M0-L002", "--yes", "--max-attempts", "1")
        project.watch()
        project.process()
    text = outputs(project.status(), project.status("--lessons"))
    for _script, args, _rest in printed_commands(text):
        if "--force" in args:
            result = project.run(GENERATE_SCRIPT, *args, "--dry-run")
            listed = args[args.index("--lessons") + 1].split(",")
            assert plan_counts(result.stdout)["to request"] == len(listed), result.stdout
            return
    pytest.fail(f"no command requests the lesson that needs a person:\n{text}")


def test_a_batch_the_api_does_not_know(project):
    assert project.generate("--lessons", "M0-L001", "--yes").returncode == 0
    lost = project.server.created_batches()[-1]["id"]
    project.server.reset()
    status = project.status()
    give_up = [args for script, args, _rest in printed_commands(status.stdout)
               if script == STATUS_SCRIPT and "--give-up" in args]
    assert give_up and lost in give_up[0]
    given_up = project.run(STATUS_SCRIPT, *give_up[0], "--yes")
    assert given_up.returncode == 0, given_up.stderr
    assert check_every_printed_command(project, outputs(given_up, project.status())) >= 1


def test_commands_printed_for_another_work_dir_name_it(project):
    assert project.generate("--lessons", "M0-L001", "--yes").returncode == 0
    for _script, args, _rest in printed_commands(project.status().stdout):
        assert args[:2] == ["--work-dir", "work"]
