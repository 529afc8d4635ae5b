"""The tests' network guard: only loopback may be reached, in this process and in subprocesses.

No test here sends a packet: the guard's decision is checked directly, and that it is installed
in place of the socket functions.
"""

import socket
import subprocess
import sys

import pytest

from tests.conftest import _netguard as guard
from tests.helpers import script_env


@pytest.mark.parametrize("address", [("127.0.0.1", 80), ("::1", 80), ("localhost", 8787), "/tmp/some.sock"])
def test_loopback_and_local_sockets_are_allowed(address):
    guard._check(address)  # no exception


@pytest.mark.parametrize("address", [("203.0.113.7", 443), ("10.0.0.1", 80), ("api.openai.com", 443)])
def test_every_other_address_is_refused(address):
    with pytest.raises(guard.NetworkBlockedError):
        guard._check(address)


def test_the_guard_is_installed_in_the_test_process():
    assert socket.socket.connect is guard._guarded_connect
    assert socket.create_connection is guard._guarded_create_connection


def test_scripts_run_by_the_tests_get_the_guard_too():
    code = "import socket; print(socket.socket.connect.__name__)"
    result = subprocess.run([sys.executable, "-c", code], env=script_env(), capture_output=True, text=True)
    assert result.stdout.strip() == "_guarded_connect"
