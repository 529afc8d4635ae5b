"""Shared fixtures. Every test runs with the network blocked except loopback."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"

sys.path.insert(0, str(NETGUARD_DIR))
import sitecustomize as _netguard  # noqa: E402  (installs the guard in this process)

sys.path.remove(str(NETGUARD_DIR))
_netguard.install()


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch):
    """No test may pick up a developer's real key or API address from the environment."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
from tests.fake_openai.fixture import fake_openai  # noqa: E402,F401
