"""Where a run's words go: one sink, the ``Printer``; and, under ``--json``, the one document a
run prints, the envelope.

``out``: the command's own output, on stdout; on stderr when stdout carries the JSON document
(``--json``), so that stdout stays one parsable document. ``note``: progress, notes and warnings,
always on stderr. ``error``: a user error, on stderr. ``envelope``: the JSON document, on stdout.

The envelope (docs/json.md) has the same keys for every script::

    {"version": 1, "command": "check_batch_status", "exit_code": 0, "result": {...}, "messages": [...]}

``result`` is what the job returned (a plan, a status, a processing report, ...; null when the
run ended before it had one), ``messages`` every note, warning and error the run wrote on stderr,
in order, each ``{"level": "error" | "warning" | "note" | "info", "text": ...}`` (the level is the
line's ``error:``/``warning:``/``note:`` prefix, which ``text`` leaves out; ``info`` for the
others: progress, retries).

Progress during long work (``--watch``, ``--wait``, flex) goes through one event sink: a job is
handed an ``Events`` callable and calls it with typed events (frozen dataclasses the job
defines); it never words them. The script makes the sink, an ``EventSink``: a text module
(``text.status``, ``text``) turns each event into ``Line``s, which the ``Printer`` prints.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .errors import EXIT_OK

ENVELOPE_VERSION = 1
ENVELOPE_KEYS = ("version", "command", "exit_code", "result", "messages")
LEVELS = ("error", "warning", "note")


@dataclass
class Envelope:
    """The ``--json`` document of the run in progress: its messages so far, and whether it is printed."""

    command: str | None
    messages: list[dict] = field(default_factory=list)
    printed: bool = False

    def record(self, message: str, level: str | None = None) -> None:
        text = message.strip("\n")
        if level is None:
            level = next((name for name in LEVELS if text.startswith(f"{name}: ")), "info")
            text = text.removeprefix(f"{level}: ")
        self.messages.append({"level": level, "text": text})

    def document(self, exit_code: int, result: dict | None) -> dict:
        return {
            "version": ENVELOPE_VERSION, "command": self.command, "exit_code": exit_code, "result": result,
            "messages": list(self.messages),
        }

    def print(self, exit_code: int, result: dict | None) -> None:
        self.printed = True
        print(json.dumps(self.document(exit_code, result), indent=2))


# The envelope of the run in progress when it is a --json run (``Printer(json_output=True)``
# starts it, ``begin_run`` ends the last one): every message written through ``note`` lands in it.
_envelope: Envelope | None = None


def begin_run() -> None:
    """A new run starts (``cli.run``): no envelope until its Printer asks for one."""
    global _envelope
    _envelope = None


def current_envelope() -> Envelope | None:
    return _envelope


def note(message: str) -> None:
    """A message that is not the command's output: progress, notes, warnings (stderr); under
    ``--json`` also kept for the envelope's ``messages``."""
    print(message, file=sys.stderr)
    if _envelope is not None:
        _envelope.record(message)


class Printer:
    """The one sink of a run (``out`` and ``note`` may be given, e.g. to collect the lines).

    A script's Printer with ``json_output`` starts the run's envelope, named ``command``."""

    def __init__(
        self,
        json_output: bool = False,
        *,
        command: str | None = None,
        out: Callable[[str], None] | None = None,
        note: Callable[[str], None] | None = None,
    ):
        global _envelope
        self.json_output = json_output
        self.out = out or (_stderr if json_output else _print)
        self.note = note or _note
        if json_output:
            _envelope = Envelope(command)

    def error(self, message: str) -> None:
        self.note(f"error: {message}")

    def envelope(self, exit_code: int, result: dict | None) -> None:
        """Print the run's envelope on stdout (``--json``), with ``result`` and the messages so far."""
        (_envelope or Envelope(None)).print(exit_code, result)


def _print(message: str) -> None:
    print(message)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


_note = note


@dataclass(frozen=True)
class Line:
    """A line a text module made of an event, and where it goes: ``out`` (the command's output),
    ``note`` (stderr: progress, notes, warnings, already prefixed as they should read) or ``error``
    (stderr, prefixed ``error: ``)."""

    text: str
    to: str = "out"


@dataclass(frozen=True)
class Message:
    """An event that is already words, made by a module that words its own kind of message (a
    settings note, an API retry, an error ``batch_sync`` describes, the ledger's lock wait): the
    sink prints it as it is, where ``to`` says."""

    text: str
    to: str = "note"


Events = Callable[[object], None]
"""What a job is handed to tell its progress: it calls it with a typed event, and words nothing."""


def no_events(event: object) -> None:
    """The ``Events`` of a job nobody watches: every event is dropped."""


class EventSink:
    """The ``Events`` of a run: each event is worded by ``words`` (a text module's function, or an
    object that keeps state between events, such as a progress bar, and may have ``close``), and
    its lines go to ``printer``."""

    def __init__(self, printer: Printer, words: Callable[[object], Iterable[Line]]):
        self.printer = printer
        self.words = words

    def __call__(self, event: object) -> None:
        if isinstance(event, Message):
            getattr(self.printer, event.to)(event.text)
            return
        for line in self.words(event) or ():
            getattr(self.printer, line.to)(line.text)

    def close(self) -> None:
        """The events are over (a progress bar is cleared)."""
        close = getattr(self.words, "close", None)
        if close is not None:
            close()


@dataclass
class Outcome:
    """What a script ends with, the pipx ``OperationResult`` way: the lines it shows (its output,
    on stderr under ``--json``; ``note`` and ``error`` add lines for stderr, kept in order), the
    job's result (``payload``, the ``result`` of the ``--json`` envelope: see ``output``), and its
    exit code. ``show`` renders it."""

    lines: list[str] = field(default_factory=list)
    payload: dict | None = None
    exit_code: int = EXIT_OK
    _asides: dict[int, list[tuple[str, str]]] = field(default_factory=dict, repr=False)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def note(self, line: str) -> None:
        self._asides.setdefault(len(self.lines), []).append(("note", line))

    def error(self, message: str) -> None:
        self._asides.setdefault(len(self.lines), []).append(("error", message))

    def show(self, printer: Printer) -> int:
        for index in range(len(self.lines) + 1):
            for kind, text in self._asides.get(index, ()):
                getattr(printer, kind)(text)
            if index < len(self.lines):
                printer.out(self.lines[index])
        if printer.json_output:
            printer.envelope(self.exit_code, self.payload)
        return self.exit_code
