"""Where a run's words go: one sink, the ``Printer``.

``out``: the command's own output, on stdout; on stderr when stdout carries the JSON document
(``--json``), so that stdout stays one parsable document. ``note``: progress, notes and warnings,
always on stderr. ``error``: a user error, on stderr. ``json``: the JSON document, on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Callable


def note(message: str) -> None:
    """A message that is not the command's output: progress, notes, warnings (stderr)."""
    print(message, file=sys.stderr)


class Printer:
    """The one sink of a run (``out`` and ``note`` may be given, e.g. to collect the lines)."""

    def __init__(
        self,
        json_output: bool = False,
        *,
        out: Callable[[str], None] | None = None,
        note: Callable[[str], None] | None = None,
    ):
        self.json_output = json_output
        self.out = out or (_note if json_output else _print)
        self.note = note or _note

    def error(self, message: str) -> None:
        self.note(f"error: {message}")

    def json(self, payload: dict) -> None:
        print(json.dumps(payload, indent=2))


def _print(message: str) -> None:
    print(message)


_note = note
