"""The suite's per-test timeout (pytest-timeout, configured in pytest.ini; issue 19).

A regression that hangs must fail its test, with the stack of where it hung, instead of stalling
the whole run; a script it was waiting for through the fork server must not outlive it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lesson_batch import files
from tests import script_forkserver
from tests.helpers import REPO_ROOT, wait_until


def test_the_suite_runs_with_a_per_test_timeout(pytestconfig):
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert float(pytestconfig.getini("timeout")) == 120


HANGING_TEST = '''
import os
from tests import script_forkserver

script_forkserver.warm_up()  # at collection: the test's second is all spent waiting for the script


def test_waits_for_a_script_that_never_ends(tmp_path):
    script = tmp_path / "sleeper.py"
    script.write_text(
        "import os, time\\n"
        "with open(os.environ['PID_FILE'], 'w') as handle:\\n"
        "    handle.write(str(os.getpid()))\\n"
        "time.sleep(600)\\n"
    )
    script_forkserver.run(script, env=dict(os.environ), cwd=tmp_path)
'''


@pytest.mark.skipif(not script_forkserver.AVAILABLE, reason="no fork server on this platform")
def test_a_hang_fails_its_test_with_the_stack_and_the_script_it_waited_for_is_killed(tmp_path):
    (tmp_path / "test_hang.py").write_text(textwrap.dedent(HANGING_TEST), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    pid_file = tmp_path / "sleeper.pid"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PID_FILE": str(pid_file)}
    # 1 s is enough on a loaded machine: the inner fork server started at collection (warm_up above).

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--timeout", "1",
         "test_hang.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed: Timeout (>1.0s) from pytest-timeout" in result.stdout, result.stdout
    assert "script_forkserver.py" in result.stdout  # where it hung
    pid = int(pid_file.read_text(encoding="utf-8"))
    wait_until(lambda: not files._writer_may_be_running(pid, pid_file), "the script the test waited for has ended")
