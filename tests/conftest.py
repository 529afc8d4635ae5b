"""Shared fixtures. Every test runs with the network blocked except loopback."""

import importlib.util
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests import script_forkserver
from tests.fake_openai.fixture import fake_openai  # noqa: F401  (the local Batch API server)
from tests.helpers import REAL_BATCH_LINES

NETGUARD = Path(__file__).resolve().parent / "netguard" / "sitecustomize.py"

# Loaded from its file, not imported by name: the interpreter may already have a sitecustomize
# module of its own, and `import sitecustomize` would then return that one and guard nothing.
# Subprocesses get the same guard through PYTHONPATH (see tests/helpers.py).
_spec = importlib.util.spec_from_file_location("lesson_batch_tests_netguard", NETGUARD)
_netguard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_netguard)  # installs the guard in this process
script_forkserver.share_one_tls_context()  # every openai client built in this process shares one TLS context


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch):
    """No test may pick up a developer's real key or API address from the environment."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_retry_waits(monkeypatch):
    """The client's retry waits (a quarter of a minute against a closed port) pass at once, for
    scripts run in this process (tests/helpers.run_script)."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


RAM_FOLDER = Path("/dev/shm")
RAM_FOLDER_MIN_FREE = 1 << 30


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_batch_lines: needs the real Batch API lines beside the repository (skipped without them)"
    )
    _temporary_folders_in_memory(config)


def pytest_collection_modifyitems(config, items):
    """Without the real Batch API lines (../shared/real_batch_lines, or REAL_BATCH_LINES_DIR), the
    tests that need them are skipped with one reason that says how many and why; ``-ra`` (always
    on, see pytest.ini) shows it in the summary. CI has the lines."""
    needing = [item for item in items if item.get_closest_marker("real_batch_lines")]
    if not needing or (REAL_BATCH_LINES / "expected.json").is_file():
        return
    reason = (
        f"{len(needing)} tests of real Batch API result lines skipped: no {REAL_BATCH_LINES / 'expected.json'} "
        "(the lines are kept beside the repository in ../shared/real_batch_lines, never in it; "
        "REAL_BATCH_LINES_DIR names another folder)"
    )
    for item in needing:
        item.add_marker(pytest.mark.skip(reason=reason))


def _temporary_folders_in_memory(config):
    """Temporary folders (``tmp_path``, ``tempfile``) go to memory where the machine has a RAM
    filesystem with room, unless TMPDIR or --basetemp says where: the ledger's fsyncs and the
    results' syncfs cost nothing there, and on this machine's disk they were over a third of the fuzz
    tests' time. What is written, renamed and read is the same either way."""
    if os.environ.get("TMPDIR") or config.getoption("basetemp", None):
        return
    try:
        usable = RAM_FOLDER.is_dir() and os.access(RAM_FOLDER, os.W_OK | os.X_OK)
        stats = os.statvfs(RAM_FOLDER) if usable else None
    except (OSError, AttributeError):
        return
    if stats is not None and stats.f_bavail * stats.f_frsize >= RAM_FOLDER_MIN_FREE:
        os.environ["TMPDIR"] = str(RAM_FOLDER)  # inherited by the xdist workers and the scripts
        tempfile.tempdir = None  # read again from TMPDIR
