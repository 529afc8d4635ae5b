"""The ``fake_openai`` pytest fixture: a fresh fake OpenAI server for each test.

The server runs in a background thread on a free port of 127.0.0.1 and is shut down after
the test. The fixture yields the ``FakeOpenAIServer`` itself, which is the handle: point a
client at ``handle.base_url`` (or pass ``handle.env()`` to a subprocess), steer it with
``handle.set_scenario({...})``, and inspect ``handle.requests`` / ``handle.batches``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
