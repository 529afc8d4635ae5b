"""Reading a curriculum written in Markdown ("Content Structure.md").

The format, one line per header::

    # Data Governance Curriculum            <- optional: the curriculum's name
    # M0: Orientation — Lesson Map          <- a module
    ## L001: What Data Governance Is [F]     <- a lesson, tag F/I/A optional
    Key topics: ...                          <- notes, until the next header
    Prerequisites: M0-L001                   <- optional, names lessons explicitly
    Related: M5-L002                         <- optional

The parser is strict about structure and tolerant about typography: `—`, `–`, `-` and `:`
all separate a code from its title, CRLF endings, a UTF-8 BOM and trailing spaces are
accepted, and lines inside fenced code blocks are never headers. Anything it cannot make
sense of raises ``CurriculumError`` naming the file and line, before any request is built,
including a line that is almost a header (``## Lesson 2 Title``, ``### L003: Title``,
``## l002: Title``), which would otherwise vanish into the notes of the lesson above it.
Unknown complexity tags are kept and reported as warnings.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from . import ids
from .errors import LessonBatchError

COMPLEXITY_NAMES = {"F": "Foundational", "I": "Intermediate", "A": "Advanced"}
_COMPLEXITY_WORDS = {name.lower(): tag for tag, name in COMPLEXITY_NAMES.items()}

_SEPARATOR = r"(?:\s*(?::|—|–|-)\s*|\s+)"
# Numbers are ASCII digits only: "\d" alone would also take other scripts' digits (M١ as M1).
_MODULE_HEADER = re.compile(r"^#\s+M([0-9]+)" + _SEPARATOR + r"(.*?)$")
_LESSON_HEADER = re.compile(r"^##\s+L([0-9]+)" + _SEPARATOR + r"(.*?)$")
_BARE_LESSON_HEADER = re.compile(r"^##\s+L([0-9]+)\s*$")
# No leading \s* in _TAG and _LESSON_MAP_SUFFIX, no lazy group before \s*$ in _TITLE_HEADER: those
# take time quadratic in a run of spaces (minutes for one long line); the callers strip instead.
_TAG = re.compile(r"\[([^\[\]]*)\]\s*$")
_LESSON_MAP_SUFFIX = re.compile(r"(?:—|–|-|:)\s*Lesson Map\s*$", re.IGNORECASE)
# A line that is almost a module or lesson header (another level, lower case, "Lesson 2", no
# space after the #): an error, never notes, since it would silently swallow a lesson.
_NEAR_HEADER = re.compile(
    r"^(#{1,6})\s*(lesson|module|l|m)\s*([0-9]+)(?![0-9])\s*(?::|—|–|-)?\s*(.*)$", re.IGNORECASE
)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})(.*)$")
_TITLE_HEADER = re.compile(r"^#\s+(.+)$")  # lines arrive right-stripped
_NAMED_LIST = re.compile(r"^(prerequisites|prereqs|related(?: lessons)?)\s*:\s*(.*)$", re.IGNORECASE)
_ID_IN_TEXT = re.compile(r"M[0-9]+-L[0-9]{3}")

DEFAULT_CURRICULUM_NAME = "Data Governance"


class CurriculumError(LessonBatchError):
    """A curriculum file that cannot be used; the message names the file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Lesson:
    module_number: int
    lesson_number: int
    title: str
    complexity: str | None  # the tag as written: "F", "I", "A", or an unknown tag kept as is
    notes: str  # the free text under the header (without Prerequisites/Related lines)
    line: int  # where the header is, for messages
    prerequisites: tuple[str, ...] = ()  # ids named explicitly in the notes
    related: tuple[str, ...] = ()

    @cached_property  # asked for many times per lesson while planning (15,000+ lessons)
    def id(self) -> str:
        return ids.lesson_id(self.module_number, self.lesson_number)

    @property
    def code(self) -> str:
        return ids.lesson_code(self.lesson_number)

    @property
    def complexity_name(self) -> str:
        if self.complexity is None:
            return "Unspecified"
        return COMPLEXITY_NAMES.get(self.complexity, self.complexity)


@dataclass(frozen=True)
class Module:
    number: int
    title: str
    description: str
    line: int

    @property
    def code(self) -> str:
        return ids.module_code(self.number)


@dataclass(frozen=True)
class Curriculum:
    name: str
    path: Path
    modules: tuple[Module, ...]
    lessons: tuple[Lesson, ...]
    warnings: tuple[str, ...] = ()

    def module(self, number: int) -> Module:
        for module in self.modules:
            if module.number == number:
                return module
        raise KeyError(number)

    def lesson(self, lesson_id: str) -> Lesson:
        for lesson in self.lessons:
            if lesson.id == lesson_id:
                return lesson
        raise KeyError(lesson_id)


@dataclass
class _Draft:
    """A lesson or module while its notes are still being collected."""

    number: int
    title: str
    tag: str | None
    line: int
    notes: list[str] = field(default_factory=list)


def load_curriculum(path: Path | str) -> Curriculum:
    """Read and parse a curriculum file; CurriculumError if it is missing or malformed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CurriculumError(path, None, "file not found (pass --curriculum PATH to use another file)") from None
    except IsADirectoryError:
        raise CurriculumError(path, None, "is a folder, not a curriculum file") from None
    except OSError as exc:
        raise CurriculumError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    try:
        body = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
        text = body.decode("utf-8")  # not "utf-8-sig": its error offsets do not count the BOM
    except UnicodeDecodeError as exc:
        before = body[: exc.start]  # lines end with \r\n, \n or \r, as parse_curriculum counts them
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
        raise CurriculumError(path, line, "is not valid UTF-8 text (save the file as UTF-8)") from None
    return parse_curriculum(text, path)


def parse_curriculum(text: str, path: Path | str = "<curriculum>") -> Curriculum:
    """Parse curriculum Markdown; ``path`` is only used in messages."""
    text = text.lstrip("\ufeff")
    parser = _Parser(Path(path))
    for number, raw_line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        parser.read(number, raw_line.rstrip())
    return parser.finish()


class _Parser:
    """The state of reading a curriculum line by line: the modules and lessons so far, the
    module or lesson collecting notes, and the code fence the reader is in."""

    def __init__(self, path: Path):
        self.path = path
        self.name: str | None = None
        self.modules: list[tuple[_Draft, list[_Draft]]] = []
        self.warnings: list[str] = []
        self.seen_modules: dict[int, int] = {}
        self.seen_lessons: dict[str, int] = {}
        self.current: _Draft | None = None  # the module or lesson collecting notes
        self.fence: str | None = None

    def read(self, number: int, line: str) -> None:
        if self._in_fence(line):
            return
        module_match = _MODULE_HEADER.match(line)
        if module_match:
            self._module(number, module_match)
            return
        lesson_match = _LESSON_HEADER.match(line) or _BARE_LESSON_HEADER.match(line)
        if lesson_match:
            self._lesson(number, lesson_match)
            return
        near = _NEAR_HEADER.match(line)
        if near:
            raise CurriculumError(self.path, number, _near_header_message(line, near))
        title_match = _TITLE_HEADER.match(line)
        if title_match and not self.modules and self.name is None:
            self.name = title_match.group(1)
            self.current = None
            return
        if self.current is not None:
            self.current.notes.append(line)

    def _in_fence(self, line: str) -> bool:
        """Whether the line opens, closes or is inside a code fence (kept as notes, never a header)."""
        fence_match = _FENCE.match(line)
        if self.fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == self.fence[0]
                and len(fence_match.group(1)) >= len(self.fence)
                and not fence_match.group(2).strip()  # a closing fence has no info string
            ):
                self.fence = None
        elif fence_match:
            self.fence = fence_match.group(1)
        else:
            return False
        if self.current is not None:
            self.current.notes.append(line)
        return True

    def _module(self, number: int, match: re.Match) -> None:
        path = self.path
        module_number = _header_number(match.group(1))
        if module_number > ids.MAX_MODULE:
            raise CurriculumError(
                path, number, f"module number M{_shown_number(match.group(1))} is above M{ids.MAX_MODULE}"
            )
        if module_number in self.seen_modules:
            raise CurriculumError(
                path, number,
                f"module M{module_number} appears twice (first at line {self.seen_modules[module_number]})",
            )
        self.seen_modules[module_number] = number
        title = _LESSON_MAP_SUFFIX.sub("", match.group(2)).strip()
        if not title:
            raise CurriculumError(path, number, f"module M{module_number} has no title")
        self.current = _Draft(module_number, title, None, number)
        self.modules.append((self.current, []))

    def _lesson(self, number: int, match: re.Match) -> None:
        path = self.path
        lesson_number = _header_number(match.group(1))
        if not self.modules:
            raise CurriculumError(
                path, number, f"lesson L{lesson_number:03d} comes before any module header (# M0: Title)"
            )
        if not 1 <= lesson_number <= ids.MAX_LESSON:
            raise CurriculumError(
                path, number, f"lesson number L{_shown_number(match.group(1))} is outside L001-L999"
            )
        rest = match.group(2) if match.re is _LESSON_HEADER else ""
        title, tag = _split_tag(rest)
        if not title:
            raise CurriculumError(path, number, f"lesson L{lesson_number:03d} has no title")
        module_draft, lesson_drafts = self.modules[-1]
        lesson_key = ids.lesson_id(module_draft.number, lesson_number)
        if lesson_key in self.seen_lessons:
            raise CurriculumError(
                path,
                number,
                f"duplicate lesson id {lesson_key}: line {self.seen_lessons[lesson_key]} and line {number} "
                "both define it (renumber one of them)",
            )
        self.seen_lessons[lesson_key] = number
        if tag is not None:
            tag = _COMPLEXITY_WORDS.get(tag.lower(), tag.upper() if tag.upper() in COMPLEXITY_NAMES else tag)
            if tag not in COMPLEXITY_NAMES:
                self.warnings.append(
                    f"{path}:{number}: lesson {lesson_key} has an unknown complexity tag [{tag}] "
                    "(expected [F], [I] or [A]); it is kept as written"
                )
        self.current = _Draft(lesson_number, title, tag, number)
        lesson_drafts.append(self.current)

    def finish(self) -> Curriculum:
        path, warnings = self.path, self.warnings
        if self.fence is not None:
            warnings.append(f"{path}: a code fence ({self.fence}) is never closed; headers after it were not read")
        built_modules: list[Module] = []
        built_lessons: list[Lesson] = []
        for module_draft, lesson_drafts in self.modules:
            built_modules.append(
                Module(module_draft.number, module_draft.title, _join_notes(module_draft.notes), module_draft.line)
            )
            for draft in lesson_drafts:
                built_lessons.append(_build_lesson(module_draft.number, draft))
        if not built_lessons:
            raise CurriculumError(
                path, None,
                "no lessons found (expected module headers like '# M0: Title' and lesson headers like "
                "'## L001: Title [F]')"
            )
        _check_references(path, built_lessons, self.seen_lessons, warnings)
        return Curriculum(
            name=self.name or DEFAULT_CURRICULUM_NAME,
            path=path,
            modules=tuple(built_modules),
            lessons=tuple(built_lessons),
            warnings=tuple(warnings),
        )


def _near_header_message(line: str, match: re.Match) -> str:
    is_lesson = match.group(2).lower().startswith("l")
    number = _header_number(match.group(3))
    rest = match.group(4).strip()
    if is_lesson:
        suggestion = f"## L{number:03d}: {rest}" if number <= ids.MAX_LESSON else "## L001: Title"
    else:
        suggestion = f"# M{number}: {rest}" if number <= ids.MAX_MODULE else "# M0: Title"
    shown = line if len(line) <= 80 else line[:77] + "..."
    return (
        f"'{shown}' looks like a {'lesson' if is_lesson else 'module'} header but is not one: write it as "
        f"'{suggestion.rstrip(': ')}' (or, if it belongs to the notes, without the leading '#')"
    )


def _header_number(digits: str) -> int:
    """The number of a module or lesson header. A very long one is out of range anyway (and int()
    refuses strings past 4,300 digits), so it reads as a number just past every limit."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 12 else 10**12


def _shown_number(digits: str) -> str:
    return digits if len(digits) <= 12 else digits[:12] + "…"


def _split_tag(rest: str) -> tuple[str, str | None]:
    rest = rest.strip()
    match = _TAG.search(rest)
    if match is None:
        return rest, None
    tag = match.group(1).strip()
    return rest[: match.start()].strip(), (tag or None)


def _join_notes(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").strip()


def _build_lesson(module_number: int, draft: _Draft) -> Lesson:
    prerequisites: list[str] = []
    related: list[str] = []
    kept: list[str] = []
    for line in draft.notes:
        match = _NAMED_LIST.match(line.strip())
        if match:
            target = prerequisites if match.group(1).lower().startswith("prereq") else related
            target.extend(_ID_IN_TEXT.findall(match.group(2)))
        else:
            kept.append(line)
    return Lesson(
        module_number=module_number,
        lesson_number=draft.number,
        title=draft.title,
        complexity=draft.tag,
        notes=_join_notes(kept),
        line=draft.line,
        prerequisites=tuple(dict.fromkeys(prerequisites)),
        related=tuple(dict.fromkeys(related)),
    )


def _check_references(path: Path, lessons: list[Lesson], known: dict[str, int], warnings: list[str]) -> None:
    for lesson in lessons:
        for named in lesson.prerequisites + lesson.related:
            if named not in known:
                warnings.append(
                    f"{path}:{lesson.line}: lesson {lesson.id} names {named}, which is not in the curriculum"
                )
