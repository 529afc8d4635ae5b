"""Progress bars for long waits, written to stderr.

On a terminal the bar redraws in place; when stderr is not a terminal (a log file, CI, a test)
it prints nothing while running, so logs stay readable, and the caller's summary says the rest.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, total: int, stream: TextIO | None = None, min_interval: float = 0.1):
        self.label = label
        self.total = max(0, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._min_interval = min_interval
        self._last_draw: float | None = None
        self._note = ""
        self._shown = False

    def update(self, done: int | None = None, total: int | None = None, note: str = "", advance: int = 0) -> None:
        if total is not None:
            self.total = max(0, total)
        self.done = done if done is not None else self.done + advance
        self._note = note or self._note
        now = time.monotonic()
        due = self._last_draw is None or now - self._last_draw >= self._min_interval
        if self.enabled and (due or self.done >= self.total):
            self._draw()
            self._last_draw = now
            self._shown = True

    def close(self) -> None:
        """End the bar's line (nothing if the bar was never shown); safe to call twice."""
        if self._shown:
            self._shown = False
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _draw(self) -> None:
        fraction = min(1.0, self.done / self.total) if self.total else 0.0
        filled = int(round(fraction * BAR_WIDTH))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        note = f"  {self._note}" if self._note else ""
        self.stream.write(f"\r{self.label} [{bar}] {self.done:,}/{self.total:,} ({fraction:5.1%}){note}\x1b[K")
        self.stream.flush()
