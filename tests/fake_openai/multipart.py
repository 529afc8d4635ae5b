"""A small multipart/form-data parser for the fake server's file uploads.

The standard library lost its form parser (``cgi``) in Python 3.13, so this module parses
``multipart/form-data`` bodies itself. Uploads in tests are small and arrive whole, so the
parser works on the complete body in memory: split it on the boundary, then read each part's
headers with the ``email`` package (which already handles quoting and RFC 2231 file names).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None  # set for file fields only
    content: bytes

    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart Content-Type header, if there is one."""
    message = Message()
    message["content-type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def parse_form_data(body: bytes, content_type: str) -> dict[str, FormPart]:
    """The parts of a multipart/form-data body, by field name (the last one wins)."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise MultipartError("Content-Type is not multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise MultipartError("multipart body has no closing boundary")

    parts: dict[str, FormPart] = {}
    # sections[0] is the preamble and sections[-1] the epilogue after the closing "--".
    for section in sections[1:-1]:
        if section.startswith(b"\r\n"):
            section = section[2:]
        header_block, separator, content = section.partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("multipart part has no blank line after its headers")
        # The CRLF before the next delimiter belongs to the delimiter, not to the content.
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = BytesHeaderParser().parsebytes(header_block + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise MultipartError("multipart part has no name in its Content-Disposition")
        parts[name] = FormPart(name=name, filename=headers.get_filename(), content=content)
    return parts
