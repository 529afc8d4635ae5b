"""Run the fake OpenAI server by hand: ``python -m tests.fake_openai --port 8787 --scenario s.json``.

It prints the base URL (and the environment variables to export) and serves until Ctrl-C.
Steer it while it runs with ``POST /_control/scenario``; see ``GET /_control/log``.
"""

from __future__ import annotations

import argparse
import sys

from .scenario import ScenarioError, load_scenario_file
from .server import FakeOpenAIServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on; 0 picks a free one")
    parser.add_argument("--scenario", help="scenario JSON file (see tests/fake_openai/README.md)")
    args = parser.parse_args(argv)

    try:
        scenario = load_scenario_file(args.scenario) if args.scenario else None
    except (OSError, ValueError, ScenarioError) as error:
        print(f"cannot load scenario: {error}", file=sys.stderr)
        return 2
    try:
        server = FakeOpenAIServer(scenario, host=args.host, port=args.port)
    except OSError as error:
        print(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}. Is another server running there? "
            "Stop it, or pick another port with --port (0 picks a free one).",
            file=sys.stderr,
        )
        return 1
    print(f"Fake OpenAI API listening at {server.base_url}", flush=True)
    print(f"  OPENAI_BASE_URL={server.base_url}", flush=True)
    print("  OPENAI_API_KEY=<any non-empty key, unless the scenario lists valid_api_keys>", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
