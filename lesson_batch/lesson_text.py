"""What a generated lesson must look like: cleaning a model reply and checking the result.

This module owns the shape of a lesson's Markdown. ``clean_lesson`` turns a chat reply into
the lesson alone: it removes the chat around the lesson (a preamble, a fence wrapping the
whole reply, a sign-off, echoed prompt header lines) and keeps every byte of the lesson
itself. ``check_lesson`` then decides whether the cleaned lesson is good enough to write.

Cleaning is a handful of small "remove lines at one end" steps, applied in a loop until none
of them changes anything, so the steps combine in any order (preamble + fence + sign-off)
and cleaning its own output again changes nothing. Every step is fence-aware: text inside a
code block is never taken for chat, a heading, or a separator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .states import TRUNCATED

# --- Markdown line shapes -------------------------------------------------------------------

# Fences may be indented (code blocks inside list items); CommonMark allows only 3 spaces,
# but models indent code in lists freely and we would rather track those fences too.
_FENCE = re.compile(r"^[ \t]*(?P<marker>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*))?$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_YAML_KEY = re.compile(r"^[A-Za-z0-9_][\w .-]*:(?:[ \t]|$)")
_WRAPPER_INFO = ("", "markdown", "md")

# --- Chat phrases ---------------------------------------------------------------------------

_PREAMBLE = re.compile(
    r"""^(?:
        sure | certainly | of\s+course | absolutely | great\s+question | great\s*[!,.]
      | okay | ok | alright | all\s+right | no\s+problem | gladly | as\s+requested
      | here\s+is | here's | here\s+are | here\s+you\s+go | below\s+is | below\s+are
      | below\s+you | i'd\s+be\s+(?:happy|glad) | i\s+would\s+be\s+(?:happy|glad)
      | i'm\s+(?:happy|glad) | happy\s+to | i've\s+(?:written|created|prepared)
      | i\s+have\s+(?:written|created|prepared)
    )(?!\w)""",
    re.IGNORECASE | re.VERBOSE,
)
_SIGN_OFF = re.compile(
    r"""^(?:
        let\s+me\s+know | i\s+hope | hope\s+(?:this|that|you|it) | feel\s+free
      | if\s+you'd\s+like | if\s+you\s+would\s+like | if\s+you\s+want\s+me
      | if\s+you\s+have\s+any | would\s+you\s+like | do\s+you\s+want\s+me | shall\s+i
      | want\s+me\s+to | i\s+can\s+also | i'd\s+be\s+(?:happy|glad)
      | i\s+would\s+be\s+(?:happy|glad) | i'm\s+(?:happy|glad)\s+to
      | happy\s+(?:learning|coding|studying|teaching|practicing|practising)
      | good\s+luck | enjoy\s+(?:the|your|learning|coding) | is\s+there\s+anything
      | any\s+(?:other\s+)?questions | thanks\s+for | thank\s+you | cheers
    )(?!\w)""",
    re.IGNORECASE | re.VERBOSE,
)
# The header lines of our prompt's user message, which models sometimes repeat.
_PROMPT_ECHO = re.compile(
    r"^(?:curriculum|module|lesson\s+id|lesson\s+title|complexity|key\s+topics"
    r"|prerequisites|related\s+lessons)[*_]*[ \t]*:",
    re.IGNORECASE,
)
# Leading decoration a model puts before a chat phrase: emphasis, quotes, emoji.
_LEADING_DECORATION = re.compile(r"^[\W_]+")


@dataclass(frozen=True)
class _Fence:
    char: str
    length: int
    info: str


def _fence_of(line: str) -> _Fence | None:
    if "```" not in line and "~~~" not in line:  # most lines: skip the regex
        return None
    match = _FENCE.match(line)
    if match is None:
        return None
    marker, info = match["marker"], match["info"].strip()
    if marker[0] == "`" and "`" in info:  # CommonMark: not a fence, inline code
        return None
    return _Fence(marker[0], len(marker), info)


def _closes(line_fence: _Fence | None, opener: _Fence) -> bool:
    return (
        line_fence is not None
        and line_fence.char == opener.char
        and line_fence.length >= opener.length
        and not line_fence.info
    )


def _is_blank(line: str) -> bool:
    return not line.strip()


def _heading_text(line: str) -> str | None:
    """The text of an ATX heading line (without closing hashes), or None if not a heading."""
    match = _HEADING.match(line)
    if match is None:
        return None
    return _text_of_heading(match)


def _text_of_heading(match: re.Match) -> str:
    text = match["text"] or ""
    # Closing hashes end the line, so the substitution (a scan of the whole text) is only needed then.
    if text.rstrip(" \t").endswith("#"):
        text = _CLOSING_HASHES.sub("", text)
    return text.strip()


def _code_mask(lines: list[str]) -> tuple[list[bool], int | None]:
    """Which lines are fence lines or inside a code block, and where an unclosed fence opens.

    CommonMark pairing: inside a block only a matching closing fence counts. Only lines that
    contain a fence marker are looked at one by one; the spans between are filled at once.
    """
    mask = [False] * len(lines)
    opener: _Fence | None = None
    opener_index: int | None = None
    # A one-character test per line is much cheaper than a three-character one; _fence_of is exact.
    for index in [i for i, line in enumerate(lines) if "`" in line or "~" in line]:
        line_fence = _fence_of(lines[index])
        if opener is None:
            if line_fence is not None:
                opener, opener_index = line_fence, index
        elif _closes(line_fence, opener):
            mask[opener_index : index + 1] = [True] * (index + 1 - opener_index)
            opener, opener_index = None, None
    if opener_index is not None:
        mask[opener_index:] = [True] * (len(lines) - opener_index)
    return mask, opener_index


def _chat_form(line: str) -> str:
    return _LEADING_DECORATION.sub("", line.strip()).replace("\u2019", "'")


def _is_preamble_line(line: str) -> bool:
    return _heading_text(line) is None and bool(_PREAMBLE.match(_chat_form(line)))


def _is_sign_off_line(line: str) -> bool:
    return (
        _heading_text(line) is None
        and _fence_of(line) is None
        and bool(_SIGN_OFF.match(_chat_form(line)))
    )


def _front_matter_end(lines: list[str]) -> int:
    """Index of the closing line of YAML front matter at the very top, or -1 if there is none."""
    if len(lines) < 3 or lines[0].rstrip() != "---" or not _YAML_KEY.match(lines[1]):
        return -1
    for index in range(2, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return index
    return -1


# --- Cleaning steps: each takes lines and returns the lines it keeps -------------------------


def _trim_blank_lines(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and _is_blank(lines[start]):
        start += 1
    while end > start and _is_blank(lines[end - 1]):
        end -= 1
    return lines[start:end]


def _strip_byte_order_mark(lines: list[str]) -> list[str]:
    # Also done inside the loop: a BOM after leading blank lines reaches the top only later.
    if lines and lines[0].startswith("\ufeff"):
        return [lines[0].lstrip("\ufeff"), *lines[1:]]
    return lines


def _is_prompt_echo(line: str) -> bool:
    return _heading_text(line) is None and bool(_PROMPT_ECHO.match(_chat_form(line)))


def _strip_prompt_echoes(lines: list[str]) -> list[str]:
    start = 0
    while start < len(lines) and (_is_blank(lines[start]) or _is_prompt_echo(lines[start])):
        start += 1
    return lines[start:]


def _lesson_starts_at(lines: list[str], index: int) -> bool:
    line = lines[index]
    return (
        _heading_text(line) is not None
        or _fence_of(line) is not None
        or _front_matter_end(lines[index:]) >= 0
    )


def _strip_preamble(lines: list[str]) -> list[str]:
    if not lines or not _is_preamble_line(lines[0]):
        return lines
    for index in range(1, len(lines)):
        if _lesson_starts_at(lines, index):
            return lines[index:]
    return lines  # nothing after the chat looks like a lesson start, so keep it all


def _sign_off_start(lines: list[str]) -> int:
    """Index where a trailing chat sign-off (and a separator before it) begins; len if none."""
    code, _ = _code_mask(lines)
    front_matter_end = _front_matter_end(lines)

    def is_plain(index: int) -> bool:
        line = lines[index]
        return (
            index > front_matter_end
            and not code[index]
            and not _is_blank(line)
            and _heading_text(line) is None
            and not _THEMATIC_BREAK.match(line)
        )

    def previous_content(index: int) -> int:
        while index > 0 and _is_blank(lines[index - 1]):
            index -= 1
        return index

    def block_before(end: int) -> tuple[int, int]:
        """The run of plain lines ending just above ``end`` (after skipping blanks)."""
        stop = previous_content(end)
        start = stop
        while start > 0 and is_plain(start - 1):
            start -= 1
        return start, stop

    def is_section_body(start: int) -> bool:
        # Chat-like words straight under a heading are that section's content, not chat.
        above = previous_content(start)
        return above > 0 and _heading_text(lines[above - 1]) is not None and not code[above - 1]

    end = len(lines)
    while True:
        start, stop = block_before(end)
        if start == stop:
            break
        if _is_sign_off_line(lines[start]) and not is_section_body(start):
            end = start
            continue
        # "If you'd like, I can also:" followed by a list of offers.
        if _LIST_ITEM.match(lines[start]):
            lead_start, lead_stop = block_before(start)
            if (
                lead_start < lead_stop
                and _is_sign_off_line(lines[lead_start])
                and lines[lead_stop - 1].rstrip().endswith((":", "?"))
                and not is_section_body(lead_start)
            ):
                end = lead_start
                continue
        break
    if end == len(lines):
        return end
    return _separator_above(lines, code, front_matter_end, end)


def _separator_above(lines: list[str], code: list[bool], front_matter_end: int, end: int) -> int:
    """Where a sign-off starting at ``end`` begins once a thematic break right above it (blank lines
    between) is taken with it; ``end`` when there is none."""
    rule = end
    while rule > 0 and _is_blank(lines[rule - 1]):
        rule -= 1
    rule -= 1
    if (
        rule > front_matter_end
        and not code[rule]
        and _THEMATIC_BREAK.match(lines[rule])
        # A rule right under a text line is a setext heading underline, not a separator.
        and (rule == 0 or _is_blank(lines[rule - 1]) or code[rule - 1])
    ):
        return rule
    return end


def _strip_sign_off(lines: list[str]) -> list[str]:
    return lines[: _sign_off_start(lines)]


def _wrapper_close(lines: list[str], opener: _Fence, lenient: bool) -> int | None:
    """Index of the line closing the fence opened on line 0, tracking fences nested inside it.

    Strictly, a bare fence at the wrapper's own level closes it. Leniently, such a fence
    opens an inner block unless it is the last fence line of the text.
    """
    last_fence = max(index for index, line in enumerate(lines) if _fence_of(line) is not None)
    inner: _Fence | None = None
    for index in range(1, len(lines)):
        line_fence = _fence_of(lines[index])
        if line_fence is None:
            continue
        if inner is not None:
            if _closes(line_fence, inner):
                inner = None
        elif _closes(line_fence, opener) and not (lenient and index < last_fence):
            return index
        else:
            inner = line_fence
    return None


def _unwrap_fence(lines: list[str]) -> list[str]:
    opener = _fence_of(lines[0]) if lines else None
    if opener is None or opener.info.lower() not in _WRAPPER_INFO:
        return lines
    # A reply labelled "markdown" is a wrapped document, so its bare inner fences are more
    # likely code blocks than the wrapper's end; an unlabelled fence gets only the strict reading.
    for lenient in (False, True) if opener.info else (False,):
        close = _wrapper_close(lines, opener, lenient)
        if close is None:
            continue
        tail = lines[close + 1 :]
        if not _trim_blank_lines(tail[: _sign_off_start(tail)]):
            return lines[1:close]
    return lines


_STEPS = (
    _trim_blank_lines,
    _strip_byte_order_mark,
    _strip_prompt_echoes,
    _strip_preamble,
    _unwrap_fence,
    _strip_sign_off,
    _trim_blank_lines,
)


def _normalise_line_endings(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_lesson(text: str) -> str:
    """The lesson alone: chat, wrapping fence and prompt echoes removed, LF endings, one final newline."""
    lines = _clean_lines(text)
    return "\n".join(lines) + "\n" if lines else ""


def _clean_lines(text: str) -> list[str]:
    # Trimmed once up front: the final newline of almost every reply would otherwise make the
    # first pass "change something" and cost a second pass over every lesson.
    lines = _trim_blank_lines(_normalise_line_endings(text).split("\n"))
    while True:
        before = lines
        for step in _STEPS:
            lines = step(lines)
        if lines == before:
            return lines


# --- Checking -------------------------------------------------------------------------------

CONTENT_FILTER = "content_filter"
INCOMPLETE = "incomplete"
EMPTY = "empty"
UNCLOSED_FENCE = "unclosed_fence"
MISSING_SECTIONS = "missing_sections"


@dataclass(frozen=True)
class LessonCheck:
    """Whether a cleaned lesson may be written; ``reason`` is a stable code, ``detail`` a sentence."""

    ok: bool
    reason: str | None
    detail: str


def _failed(reason: str, detail: str) -> LessonCheck:
    return LessonCheck(ok=False, reason=reason, detail=detail)


_LEADING_NUMBER = re.compile(r"^\d+[.)](?:\s+|$)")


@lru_cache(maxsize=4096)
def section_key(heading: str) -> str:
    """The form in which two section headings compare equal (numbering, emphasis, case ignored)."""
    previous = None
    while previous != heading:
        previous = heading
        heading = heading.strip().strip("*_").strip().rstrip(":").strip()
        heading = _LEADING_NUMBER.sub("", heading)
    return " ".join(heading.split()).casefold()


_LEVEL_TWO_STARTS = ("##", " ##", "  ##", "   ##")


def _level_two_headings(lines: list[str], code: list[bool] | None = None) -> list[str]:
    if code is None:
        code, _ = _code_mask(lines)
    headings = []
    # Up to three spaces then "##" is necessary for a level-2 heading: cheap tests (the one-character
    # one first) that spare the regular expression on almost every line.
    for index in [i for i, line in enumerate(lines) if "#" in line and line.startswith(_LEVEL_TWO_STARTS)]:
        if code[index]:
            continue
        match = _HEADING.match(lines[index])  # one match gives both the level and the text
        if match is not None and len(match["hashes"]) == 2:
            text = _text_of_heading(match)
            if text:
                headings.append(text)
    return headings


def check_lesson(text: str, finish_reason: str | None, required_sections: list[str]) -> LessonCheck:
    """Judge a cleaned lesson; the first failing rule wins (see the reason constants above)."""
    if finish_reason == "length":
        return _failed(TRUNCATED, "The model stopped at its output token limit.")
    if finish_reason == "content_filter":
        return _failed(CONTENT_FILTER, "The model's output was stopped by the content filter.")
    if finish_reason != "stop":
        shown = "no finish_reason" if finish_reason is None else f"finish_reason {finish_reason!r}"
        return _failed(INCOMPLETE, f"The model did not finish normally ({shown}).")
    if not text.strip():
        return _failed(EMPTY, "The lesson is empty.")
    return _check_lines(_normalise_line_endings(text).split("\n"), required_sections)


def clean_and_check(text: str, finish_reason: str | None, required_sections: list[str]) -> tuple[str, LessonCheck]:
    """``clean_lesson(text)`` and ``check_lesson`` of it, exactly, splitting the text into lines once."""
    lines = _clean_lines(text)
    cleaned = "\n".join(lines) + "\n" if lines else ""
    if finish_reason != "stop" or not lines:
        return cleaned, check_lesson(cleaned, finish_reason, required_sections)
    # The cleaned text is ``lines`` joined, with a final newline: its own split ends in one "".
    lines.append("")
    return cleaned, _check_lines(lines, required_sections)


def _check_lines(lines: list[str], required_sections: list[str]) -> LessonCheck:
    """The checks after the finish reason and emptiness, on a lesson's lines (LF endings)."""
    code, unclosed = _code_mask(lines)
    if unclosed is not None:
        return _failed(UNCLOSED_FENCE, f"The code fence opened on line {unclosed + 1} is never closed.")

    present = {section_key(heading) for heading in _level_two_headings(lines, code)}
    missing = [name for name in required_sections if (key := section_key(name)) and key not in present]
    if missing:
        return _failed(MISSING_SECTIONS, "Missing sections: " + ", ".join(missing) + ".")
    return LessonCheck(ok=True, reason=None, detail="The lesson is complete.")


def required_sections_of(markdown: str) -> list[str]:
    """The ``## `` heading texts of a Markdown text, outside code fences, in order, without repeats."""
    lines = _normalise_line_endings(markdown).split("\n")
    sections: list[str] = []
    seen: set[str] = set()
    for heading in _level_two_headings(lines):
        key = section_key(heading)
        if key and key not in seen:
            seen.add(key)
            sections.append(heading)
    return sections
