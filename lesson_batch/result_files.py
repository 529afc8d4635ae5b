"""Reading Batch API output and error files (JSONL), one line at a time.

This module owns the shape of a Batch API result line. ``read_result_lines`` streams a file
and turns every non-blank line into either a ``ResultLine`` (a success, a failed request, or
a request the batch itself gave up on) or a ``BadLine`` saying in plain words what is wrong.
It never raises on file contents: the files come from outside and can be huge, so a single
malformed line must cost one lesson, not the whole run.

Lines are read in binary with a length cap, so memory stays bounded by the longest line
allowed. Only a ``custom_id`` that is a valid lesson id is ever reported as an id; anything
else is reported as a shortened, escaped string fit for messages only.

A successful line holds a body of one of two APIs, told apart by its shape: a Chat Completions
``chat.completion`` (``choices``) or a Responses API ``response`` (``"object": "response"``,
``output``). A Responses body is read into the same ``ResultLine`` (openai 3.63,
types/responses/response.py and response_output_message.py, and the real lines of
``real_batch_lines/round2/responses_output.jsonl``):

- ``content`` is the ``text`` of every ``output_text`` part of the ``message`` items, joined (what
  the SDK's ``Response.output_text`` returns); other items (``reasoning``, tool calls) are skipped;
- ``refusal`` is the text of the ``refusal`` parts;
- ``status: "completed"`` reads as finish_reason ``stop``; ``"incomplete"`` with
  ``incomplete_details.reason`` ``max_output_tokens`` as ``length`` (the truncation ladder) and
  ``content_filter`` as ``content_filter``; any other status stays as it is (not a finished lesson);
- usage: ``input_tokens``, ``input_tokens_details.cached_tokens``, ``output_tokens``,
  ``output_tokens_details.reasoning_tokens``.

``endpoint`` says which API the body came from, so that a line of the other API (a Responses
object in a Chat Completions batch, or the other way round) is reported as such.

Duplicates are not handled here: the same ``custom_id`` may appear on several lines (or in
both the output and the error file), and the caller decides which one wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Literal

from lesson_batch.batch_info import CHAT_ENDPOINT, RESPONSES_ENDPOINT
from lesson_batch.ids import is_lesson_id

MAX_LINE_BYTES = 50 * 1024 * 1024
SHOWN_ID_CHARS = 80

Kind = Literal["success", "request_error", "batch_error"]


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one request, or a sum of them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0  # prompt tokens written to the prompt cache (part of the uncached input)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: object) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    def __radd__(self, other: object) -> TokenUsage:
        # Lets the built-in sum() start from 0.
        if other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True)
class ResultLine:
    """One well-formed result line.

    ``kind`` is ``"success"`` (HTTP 200 with a chat completion; ``content`` is the first
    choice's text, "" when the model returned null), ``"request_error"`` (any other HTTP
    status; ``error_code`` is the error's ``code``, or its ``type`` when code is null) or
    ``"batch_error"`` (no response; the batch expired, was cancelled, ...). ``refusal`` is the
    model's refusal text (the message's ``refusal``, its content then null); ``service_tier`` is
    the tier the response says served it, None when it says none.
    """

    line_number: int
    custom_id: str
    kind: Kind
    status_code: int | None
    content: str | None
    finish_reason: str | None
    error_code: str | None
    error_message: str | None
    usage: TokenUsage
    refusal: str | None = None
    service_tier: str | None = None
    endpoint: str | None = None  # the API whose object the body is (a success's); None: it does not say


@dataclass(frozen=True)
class BadLine:
    """A line that could not be read as a result line.

    ``custom_id`` is the line's lesson id when it has a valid one (so the caller can mark
    that lesson failed), printable text for messages when it names something else, and
    None when there is none. Use ``lesson_id`` to get only a valid id. ``usage`` is what the
    line says its request was billed for, read as far as it can be (a readable ``usage`` object
    in a line whose other parts are wrong, in the Chat Completions or the Responses shape): the
    tokens were paid for even though the answer cannot be used.
    """

    line_number: int
    reason: str
    custom_id: str | None
    usage: TokenUsage = TokenUsage()

    @property
    def lesson_id(self) -> str | None:
        return self.custom_id if is_lesson_id(self.custom_id) else None


class _Malformed(Exception):
    """Internal: a line's shape is wrong; the message becomes the BadLine reason."""


# --- small readers that name the offending field ----------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is missing or not an object")
    return value


def _optional_object(mapping: dict, key: str, where: str) -> dict:
    value = mapping.get(key)
    if value is None:
        return {}
    return _object(value, f"{where}.{key}")


def _optional_text(mapping: dict, key: str, where: str) -> str | None:
    value = mapping.get(key)
    if value is not None and not isinstance(value, str):
        raise _Malformed(f"{where}.{key} is not a string")
    if value is not None and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # JSON can spell a lone surrogate ("\ud800"), but it is not text: it could be neither
            # saved nor stored.
            raise _Malformed(f"{where}.{key} holds an unpaired surrogate escape, which is not valid text") from None
    return value


def _count(mapping: dict, key: str, where: str) -> int:
    value = mapping.get(key)
    if value is None:
        return 0
    if not _is_int(value) or value < 0:
        raise _Malformed(f"{where}.{key} is not a non-negative integer")
    return value


def safe_text(value: str, limit: int = SHOWN_ID_CHARS) -> str:
    """``value`` shortened to about ``limit`` characters with control characters escaped."""
    pieces: list[str] = []
    length = 0
    for char in value:
        if char == "\\":
            piece = "\\\\"
        elif not char.isprintable():  # control, format, unassigned, odd spaces, surrogates
            piece = repr(char)[1:-1]  # repr escapes exactly the characters that do not print
        else:
            piece = char
        if length + len(piece) > limit:
            pieces.append("…")
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


# --- one line -------------------------------------------------------------------------------


# The names of a usage object's counts in each API: input, output, the input's details (cached
# tokens, cache writes) and the output's details (reasoning tokens).
_CHAT_USAGE = ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
_RESPONSES_USAGE = ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")


def _usage(body: dict, names: tuple[str, str, str, str] = _CHAT_USAGE) -> TokenUsage:
    input_name, output_name, input_details_name, output_details_name = names
    usage = _optional_object(body, "usage", "response.body")
    where = "response.body.usage"
    _count(usage, "total_tokens", where)  # checked for type only; the sum is recomputed
    input_details = _optional_object(usage, input_details_name, where)
    output_details = _optional_object(usage, output_details_name, where)
    return TokenUsage(
        prompt_tokens=_count(usage, input_name, where),
        completion_tokens=_count(usage, output_name, where),
        cached_tokens=_count(input_details, "cached_tokens", f"{where}.{input_details_name}"),
        reasoning_tokens=_count(output_details, "reasoning_tokens", f"{where}.{output_details_name}"),
        cache_write_tokens=_count(input_details, "cache_write_tokens", f"{where}.{input_details_name}"),
    )


def _success(line_number: int, custom_id: str, body: dict) -> ResultLine:
    if body.get("object") == "response" or ("output" in body and "choices" not in body):
        return _response_success(line_number, custom_id, body)
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise _Malformed("response.body.choices is missing or not a list")
    if not choices:
        raise _Malformed("response.body.choices is empty")
    # Requests ask for one completion (n=1), so only the first choice matters.
    choice = _object(choices[0], "response.body.choices[0]")
    message = _object(choice.get("message"), "response.body.choices[0].message")
    content = _optional_text(message, "content", "response.body.choices[0].message")
    refusal = _optional_text(message, "refusal", "response.body.choices[0].message")
    finish_reason = _optional_text(choice, "finish_reason", "response.body.choices[0]")
    return ResultLine(
        line_number=line_number,
        custom_id=custom_id,
        kind="success",
        status_code=200,
        content=content or "",
        finish_reason=finish_reason,
        error_code=None,
        error_message=None,
        usage=_usage(body),
        refusal=refusal or None,
        service_tier=_optional_text(body, "service_tier", "response.body"),
        endpoint=CHAT_ENDPOINT,
    )


# Responses ``status`` (with ``incomplete_details.reason``) read as a chat finish_reason.
_RESPONSES_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _response_success(line_number: int, custom_id: str, body: dict) -> ResultLine:
    """A Responses API ``response`` object (see the module docstring)."""
    output = body.get("output")
    if not isinstance(output, list):
        raise _Malformed("response.body.output is missing or not a list")
    texts: list[str] = []
    refusals: list[str] = []
    for index, item in enumerate(output):
        where = f"response.body.output[{index}]"
        item = _object(item, where)
        if item.get("type") != "message":
            continue  # reasoning, tool calls: no text of the lesson
        content = item.get("content")
        if not isinstance(content, list):
            raise _Malformed(f"{where}.content is missing or not a list")
        for number, part in enumerate(content):
            part = _object(part, f"{where}.content[{number}]")
            kind = part.get("type")
            if kind == "output_text":
                texts.append(_optional_text(part, "text", f"{where}.content[{number}]") or "")
            elif kind == "refusal":
                refusals.append(_optional_text(part, "refusal", f"{where}.content[{number}]") or "")
    status = _optional_text(body, "status", "response.body")
    finish_reason = "stop" if status == "completed" else status
    if status == "incomplete":
        details = _optional_object(body, "incomplete_details", "response.body")
        reason = _optional_text(details, "reason", "response.body.incomplete_details")
        finish_reason = _RESPONSES_FINISH.get(reason or "", f"incomplete: {reason or 'no reason given'}")
    return ResultLine(
        line_number=line_number,
        custom_id=custom_id,
        kind="success",
        status_code=200,
        content="".join(texts),
        finish_reason=finish_reason,
        error_code=None,
        error_message=None,
        usage=_usage(body, _RESPONSES_USAGE),
        refusal="".join(refusals) or None,
        service_tier=_optional_text(body, "service_tier", "response.body"),
        endpoint=RESPONSES_ENDPOINT,
    )


def _request_error(line_number: int, custom_id: str, status_code: int, body: dict) -> ResultLine:
    error = _optional_object(body, "error", "response.body")
    code = _optional_text(error, "code", "response.body.error")
    kind_of_error = _optional_text(error, "type", "response.body.error")
    return ResultLine(
        line_number=line_number,
        custom_id=custom_id,
        kind="request_error",
        status_code=status_code,
        content=None,
        finish_reason=None,
        error_code=code if code is not None else kind_of_error,
        error_message=_optional_text(error, "message", "response.body.error"),
        usage=TokenUsage(),
    )


def _batch_error(line_number: int, custom_id: str, error: dict) -> ResultLine:
    return ResultLine(
        line_number=line_number,
        custom_id=custom_id,
        kind="batch_error",
        status_code=None,
        content=None,
        finish_reason=None,
        error_code=_optional_text(error, "code", "error"),
        error_message=_optional_text(error, "message", "error"),
        usage=TokenUsage(),
    )


def _billed_usage(record: object) -> TokenUsage:
    """The usage a line reports, read leniently (any count that is not a non-negative integer is
    0): for a line that cannot be used otherwise, whose tokens were still billed. Knows the Chat
    Completions names (``prompt_tokens``, ...) and the Responses names (``input_tokens``, ...)."""
    response = record.get("response") if isinstance(record, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return TokenUsage()

    def count(mapping: object, *keys: str) -> int:
        for key in keys:
            value = mapping.get(key) if isinstance(mapping, dict) else None
            if _is_int(value) and value > 0:
                return value
        return 0

    return TokenUsage(
        prompt_tokens=count(usage, "prompt_tokens", "input_tokens"),
        completion_tokens=count(usage, "completion_tokens", "output_tokens"),
        cached_tokens=max(count(usage.get("prompt_tokens_details"), "cached_tokens"),
                          count(usage.get("input_tokens_details"), "cached_tokens")),
        reasoning_tokens=max(count(usage.get("completion_tokens_details"), "reasoning_tokens"),
                             count(usage.get("output_tokens_details"), "reasoning_tokens")),
        cache_write_tokens=max(count(usage.get("prompt_tokens_details"), "cache_write_tokens"),
                               count(usage.get("input_tokens_details"), "cache_write_tokens")),
    )


def _result_of(line_number: int, custom_id: str, record: dict) -> ResultLine:
    response = record.get("response")
    if response is not None:
        response = _object(response, "response")
        status_code = response.get("status_code")
        if not _is_int(status_code):
            raise _Malformed("response.status_code is missing or not an integer")
        body = _object(response.get("body"), "response.body")
        if status_code == 200:
            return _success(line_number, custom_id, body)
        return _request_error(line_number, custom_id, status_code, body)
    error = record.get("error")
    if error is None:
        raise _Malformed("the line has neither a response nor an error")
    return _batch_error(line_number, custom_id, _object(error, "error"))


def parse_result_line(line_number: int, raw: bytes) -> ResultLine | BadLine:
    """Read one line's bytes (without its meaning depending on any other line)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine(line_number, "the line is not valid UTF-8", None)
    try:
        record = json.loads(text)
    # Deeply nested arrays hit the recursion limit; huge integers raise ValueError.
    except (ValueError, RecursionError):
        return BadLine(line_number, "the line is not valid JSON", None)
    if not isinstance(record, dict):
        return BadLine(line_number, "the line is a JSON value but not an object", None)
    if "custom_id" not in record:
        return BadLine(line_number, "the line has no custom_id", None)
    custom_id = record["custom_id"]
    if not isinstance(custom_id, str):
        return BadLine(line_number, "the custom_id is not a string", None)
    if not is_lesson_id(custom_id):
        shown = safe_text(custom_id)
        return BadLine(
            line_number, f"the custom_id '{shown}' is not a lesson id (like M0-L001)", shown
        )
    try:
        return _result_of(line_number, custom_id, record)
    except _Malformed as problem:
        return BadLine(line_number, str(problem), custom_id, _billed_usage(record))


def result_of_response(custom_id: str, status_code: int, body: dict) -> ResultLine | BadLine:
    """A response that came straight from the API (a flex request) read as the batch result line
    that would hold it, with the same checks (``line_number`` 0: it has no file)."""
    record = {"response": {"status_code": status_code, "body": body}}
    try:
        return _result_of(0, custom_id, record)
    except _Malformed as problem:
        return BadLine(0, str(problem), custom_id, _billed_usage(record))


# --- a whole file ---------------------------------------------------------------------------

_CUSTOM_ID_NEAR_START = re.compile(rb'"custom_id"\s*:\s*"([^"\\]{1,32})"')
_SKIP_CHUNK = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def _lesson_id_near_start(head: bytes) -> str | None:
    # An over-long line is never parsed, but its custom_id usually sits near the start.
    match = _CUSTOM_ID_NEAR_START.search(head[:4096])
    if match is None:
        return None
    candidate = match.group(1).decode("ascii", errors="replace")
    return candidate if is_lesson_id(candidate) else None


def _skip_rest_of_line(handle: BinaryIO) -> int:
    """Read up to and including the next newline, a chunk at a time; return how many bytes."""
    skipped = 0
    while True:
        chunk = handle.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def read_result_lines(
    path: str | Path, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[ResultLine | BadLine]:
    """Stream a Batch API output or error file: one ResultLine or BadLine per non-blank line.

    Line numbers are 1-based and count blank lines. A line longer than ``max_line_bytes``
    is skipped without being held in memory beyond that many bytes.
    """
    for _, item in numbered_result_lines(path, max_line_bytes):
        if item is not None:
            yield item


def numbered_result_lines(
    path: str | Path, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, ResultLine | BadLine | None]]:
    """Every line of the file: its number, counted from 1, and what it holds (None for a blank line)."""
    with open(path, "rb") as handle:
        line_number = 0
        while True:
            raw = handle.readline(max_line_bytes + 1)
            if not raw:
                return
            line_number += 1
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                lesson_id = _lesson_id_near_start(raw)
                del raw
                _skip_rest_of_line(handle)
                yield line_number, BadLine(
                    line_number, f"the line is longer than {max_line_bytes} bytes", lesson_id
                )
                continue
            if line_number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if not raw.strip():
                yield line_number, None
                continue
            yield line_number, parse_result_line(line_number, raw)
