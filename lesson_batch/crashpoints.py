"""Named points where a test can make a script die at once, to prove a re-run recovers.

Inert unless the environment variable ``LESSON_BATCH_CRASH_AT`` names a point, optionally with
a count (``after_upload`` or ``lesson_saved:3`` for the third time the point is reached). The
process then kills itself with SIGKILL (``os._exit`` where there is no SIGKILL): no cleanup, no
``finally`` blocks, exactly like a power cut or ``kill -9``. The kill tests use this to stop a
script after the plan, during and after upload, after batch creation, while watching, while
downloading and in the middle of saving lessons.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "LESSON_BATCH_CRASH_AT"
_counts: dict[str, int] = {}


def reached(name: str) -> None:
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= (int(nth) if nth.isdigit() else 1):
        if hasattr(signal, "SIGKILL"):
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)
