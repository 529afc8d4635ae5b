"""The faster cleaning and checking (issue 12) give exactly what the module gave before.

``tests/lesson_text_reference.py`` is the module as it was; on random texts made of the line shapes
cleaning and checking care about (headings, fences, chat phrases, separators, front matter, blank
lines, odd spacing), ``clean_lesson``, ``check_lesson``, ``clean_and_check`` and
``required_sections_of`` must agree with it exactly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lesson_batch import lesson_text
from tests import lesson_text_reference as reference
from tests.helpers import examples

# 1,500 examples each with FUZZ_EXAMPLES=full; 400 in the everyday run (each example is a few
# milliseconds of Hypothesis drawing text, and these four were a third of the suite's CPU time).
MANY = settings(max_examples=examples(1500, 400), deadline=None, suppress_health_check=[HealthCheck.too_slow])

LINE_SHAPES = [
    "", " ", "\t", "# Title", "## Learning Objectives", "## Summary ##", " ## Summary", "   ##  Key Takeaways  #",
    "    ## not a heading", "### Deeper", "##", "## ", "##No space", "#", "```", "```python", "``` md", "````", "~~~",
    "~~~markdown", "  ```", "```markdown", "`inline` code", "~ tilde", "---", "***", "___", "- item", "1. step",
    "Sure! Here is the lesson:", "Here's your lesson.", "Let me know if you'd like more!", "I hope this helps.",
    "If you'd like, I can also:", "Happy learning!", "Lesson ID: M0-L001", "**Module:** M0", "title: x", "...",
    "Plain text line.", "| a | b |", "\ufeff# BOM title", "Text with ## inside", "a ## b", "## 1. Summary",
    "## **Summary:**", "# Closing # hashes #", "## Summary \\#",
]
ENDINGS = ["\n", "\r\n", "\r"]


@st.composite
def texts(draw) -> str:
    lines = draw(st.lists(st.one_of(st.sampled_from(LINE_SHAPES), st.text(max_size=12)), max_size=30))
    ending = draw(st.sampled_from(ENDINGS))
    return ending.join(lines) + draw(st.sampled_from(["", ending, ending * 2]))


SECTIONS = st.lists(st.sampled_from(["Learning Objectives", "Summary", "Key Takeaways", "Deeper", "1. Summary", ""]),
                    max_size=3)
FINISH = st.sampled_from(["stop", "stop", "stop", "length", "content_filter", None, "tool_calls"])


@MANY
@given(texts())
def test_cleaning_gives_what_it_gave_before(text):
    assert lesson_text.clean_lesson(text) == reference.clean_lesson(text)


@MANY
@given(texts(), FINISH, SECTIONS)
def test_checking_gives_what_it_gave_before(text, finish_reason, sections):
    new = lesson_text.check_lesson(text, finish_reason, sections)
    old = reference.check_lesson(text, finish_reason, sections)
    assert (new.ok, new.reason, new.detail) == (old.ok, old.reason, old.detail)


@MANY
@given(texts(), FINISH, SECTIONS)
def test_clean_and_check_is_cleaning_then_checking_as_before(text, finish_reason, sections):
    cleaned, check = lesson_text.clean_and_check(text, finish_reason, sections)
    old_cleaned = reference.clean_lesson(text)
    old = reference.check_lesson(old_cleaned, finish_reason, sections)
    assert cleaned == old_cleaned
    assert (check.ok, check.reason, check.detail) == (old.ok, old.reason, old.detail)


@MANY
@given(texts())
def test_required_sections_are_found_as_before(text):
    assert lesson_text.required_sections_of(text) == reference.required_sections_of(text)
