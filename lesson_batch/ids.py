"""The one place that knows the lesson id format.

A lesson id is ``M<module>-L<3-digit lesson>`` (``M0-L001``, ``M14-L023``). It is the
lesson's output file stem and its Batch API ``custom_id``; nothing else builds or parses it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_MODULE = 999
MAX_LESSON = 999

LESSON_ID_PATTERN = re.compile(r"M(0|[1-9][0-9]{0,2})-L(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})")


def lesson_id(module_number: int, lesson_number: int) -> str:
    """Build the id of lesson ``lesson_number`` in module ``module_number``."""
    if not 0 <= module_number <= MAX_MODULE:
        raise ValueError(f"module number {module_number} is out of range 0-{MAX_MODULE}")
    if not 1 <= lesson_number <= MAX_LESSON:
        raise ValueError(f"lesson number {lesson_number} is out of range 1-{MAX_LESSON}")
    return f"M{module_number}-L{lesson_number:03d}"


def is_lesson_id(value: object) -> bool:
    """True when ``value`` is a well-formed lesson id (and so a safe file name stem)."""
    return isinstance(value, str) and LESSON_ID_PATTERN.fullmatch(value) is not None


def parse_lesson_id(value: str) -> tuple[int, int]:
    """Return ``(module_number, lesson_number)`` for a lesson id; ValueError if it is not one."""
    match = LESSON_ID_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a lesson id (expected the form M0-L001)")
    return int(match.group(1)), int(match.group(2))


def module_code(module_number: int) -> str:
    return f"M{module_number}"


def lesson_code(lesson_number: int) -> str:
    return f"L{lesson_number:03d}"


def sort_key(value: str) -> tuple[int, int]:
    """Curriculum order for lesson ids: by module number, then lesson number."""
    return parse_lesson_id(value)


def lesson_file(output_dir: Path | str, value: str) -> str:
    """The Markdown file of a lesson inside ``output_dir`` (a plain string path: it is built
    once per lesson on the hot path of processing, where pathlib's overhead shows).

    Only a valid lesson id gets a path, so no ``custom_id`` from a results file can
    name a file outside the output directory.
    """
    if LESSON_ID_PATTERN.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a lesson id (expected the form M0-L001)")
    return os.path.join(output_dir, value + ".md")
