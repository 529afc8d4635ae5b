"""The prompt: a Markdown template file filled in for each lesson.

A template has two parts, marked by lines ``<!-- system -->`` and ``<!-- user -->``. The system
part holds the static instructions and is the same for every lesson, so the API can cache that
shared prefix; the user part holds what is particular to one lesson and comes last. A template
without markers is sent whole as the user message.

Only known ``{placeholders}`` are filled (see ``PLACEHOLDERS``); every other brace is left as it
is, so templates may contain JSON or code examples. The ``## Heading`` lines of the template are
the sections every generated lesson must have; the results step checks lessons against them.

Prerequisites and related lessons come from a lesson's own ``Prerequisites:`` / ``Related:``
lines when it has them; otherwise they are derived from curriculum order: the lesson just before
(for a module's first lesson, the last lesson of the previous module) and the next lessons of the
same module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .curriculum import Curriculum, Lesson
from .errors import LessonBatchError
from .lesson_text import required_sections_of

PLACEHOLDERS = {
    "curriculum_name": "the curriculum's name (its first '# ' heading)",
    "module_code": "M0",
    "module_title": "the module's title",
    "lesson_id": "M0-L001",
    "lesson_code": "L001",
    "lesson_title": "the lesson's title",
    "complexity": "Foundational, Intermediate or Advanced",
    "complexity_tag": "F, I or A",
    "notes": "the notes (key topics) under the lesson header",
    "prerequisites": "lessons to build on",
    "related_lessons": "lessons that go further",
}

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_SYSTEM_MARKER = re.compile(r"^[ \t]*<!--\s*system\s*-->[ \t]*$", re.IGNORECASE | re.MULTILINE)
_USER_MARKER = re.compile(r"^[ \t]*<!--\s*user\s*-->[ \t]*$", re.IGNORECASE | re.MULTILINE)
RELATED_LESSONS_SHOWN = 2


class PromptError(LessonBatchError):
    """A template that cannot be used; the message names the file (and line)."""


@dataclass(frozen=True)
class PromptTemplate:
    path: Path
    system: str  # may be empty: then only a user message is sent
    user: str
    required_sections: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def load_template(path: Path | str) -> PromptTemplate:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PromptError(f"{path}: prompt template not found (pass --prompt-template PATH)") from None
    except UnicodeDecodeError:
        raise PromptError(f"{path}: the prompt template is not valid UTF-8 text") from None
    except OSError as exc:
        raise PromptError(f"{path}: cannot read the prompt template: {exc.strerror or exc}") from None
    return parse_template(text, path)


def parse_template(text: str, path: Path | str = "<template>") -> PromptTemplate:
    path = Path(path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    system_marker = _SYSTEM_MARKER.search(text)
    user_marker = _USER_MARKER.search(text)
    if user_marker is None:
        if system_marker is not None:
            line = text[: system_marker.start()].count("\n") + 1
            raise PromptError(f"{path}:{line}: the template has a <!-- system --> part but no <!-- user --> part")
        system, user = "", text
    else:
        if system_marker is not None and system_marker.start() > user_marker.start():
            line = text[: system_marker.start()].count("\n") + 1
            raise PromptError(f"{path}:{line}: put the <!-- system --> part before the <!-- user --> part")
        system_start = system_marker.end() if system_marker else 0
        system = text[system_start : user_marker.start()]
        user = text[user_marker.end() :]
    system, user = system.strip(), user.strip()
    if not user:
        raise PromptError(f"{path}: the template's user part is empty")
    warnings = []
    for number, line in enumerate(text.split("\n"), start=1):
        for name in _PLACEHOLDER.findall(line):
            if name not in PLACEHOLDERS:
                warnings.append(
                    f"{path}:{number}: {{{name}}} is not a known placeholder and is sent as written "
                    f"(known: {', '.join(sorted(PLACEHOLDERS))})"
                )
    return PromptTemplate(
        path=path,
        system=system,
        user=user,
        required_sections=tuple(required_sections_of(system + "\n" + user)),
        warnings=tuple(warnings),
    )


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known ``{name}`` placeholders; leave every other brace untouched."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), text)


class PromptBuilder:
    """Fills the template for each lesson of one curriculum."""

    def __init__(self, template: PromptTemplate, curriculum: Curriculum):
        self.template = template
        self.curriculum = curriculum
        self._position = {lesson.id: index for index, lesson in enumerate(curriculum.lessons)}
        self._titles = {lesson.id: lesson.title for lesson in curriculum.lessons}
        self._modules = {module.number: module for module in curriculum.modules}
        self._system = fill(template.system, {"curriculum_name": curriculum.name}) if template.system else ""

    def messages(self, lesson: Lesson) -> list[dict[str, str]]:
        values = self.values(lesson)
        user = fill(self.template.user, values)
        if not self._system:
            return [{"role": "user", "content": user}]
        system = self._system if "{" not in self._system else fill(self._system, values)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def values(self, lesson: Lesson) -> dict[str, str]:
        module = self._modules[lesson.module_number]
        return {
            "curriculum_name": self.curriculum.name,
            "module_code": module.code,
            "module_title": module.title,
            "lesson_id": lesson.id,
            "lesson_code": lesson.code,
            "lesson_title": lesson.title,
            "complexity": lesson.complexity_name,
            "complexity_tag": lesson.complexity or "",
            "notes": lesson.notes or "(none given)",
            "prerequisites": self._describe(self.prerequisites(lesson)) or "None: this lesson opens the curriculum.",
            "related_lessons": self._describe(self.related(lesson)) or "None.",
        }

    def prerequisites(self, lesson: Lesson) -> list[str]:
        if lesson.prerequisites:
            return list(lesson.prerequisites)
        index = self._position[lesson.id]
        return [self.curriculum.lessons[index - 1].id] if index > 0 else []

    def related(self, lesson: Lesson) -> list[str]:
        if lesson.related:
            return list(lesson.related)
        index = self._position[lesson.id]
        following = self.curriculum.lessons[index + 1 : index + 1 + RELATED_LESSONS_SHOWN]
        return [other.id for other in following if other.module_number == lesson.module_number]

    def _describe(self, lesson_ids: list[str]) -> str:
        return "; ".join(
            f"{lesson_id} ({self._titles[lesson_id]})" if lesson_id in self._titles else lesson_id
            for lesson_id in lesson_ids
        )
