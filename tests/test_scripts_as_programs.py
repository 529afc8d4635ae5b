"""Each script started as a real program, a fresh interpreter as a user starts it.

Every other test calls a script's ``main`` in the test process (``tests/helpers.run_script``),
or in a process forked from the tests' fork server where the process matters; these hold those
shortcuts to what the programs really do: the whole workflow runs as three programs, a dry run
says the same as a program and in the test process, and each script's help and usage errors say
the same, with the same exit code, in a process of its own and in the test process.
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    GENERATE_SCRIPT,
    PROCESS_SCRIPT,
    SCRIPTS,
    STATUS_SCRIPT,
    ScriptDriver,
    run_script,
    write_curriculum,
)


def test_the_three_scripts_as_programs_take_a_curriculum_to_saved_lessons(tmp_path, fake_openai):
    project = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(project.curriculum, ["Alpha: What Governance Is", "Beta: Roles and Owners"])

    generated = project.generate("--yes", as_program=True)
    watched = project.watch(as_program=True)
    processed = project.process(as_program=True)

    for result in (generated, watched, processed):
        assert result.returncode == 0, f"{result.args[1]}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
    assert [result.args[1].rsplit("/", 1)[-1] for result in (generated, watched, processed)] == [
        GENERATE_SCRIPT, STATUS_SCRIPT, PROCESS_SCRIPT,
    ]
    assert len(fake_openai.created_batches()) == 1
    assert project.saved_lessons() == {"M0-L001", "M0-L002"}


# The terminal width is fixed: a program reads it from its own stdout, the test process from the
# test runner's, and --help wraps to it.
SAME_WIDTH = {"COLUMNS": "100"}


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args", [["--help"], ["--no-such-option"]], ids=["help", "usage-error"])
def test_a_script_says_the_same_in_the_test_process_as_a_program(script, args, tmp_path):
    program = run_script(script, *args, env=SAME_WIDTH, cwd=tmp_path, own_process=True)
    in_process = run_script(script, *args, env=SAME_WIDTH, cwd=tmp_path)

    assert program.returncode in (0, 2) and program.stdout + program.stderr
    assert (in_process.returncode, in_process.stdout, in_process.stderr) == (
        program.returncode, program.stdout, program.stderr,
    )


def test_a_dry_run_says_the_same_in_the_test_process_as_a_program(tmp_path):
    args = ["--dry-run", "--curriculum", "curriculum.md", "--work-dir", "work", "--output-dir", "lessons"]
    folders = tmp_path / "program", tmp_path / "in_process"  # the same files, relative paths
    for folder in folders:
        folder.mkdir()
        write_curriculum(folder / "curriculum.md", ["Alpha: What Governance Is"])

    program = run_script(GENERATE_SCRIPT, *args, cwd=folders[0], as_program=True)
    in_process = run_script(GENERATE_SCRIPT, *args, cwd=folders[1])

    assert program.returncode == 0 and "Selected: 1 lesson" in program.stdout
    assert (in_process.returncode, in_process.stdout, in_process.stderr) == (
        program.returncode, program.stdout, program.stderr,
    )
