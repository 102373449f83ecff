"""Request bodies the layer does not send whole: multipart forms and raw data."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from middleware._sdk import AnnotatedValue


def unparsed(size: int) -> AnnotatedValue:
    """A body (or file) that was there and is not sent: its size only."""
    return AnnotatedValue("", {"rem": [["!raw", "x"]], "len": size})


def multipart_form(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """Form fields as text and each file as its name with its size, never its content.

    The stdlib's MIME parser, because Starlette's needs python-multipart (an
    optional dependency of the app) and an await, and event processors are sync.
    The body is bounded by max_request_body_size before it gets here.
    """
    header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    if not message.is_multipart() or message.defects:
        return None
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            form[name] = content.decode(part.get_content_charset() or "utf-8", "replace")
        else:
            # The content is replaced by the file's name; "len" is its size in bytes.
            form[name] = AnnotatedValue(filename, {"rem": [["!raw", "s"]], "len": len(content)})
    return form
