"""A local stand-in for the OpenAI Files, Batches, Models and Chat Completions APIs, for end-to-end tests.

The real ``openai`` client talks to it over HTTP on 127.0.0.1 (``base_url`` or
``OPENAI_BASE_URL``), so the code under test runs unchanged while the test decides how
batches end, which requests fail, and which HTTP calls hit transient errors. The package is
split by concern:

* ``scenario`` -- the JSON knob panel (outcomes, faults, limits, pacing, today, models, flex), parsed strictly;
* ``catalog`` -- the server's own dated model table (never the project's);
* ``checks`` -- per-request checks of a chat body, with the API's messages;
* ``errors`` -- the API's error format and message helpers;
* ``model`` -- the fake model: a pure function from a chat request to a Markdown lesson;
* ``store`` -- files, batches, models, input validation and the batch state machine, no HTTP;
* ``multipart`` -- the multipart/form-data parser for uploads;
* ``server`` -- the HTTP server, auth, transient faults, flex capacity, request log, and the test handle;
* ``fixture`` -- the ``fake_openai`` pytest fixture; ``__main__`` -- run it by hand.

See README.md in this folder for the scenario schema and the handle's API.
"""

from .errors import ApiError
from .model import Quirks, TokenUsage, chat_completion, write_lesson
from .scenario import BatchPlan, Faults, Scenario, ScenarioError, load_scenario_file
from .server import FakeOpenAIServer, LoggedRequest, mask_api_key
from .store import StoredFile

__all__ = [
    "ApiError",
    "BatchPlan",
    "FakeOpenAIServer",
    "Faults",
    "LoggedRequest",
    "Quirks",
    "Scenario",
    "ScenarioError",
    "StoredFile",
    "TokenUsage",
    "chat_completion",
    "load_scenario_file",
    "mask_api_key",
    "write_lesson",
]
