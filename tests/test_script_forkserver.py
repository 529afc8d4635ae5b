"""The tests' fork server (tests/script_forkserver.py) keeps quiet after a run that passed.

Its supervisors tell the test side a run's pid and exit status; the test side may close its end
the instant it has read a message (``ForkedProcess.release``). A supervisor that wrote anything
more after the message's last byte (an empty ``sendall`` still calls ``send``) then met EPIPE and
printed a ``BrokenPipeError`` traceback on the terminal after a passing run (issue 19).
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests import script_forkserver

pytestmark = pytest.mark.skipif(not script_forkserver.AVAILABLE, reason="no fork server on this platform")


class ReaderThatLetsGoAtOnce:
    """Our end of a connection whose reader closes its own end as soon as a whole message is in."""

    def __init__(self):
        self.ours, self.theirs = socket.socketpair()
        self.message: dict | None = None

    def _read_if_whole(self) -> None:
        if self.message is None:
            self.message, _ = script_forkserver._receive(self.theirs)  # the bytes are in the buffer
            self.theirs.close()

    def send(self, data: bytes) -> int:
        sent = self.ours.send(data)
        if sent == len(data):
            self._read_if_whole()
        return sent

    def sendall(self, data: bytes) -> None:
        self.ours.sendall(data)
        self._read_if_whole()

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()


def test_a_message_is_written_once_and_nothing_after_it_so_a_reader_may_close_at_once():
    conn = ReaderThatLetsGoAtOnce()
    try:
        script_forkserver._send(conn, {"returncode": -9})  # raised BrokenPipeError before the fix
        assert conn.message == {"returncode": -9}
    finally:
        conn.close()


def test_a_long_message_with_file_descriptors_arrives_whole_with_them():
    ours, theirs = socket.socketpair()
    readable, writable = socket.socketpair()
    received: list = []
    reader = threading.Thread(target=lambda: received.append(script_forkserver._receive(theirs, max_fds=1)))
    reader.start()
    try:
        script_forkserver._send(ours, {"env": "x" * 1_000_000}, [readable.fileno()])
        reader.join(timeout=10)
        ((message, fds),) = received
        assert message == {"env": "x" * 1_000_000} and len(fds) == 1
        passed = socket.socket(fileno=fds[0])
        writable.sendall(b"!")
        assert passed.recv(1) == b"!"
        passed.close()
    finally:
        for sock in (ours, theirs, readable, writable):
            sock.close()


@pytest.mark.skipif(not script_forkserver.AVAILABLE, reason="no fork server on this platform")
def test_once_a_run_is_waited_for_its_pid_is_gone_so_the_next_run_takes_its_temporaries_for_abandoned(tmp_path):
    import os

    from tests.helpers import start_python

    script = tmp_path / "ends.py"
    script.write_text("pass\n")
    for _ in range(3):  # the supervisor's reaping raced the next step
        process = start_python(script, env=dict(os.environ), cwd=tmp_path)
        assert process.wait(timeout=30) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)  # a zombie would answer: its pid still looks alive
