"""Named points where a test can make a script die at once, to prove a re-run recovers.

Inert unless the environment variable ``LESSON_BATCH_CRASH_AT`` names a point, optionally with
a count (``after_upload`` or ``lesson_saved:3`` for the third time the point is reached). The
process then kills itself with SIGKILL (``os._exit`` where there is no SIGKILL): no cleanup, no
``finally`` blocks, exactly like a power cut or ``kill -9``. The points (grep for ``reached(``):
``shard_recorded`` (after the plan, before upload), ``after_upload``, ``after_create`` (before the
batch is recorded), ``watch_poll``, ``download_chunk``, ``after_download``, ``lesson_prepared`` (a
lesson's temporary file written), ``lesson_saved`` and ``lessons_marked``; for flex, ``flex_sent``
(the lesson recorded in flight, its request going out) and ``flex_answer`` (an answer received,
before it is recorded or processed). An upload is one HTTP call: a kill inside it leaves the same
state as one at ``shard_recorded`` or ``after_upload``.
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
