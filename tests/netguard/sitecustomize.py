"""Refuse every network connection except loopback, in any Python process that imports this.

The test suite puts this folder on PYTHONPATH for the scripts it runs as subprocesses, and
``tests/conftest.py`` installs the same guard in the test process itself, so a slip that would
reach the real OpenAI API (or anything else off this machine) fails loudly instead.
"""

import ipaddress
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to reach an address that is not loopback."""


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse it


def _check(address) -> None:
    if not _is_loopback(address):
        raise NetworkBlockedError(f"tests may not reach the network: connection to {address!r} refused")


def _guarded_connect(self, address):
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)


def _guarded_create_connection(address, *args, **kwargs):
    _check(address)
    return _real_create_connection(address, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.create_connection = _guarded_create_connection


install()
