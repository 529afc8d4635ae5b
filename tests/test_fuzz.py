"""Property-based tests on the two readers of outside input: the curriculum and the results files.

The curriculum parser may only ever answer with a ``Curriculum`` or a ``CurriculumError`` whose
message names the file and the line at fault (whatever the text: odd Unicode, stray header-like
lines, any line ending, huge lines), and must do so in time linear in the input.

Results processing (``lesson_batch.saving.process_files`` with a real ledger, and the
``process_batch_results.py --results-file`` script) may report lines as bad, but never raise,
never write outside the lessons folder and the work dir, and never lose a good lesson: a valid
line for a submitted lesson, mixed among garbage, is still saved.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lesson_batch.batch_info import BatchInfo
from lesson_batch.curriculum import Curriculum, CurriculumError, load_curriculum, parse_curriculum
from lesson_batch.ids import is_lesson_id
from lesson_batch.ledger import Ledger
from lesson_batch.saving import Processing, process_files
from tests.helpers import PROCESS_SCRIPT, run_script, success_record

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CURRICULUM_PATH = "courses/Content Structure.md"


# =========================================================================== the curriculum


def parser_lines(text: str) -> list[str]:
    """The lines as the parser numbers them: a line ends at \\r\\n, \\n or \\r."""
    return re.split(r"\r\n|\r|\n", text)


def check_parse_outcome(text: str, path: str = CURRICULUM_PATH) -> Curriculum | CurriculumError:
    """Parse and check that the outcome is one of the two allowed ones, well formed."""
    try:
        curriculum = parse_curriculum(text, path)
    except CurriculumError as error:
        check_error_location(error, path, parser_lines(text.lstrip("\ufeff")))
        return error
    assert isinstance(curriculum, Curriculum)
    assert curriculum.lessons, "a curriculum without lessons must be an error"
    lesson_ids = [lesson.id for lesson in curriculum.lessons]
    assert len(set(lesson_ids)) == len(lesson_ids), "duplicate lesson ids came through"
    lines = parser_lines(text.lstrip("\ufeff"))
    for lesson in curriculum.lessons:
        assert is_lesson_id(lesson.id), lesson.id
        assert lesson.title and lesson.title == lesson.title.strip()
        assert lines[lesson.line - 1].startswith("##"), f"lesson {lesson.id} points at line {lesson.line}"
    return curriculum


def check_error_location(error: CurriculumError, path: str, lines: list[str]) -> None:
    message = str(error)
    if error.line is None:
        # Only a whole-file problem has no line: there is no lesson anywhere in it.
        assert message.startswith(f"{Path(path)}: "), message
        assert "no lessons found" in message, message
        return
    assert message.startswith(f"{Path(path)}:{error.line}: "), message
    assert 1 <= error.line <= len(lines), f"line {error.line} of {len(lines)}"
    assert lines[error.line - 1].startswith("#"), f"line {error.line} is not a header: {lines[error.line - 1][:80]!r}"


# Text that looks like curriculum headers, almost: the parser's favourite food.
_digits = st.one_of(
    st.integers(0, 1200).map(str),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
    st.text(alphabet="0123456789", min_size=1, max_size=30),
    st.text(alphabet="٠١٢٣٤٥٦٧٨٩０１２３４５６７８９𝟎𝟏", min_size=1, max_size=4),  # other Unicode digits
    st.just("1" * 5000),
    st.just(""),
)
_separator = st.sampled_from([": ", " — ", " – ", " - ", " ", ":", "—", "", "  :  ", "\t", "\u00a0", "\u2003"])
_title = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["Orientation — Lesson Map", "Lesson Map", "Title [F]", "[A]", "Intro [", "x ]", "  ", "é"]),
)
_tag = st.sampled_from(["", " [F]", " [i]", " [Advanced]", " []", " [X]", " [[F]]", " [F", "[F] [I]"])
_header_line = st.builds(
    lambda hashes, space, letter, digits, sep, title, tag: f"{hashes}{space}{letter}{digits}{sep}{title}{tag}",
    st.sampled_from(["#", "##", "###", " #", "#\u00a0", ""]),
    st.sampled_from([" ", "", "  ", "\t"]),
    st.sampled_from(["M", "L", "m", "l", "", "Μ"]),  # the last is a Greek capital mu
    _digits,
    _separator,
    _title,
    _tag,
)
_other_line = st.one_of(
    st.sampled_from(["", "```", "~~~", "````markdown", "```python", "  ```", "Prerequisites: M0-L001, M9-L999",
                     "Related: M0-L002", "Key topics: a; b", "# Curriculum Name", "#", "##", "\ufeff# M0: x"]),
    st.text(max_size=60),
)
_line_ending = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def curriculum_like_text(draw) -> str:
    lines = draw(st.lists(st.one_of(_header_line, _header_line, _other_line), max_size=40))
    ending = draw(_line_ending)
    text = ending.join(lines)
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


@FUZZ
@given(st.text())
@example("")
@example("\ufeff")
@example("# M0: Title\n## L000: zero")
@example("## L001: before any module")
@example("# M0: A\n# M0: B\n## L001: x")
def test_parse_curriculum_on_any_text_gives_a_curriculum_or_a_located_error(text):
    check_parse_outcome(text)


@FUZZ
@given(curriculum_like_text())
@example("# M0: A\r## L001: one\r## L001: again")
@example("# M" + "9" * 5000 + ": huge\n## L001: x")
@example("# M1: x\n## L" + "1" * 5000 + ": huge")
@example("# M1: x\n```\n## L001: in a fence\n```\n## L002: out [F]")
def test_parse_curriculum_on_header_like_lines_gives_a_curriculum_or_a_located_error(text):
    check_parse_outcome(text)


@FEW
@given(st.binary(max_size=400))
@example(b"\xef\xbb\xbf# M0: x\n## L001: y\xff")
@example(b"# M0: x\r## L001: y\r## L002: \xc3")
def test_load_curriculum_on_any_bytes_gives_a_curriculum_or_a_located_error(raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Content Structure.md"
        path.write_bytes(raw)
        try:
            load_curriculum(path)
        except CurriculumError as error:
            text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
            check_error_location_loosely(error, str(path), parser_lines(text))


def check_error_location_loosely(error: CurriculumError, path: str, lines: list[str]) -> None:
    # For bytes that are not UTF-8 the named line holds the bad byte, not necessarily a header.
    message = str(error)
    if error.line is None:
        assert message.startswith(f"{path}: ") and "no lessons found" in message, message
        return
    assert message.startswith(f"{path}:{error.line}: "), message
    assert 1 <= error.line <= len(lines), f"line {error.line} of {len(lines)}"


@FEW
@given(
    st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20),
             min_size=1, max_size=12),
    _line_ending,
    st.data(),
)
def test_invalid_utf8_is_reported_on_the_line_that_holds_the_bad_byte(lines, ending, data):
    bad_line = data.draw(st.integers(0, len(lines) - 1))
    encoded = [line.encode("utf-8") for line in lines]
    encoded[bad_line] += b"\xff"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.md"
        path.write_bytes(ending.encode().join(encoded))
        with pytest.raises(CurriculumError) as caught:
            load_curriculum(path)
    assert caught.value.line == bad_line + 1
    assert str(caught.value).startswith(f"{path}:{bad_line + 1}: ")


@contextmanager
def time_limit(seconds: float):
    """Fail (instead of hanging) when the block runs longer than ``seconds`` (POSIX only). The
    suite's own per-test timer (pytest-timeout, also SIGALRM) is set going again afterwards."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    outer, _interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


MEGABYTE = 1_000_000
HUGE_LINES = {
    "spaces-inside-a-lesson-title": "# M1: x\n## L001: a" + " " * MEGABYTE + "b [F]\n",
    "spaces-inside-the-curriculum-name": "# Name a" + " " * MEGABYTE + "b\n# M1: x\n## L001: y\n",
    "spaces-inside-a-module-title": "# M1: a" + " " * MEGABYTE + "b\n## L001: y\n",
    "separator-then-spaces-in-a-module-title": "# M1: a -" + " " * MEGABYTE + "b\n## L001: y\n",
    "brackets-in-a-lesson-title": "# M1: x\n## L001: " + "[" * MEGABYTE + "\n",
    "digits-after-a-module-marker": "# M1" + "1" * MEGABYTE + "x\n# M2: y\n## L001: y\n",
    "a-long-prerequisites-line": "# M1: x\n## L001: y\nPrerequisites: M" + "1" * MEGABYTE + "\n",
    "a-long-notes-line": "# M1: x\n## L001: y\n" + "é" * MEGABYTE + "\n",
    "a-long-header-like-line": "#" * MEGABYTE + "\n# M1: x\n## L001: y\n",
}


@pytest.mark.parametrize("text", list(HUGE_LINES.values()), ids=list(HUGE_LINES))
def test_parse_curriculum_reads_a_megabyte_line_in_linear_time(text):
    with time_limit(5.0):
        check_parse_outcome(text)


# =========================================================================== results files

SUBMITTED = {  # lesson id -> title: the lessons the ledger has in a batch awaiting results
    "M0-L001": "Defining Data Governance",
    "M0-L002": "Why Organisations Govern Data",
    "M3-L010": "Quality Scorecards",
}
NOT_SUBMITTED = ["M0-L003", "M9-L999"]
SECTIONS = ["Learning Objectives", "Why It Matters", "Key Takeaways"]
BATCH_ID = "batch_fuzz"


def lesson_text(lesson_id: str) -> str:
    body = "\n\n".join(f"## {section}\n\nText of {section.lower()} for {lesson_id}." for section in SECTIONS)
    return f"# {SUBMITTED.get(lesson_id, lesson_id)}\n\n{body}\n"


def lesson_record(custom_id, content=None) -> dict:
    content = lesson_text(custom_id) if content is None and isinstance(custom_id, str) else content
    return success_record(custom_id, content)


def good_line(lesson_id: str) -> bytes:
    return json.dumps(lesson_record(lesson_id)).encode("utf-8")


# Fields the reader checks the type of, with a path into a success record. A wrong-typed value at
# any of them makes the line bad, whoever's id it carries.
CHECKED_FIELDS = [
    ("custom_id",),
    ("response",),
    ("response", "status_code"),
    ("response", "body"),
    ("response", "body", "choices"),
    ("response", "body", "choices", 0),
    ("response", "body", "choices", 0, "message"),
    ("response", "body", "choices", 0, "message", "content"),
    ("response", "body", "choices", 0, "finish_reason"),
    ("response", "body", "usage"),
    ("response", "body", "usage", "prompt_tokens"),
    ("response", "body", "usage", "completion_tokens"),
    ("response", "body", "usage", "total_tokens"),
    ("response", "body", "usage", "prompt_tokens_details"),
    ("response", "body", "usage", "completion_tokens_details", "reasoning_tokens"),
]
EXPECTED_KIND = {  # what each checked field must be; a value of any other kind is wrong
    ("custom_id",): str,
    ("response",): dict,
    ("response", "status_code"): int,
    ("response", "body"): dict,
    ("response", "body", "choices"): list,
    ("response", "body", "choices", 0): dict,
    ("response", "body", "choices", 0, "message"): dict,
    ("response", "body", "choices", 0, "message", "content"): str,
    ("response", "body", "choices", 0, "finish_reason"): str,
    ("response", "body", "usage"): dict,
    ("response", "body", "usage", "prompt_tokens"): int,
    ("response", "body", "usage", "completion_tokens"): int,
    ("response", "body", "usage", "total_tokens"): int,
    ("response", "body", "usage", "prompt_tokens_details"): dict,
    ("response", "body", "usage", "completion_tokens_details", "reasoning_tokens"): int,
}
_any_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


def kind_of(value) -> type:
    if isinstance(value, bool):
        return bool
    return dict if isinstance(value, dict) else list if isinstance(value, list) else type(value)


def wrong_value_for(field: tuple) -> st.SearchStrategy:
    wanted = EXPECTED_KIND[field]
    # null is a legal "absent" for some fields (content, finish_reason, usage): never use it here.
    return _any_json.filter(lambda value: value is not None and kind_of(value) is not wanted)


def set_field(record: dict, path: tuple, value) -> dict:
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return record


@st.composite
def wrong_typed_line(draw, custom_id: str) -> bytes:
    field = draw(st.sampled_from(CHECKED_FIELDS))
    value = draw(wrong_value_for(field))
    return json.dumps(set_field(lesson_record(custom_id), field, value)).encode("utf-8")


@st.composite
def truncated_line(draw, custom_id: str) -> bytes:
    line = good_line(custom_id)
    return line[: draw(st.integers(1, len(line) - 1))]


HOSTILE_IDS = [
    "../M0-L001", "../../etc/passwd", "/tmp/M0-L001", "C:\\Windows\\M0-L001", "\\\\server\\share\\M0-L001",
    "M0-L001/../../escape", "M0-L001\x00", "\x00", "M0-L001\n", "M0-L001 ", " M0-L001", "m0-l001",
    "CON", "NUL.md", "nul", "COM1", "LPT1.md", "PRN", "AUX.txt", "CON.M0-L001", "M0-L001.md", "M0-L001:stream",
    "M0-L1", "M00-L001", "M0-L0001", "M0-L000", "M1000-L001", "M-1-L001", "\u202eM0-L001", "M０-L００１", "M٠-L٠٠١",
    "", ".", "..", "~", "$HOME", "%APPDATA%", "a" * 100_000, "M0-L001" * 1000, "\ud800", "M0-L001\ud800",
]


@st.composite
def hostile_line(draw) -> bytes:
    not_an_id = st.text(max_size=30).filter(lambda text: not is_lesson_id(text))
    custom_id = draw(st.one_of(st.sampled_from(HOSTILE_IDS), not_an_id))
    if draw(st.booleans()):
        return json.dumps(lesson_record(custom_id, content=lesson_text("M0-L001"))).encode("utf-8")
    return draw(wrong_typed_line(custom_id))


@st.composite
def unpaired_surrogate_line(draw, custom_id: str) -> bytes:
    """A line that JSON allows but that holds no text: an escaped lone surrogate in a text field."""
    surrogate = draw(st.sampled_from(["\ud800", "\udfff", "\udc80"]))
    where = draw(st.sampled_from(["content", "finish_reason", "error_message", "error_code"]))
    if where in ("content", "finish_reason"):
        record = lesson_record(custom_id)
        choice = record["response"]["body"]["choices"][0]
        if where == "content":
            choice["message"]["content"] = lesson_text(custom_id).replace("Text of", f"Text {surrogate} of", 1)
        else:
            choice["finish_reason"] = "stop" + surrogate
    else:
        error = {"message": "Invalid request", "type": "invalid_request_error", "code": "invalid_value"}
        error["message" if where == "error_message" else "code"] += surrogate
        record = {"custom_id": custom_id, "response": {"status_code": 400, "body": {"error": error}}, "error": None}
    return json.dumps(record).encode("utf-8")  # ensure_ascii: the surrogate is spelled \udxxx


def garbage_line(bad_id: str) -> st.SearchStrategy:
    """A non-blank line that can never count as an answer for ``bad_id``'s lesson."""
    return st.one_of(
        hostile_line(),
        wrong_typed_line(bad_id),
        truncated_line(bad_id),
        unpaired_surrogate_line(bad_id),
        st.binary(min_size=1, max_size=60),
        st.sampled_from([b"{", b"[]", b"null", b"42", b'"M0-L001"', b"{}", b'{"custom_id": "M0-L001"}',
                         b'{"custom_id": "M0-L001", "response": null, "error": null}',
                         b"\xff\xfe", b"\x00" * 10, b'{"custom_id": "M0-L001", "response": {"status_code": 200, '
                         b'"body": {"choices": []}}}', b"[" * 100_000, b'{"a":' * 50_000]),
        st.sampled_from(NOT_SUBMITTED).map(good_line),  # a lesson this batch was not asked for
    ).map(lambda line: line.replace(b"\n", b" ")).filter(lambda line: line.removeprefix(b"\xef\xbb\xbf").strip())


@st.composite
def results_file(draw) -> tuple[list[bytes], set[str], set[int]]:
    """Lines of a results file, the lessons with a good line, and the line numbers of garbage."""
    good = draw(st.sets(st.sampled_from(sorted(SUBMITTED)), min_size=1))
    items: list[tuple[str, bytes]] = [("good", good_line(lesson_id)) for lesson_id in sorted(good)]
    for _ in range(draw(st.integers(0, 12))):
        # Garbage may carry a good lesson's id, but is never a well-formed line for it.
        bad_id = draw(st.sampled_from(sorted(SUBMITTED) + NOT_SUBMITTED))
        items.append(("garbage", draw(garbage_line(bad_id))))
    for lesson_id in draw(st.lists(st.sampled_from(sorted(good)), max_size=2)):
        items.append(("good", good_line(lesson_id)))  # the same answer twice: the later one is reported
    items = draw(st.permutations(items))
    # Lessons that have a good line must not also have a well-formed line elsewhere (it would win as
    # the first answer): the garbage above never is one, except a good line of an unsubmitted lesson.
    lines = [line for _kind, line in items]
    garbage_numbers, first_seen = set(), set()
    for number, (kind, line) in enumerate(items, start=1):
        if kind == "garbage" or line in first_seen:
            garbage_numbers.add(number)
        first_seen.add(line)
    return lines, good, garbage_numbers


def make_ledger(work_dir: Path) -> Ledger:
    """A ledger whose one batch is waiting for the results of the SUBMITTED lessons, as after a real submit."""
    ledger = Ledger.open(work_dir)
    input_path = work_dir / "datagov_lessons_input.jsonl"
    input_path.write_text("", encoding="utf-8")
    ledger.record_shard(
        shard_key="run1-s001", run_id="run1", model="gpt-6.1-terra", input_path=str(input_path), sha256="0" * 64,
        lessons=[(lesson_id, 16_000, None) for lesson_id in SUBMITTED], prompt_tokens=1000, output_tokens=3000,
        required_sections=SECTIONS,
    )
    ledger.shard_uploaded("run1-s001", "file-input")
    ledger.shard_submitted(
        "run1-s001",
        BatchInfo(id=BATCH_ID, status="completed", input_file_id="file-input", output_file_id="file-output",
                  request_total=len(SUBMITTED), request_completed=len(SUBMITTED)),
    )
    return ledger


def files_under(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()}


def write_results(path: Path, lines: list[bytes], ending: bytes = b"\n") -> None:
    path.write_bytes(b"".join(line + ending for line in lines))


@FUZZ
@given(results_file(), st.sampled_from([b"\n", b"\r\n"]))
def test_process_files_saves_every_good_lesson_among_garbage_and_reports_the_garbage(generated, ending):
    lines, good, garbage_numbers = generated
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lessons_dir, work_dir, elsewhere = root / "lessons", root / "work", root / "elsewhere"
        elsewhere.mkdir()
        ledger = make_ledger(work_dir)
        results = root / "results.jsonl"
        write_results(results, lines, ending)
        before = files_under(root)

        try:
            report = process_files(Processing.of(ledger, lessons_dir, work_dir), [results])
            states = {lesson_id: record.state for lesson_id, record in ledger.lessons().items()}
            after_first_run = {path: path.read_bytes() for path in lessons_dir.iterdir()}
            again = process_files(Processing.of(ledger, lessons_dir, work_dir), [results])  # a re-run changes nothing
            assert {path: path.read_bytes() for path in lessons_dir.iterdir()} == after_first_run
            assert {lesson_id: record.state for lesson_id, record in ledger.lessons().items()} == states
            assert not again.saved and sorted(again.already_done) == sorted(good)
        finally:
            ledger.close()

        for lesson_id in good:
            path = lessons_dir / f"{lesson_id}.md"
            assert path.read_text(encoding="utf-8") == lesson_text(lesson_id), f"good lesson {lesson_id} lost"
            assert states[lesson_id] == "succeeded"
        for lesson_id in set(SUBMITTED) - good:
            assert not (lessons_dir / f"{lesson_id}.md").exists()
            assert states[lesson_id] == "submitted", "a lesson without an answer changed state"

        where = re.compile(rf"{re.escape(str(results))}:(\d+): ")
        reported = {int(m.group(1)) for entry in report.bad_lines if (m := where.match(entry))}
        assert len(reported) == len(report.bad_lines), f"bad lines not named by file and line: {report.bad_lines}"
        assert garbage_numbers <= reported, f"garbage lines not reported: {sorted(garbage_numbers - reported)}"
        assert not reported & (set(range(1, len(lines) + 1)) - garbage_numbers), "a good line was called bad"

        written = files_under(root) - before
        allowed = {Path("lessons") / f"{lesson_id}.md" for lesson_id in SUBMITTED}
        strays = {path for path in written if path not in allowed and path.parts[0] != "work"}
        assert not strays, f"files written outside the lessons folder and the work dir: {strays}"
        for path in written:
            assert not path.name.startswith(".") and not path.name.endswith(".partial"), f"temporary file left: {path}"
            if path.parts[0] == "work":
                assert path.parts[1] in ("rejected", "not_overwritten") or path.name.startswith("ledger.sqlite3"), path
        assert not any(elsewhere.iterdir())


@FEW
@given(st.lists(st.sampled_from(HOSTILE_IDS), min_size=1, max_size=8))
def test_hostile_custom_ids_never_name_a_file(hostile_ids):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lessons_dir, work_dir = root / "lessons", root / "work"
        ledger = make_ledger(work_dir)
        results = root / "results.jsonl"
        lines = [json.dumps(lesson_record(custom_id, content=lesson_text("M0-L001"))).encode("utf-8")
                 for custom_id in hostile_ids]
        write_results(results, lines)
        try:
            report = process_files(Processing.of(ledger, lessons_dir, work_dir), [results])
        finally:
            ledger.close()
        assert not report.saved and not report.failed
        assert len(report.bad_lines) == len(lines)
        assert not any(lessons_dir.iterdir()), "a hostile id produced a lesson file"
        assert not (work_dir / "rejected").exists() and not (work_dir / "not_overwritten").exists()
        for entry in report.bad_lines:
            assert "\x00" not in entry and "\n" not in entry and len(entry) < 2000, entry[:200]


def test_results_script_survives_a_hostile_file_and_saves_the_good_lesson(tmp_path):
    work_dir, lessons_dir = tmp_path / "work", tmp_path / "lessons"
    make_ledger(work_dir).close()
    shown_first = ["M０-L００１ 漢字 ✓", "Ｃ:\\ｃｏｎ"]  # printable, so shown as is, and not ASCII
    garbage = [json.dumps(lesson_record(custom_id, content=lesson_text("M0-L001"))).encode("utf-8")
               for custom_id in shown_first + HOSTILE_IDS]
    garbage += [b"{", b"\xff\xfe", b"[" * 100_000, good_line("M0-L001")[:50], good_line("M9-L999")]
    garbage += [json.dumps(set_field(lesson_record("M0-L002"), field, [])).encode("utf-8") for field in CHECKED_FIELDS]
    results = tmp_path / "results.jsonl"
    write_results(results, garbage[: len(garbage) // 2] + [good_line("M0-L001")] + garbage[len(garbage) // 2 :])

    # A console that cannot show every character must not turn a hostile id into a traceback.
    for encoding in ("utf-8", "ascii"):
        result = run_script(
            PROCESS_SCRIPT, "--results-file", results, "--output-dir", lessons_dir, "--work-dir", work_dir,
            env={"PYTHONIOENCODING": encoding}, cwd=tmp_path, timeout=60,
        )
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        assert result.returncode in (0, 1), result.stderr[-3000:]
        assert (lessons_dir / "M0-L001.md").read_text(encoding="utf-8") == lesson_text("M0-L001")
    assert sorted(path.name for path in lessons_dir.iterdir()) == ["M0-L001.md"]
    outside = files_under(tmp_path) - {Path("results.jsonl"), Path("lessons") / "M0-L001.md"}
    assert all(path.parts[0] == "work" for path in outside), outside


@FEW
@given(st.sampled_from(sorted(SUBMITTED)), st.data())
def test_an_unpaired_surrogate_costs_its_line_only(lesson_id, data):
    other = data.draw(st.sampled_from(sorted(set(SUBMITTED) - {lesson_id})))
    lines = [data.draw(unpaired_surrogate_line(lesson_id)), data.draw(unpaired_surrogate_line(other)), good_line(other)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ledger = make_ledger(root / "work")
        results = root / "results.jsonl"
        write_results(results, lines)
        try:
            report = process_files(Processing.of(ledger, root / "lessons", root / "work"), [results])
            states = {lesson: record.state for lesson, record in ledger.lessons().items()}
        finally:
            ledger.close()
    assert [entry.split(": ")[0] for entry in report.bad_lines] == [f"{results}:1", f"{results}:2"]
    assert report.saved == [other] and states[other] == "succeeded"
    assert states[lesson_id] == "submitted"


def test_results_script_reports_bad_lines_by_file_and_line_in_json(tmp_path):
    work_dir, lessons_dir = tmp_path / "work", tmp_path / "lessons"
    make_ledger(work_dir).close()
    results = tmp_path / "results.jsonl"
    write_results(results, [b"not json", good_line("M0-L002"), json.dumps(lesson_record("../M0-L001")).encode()])
    result = run_script(
        PROCESS_SCRIPT, "--results-file", results, "--output-dir", lessons_dir, "--work-dir", work_dir, "--json",
        cwd=tmp_path, timeout=60,
    )
    summary = json.loads(result.stdout)["result"]
    bad = summary["total"]["bad_lines"]
    assert [entry.split(": ")[0] for entry in bad] == [f"{results}:1", f"{results}:3"]
    assert summary["total"]["saved"] == 1
    assert (lessons_dir / "M0-L002.md").is_file()
    assert os.listdir(lessons_dir) == ["M0-L002.md"]
