"""The parts of a multipart/form-data body, byte for byte, at about one copy of the body.

Microsoft's SDKs send image bytes as parts without a filename, which Django's form parser
would decode as text, so the API reads the raw body itself. The standard library's `email`
parser did that at about forty times the body's size (it decodes the body to a string, splits
it into lines and joins them again); this finds the boundaries in the bytes and slices each
part out once, so a request's memory stays a small multiple of the route's body limit.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import quopri
from email.message import Message
from email.parser import BytesHeaderParser

_HEADERS = BytesHeaderParser(policy=email.policy.HTTP)
_MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    """The body is not the multipart message its Content-Type announces."""


def boundary_of(content_type: str) -> bytes | None:
    """The boundary a multipart Content-Type names, or None (Microsoft's REST quickstart sends
    "multipart/form-data" with none: its body is then the image itself)."""
    message = Message()
    message["Content-Type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        return None
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        return None


def parts(body: bytes, boundary: bytes) -> list[tuple[str, bytes]]:
    """(filename or "image N", content) of each part, in order."""
    marker = b"--" + boundary
    start = body.find(marker)
    if start < 0:
        raise MultipartError("The body has no part with the boundary its Content-Type names.")
    found: list[tuple[str, bytes]] = []
    position = start + len(marker)
    while not body.startswith(b"--", position):  # "--boundary--" closes the message
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            break  # no closing delimiter: what came before still counts, as email's parser did
        head = line_end + 2
        end = body.find(b"\r\n" + marker, head)
        if end < 0:
            raise MultipartError("A part of the body is not closed by its boundary.")
        if body.startswith(b"\r\n", head):  # a part without headers
            headers, content_start = b"", head + 2
        else:
            blank = body.find(b"\r\n\r\n", head, min(end, head + _MAX_HEADER_BYTES))
            if blank < 0:
                raise MultipartError("A part's headers are malformed.")
            headers, content_start = body[head:blank], blank + 4
        found.append(_part(len(found) + 1, headers, body[content_start:end]))
        position = end + 2 + len(marker)
    return found


def _part(index: int, headers: bytes, content: bytes) -> tuple[str, bytes]:
    parsed = _HEADERS.parsebytes(headers + b"\r\n\r\n") if headers else Message()
    encoding = str(parsed.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        if encoding == "base64":
            content = base64.b64decode(content)
        elif encoding == "quoted-printable":
            content = quopri.decodestring(content)
    except (binascii.Error, ValueError):
        raise MultipartError(f"Part {index} is not valid {encoding}.") from None
    return parsed.get_filename() or f"image {index}", content
