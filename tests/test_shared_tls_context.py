"""The tests' openai clients share one TLS context (``script_forkserver.share_one_tls_context``).

Building an ``openai`` client builds an HTTP client, which loads the machine's CA certificates
into a new TLS context: about 30 ms of CPU, more than half of a typical script run in the tests.
The test process and the fork server load them once; these hold that, so that an update of the
HTTP library that drops the sharing shows up here instead of as a slower suite.
"""

from __future__ import annotations

import os
import ssl
import textwrap

import openai
import pytest

from tests import script_forkserver


def test_clients_built_in_the_test_process_load_no_certificates_after_the_first(monkeypatch):
    openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9").close()
    loads = []
    load = ssl.SSLContext.load_verify_locations

    def counted(self, *args, **kwargs):
        loads.append(args)
        return load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    for _ in range(3):
        openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9").close()
    assert loads == []


PROBE = """
    import ssl

    import openai

    loads = []
    load = ssl.SSLContext.load_verify_locations


    def counted(self, *args, **kwargs):
        loads.append(args)
        return load(self, *args, **kwargs)


    ssl.SSLContext.load_verify_locations = counted
    for _ in range(2):
        openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9").close()
    print(len(loads))
"""


@pytest.mark.skipif(not script_forkserver.AVAILABLE, reason="no fork server on this platform")
def test_a_run_forked_from_the_fork_server_loads_no_certificates(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(PROBE), encoding="utf-8")
    run = script_forkserver.run(probe, env=dict(os.environ), cwd=tmp_path, timeout=60)
    assert (run.returncode, run.stdout.strip()) == (0, "0"), run.stderr
