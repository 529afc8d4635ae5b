"""Shared fixtures. Every test runs with the network blocked except loopback."""

import importlib.util
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.fake_openai.fixture import fake_openai  # noqa: F401  (the local Batch API server)

NETGUARD = Path(__file__).resolve().parent / "netguard" / "sitecustomize.py"

# Loaded from its file, not imported by name: the interpreter may already have a sitecustomize
# module of its own, and `import sitecustomize` would then return that one and guard nothing.
# Subprocesses get the same guard through PYTHONPATH (see tests/helpers.py).
_spec = importlib.util.spec_from_file_location("lesson_batch_tests_netguard", NETGUARD)
_netguard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_netguard)  # installs the guard in this process


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
