"""gunicorn's settings wherever this portal is served (`make run`, the container, the tests:
gunicorn reads ./gunicorn.conf.py from the folder it starts in).

gunicorn answers requests it can't parse (a request line over its limit, malformed headers)
itself, before Django sees them, with an HTML page. Microsoft's SDKs read `code` from every
error, so those answers are Azure's {"code", "message"} JSON too. The message is ours: it
never repeats what the client sent.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util

CODES = {
    400: "BadRequest",
    403: "Forbidden",
    414: "RequestUriTooLong",
    417: "ExpectationFailed",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalServerError",
    501: "NotImplemented",
}
MESSAGES = {
    414: "The request's URL is too long.",
    431: "The request's headers are too large.",
}

# The longest request line gunicorn reads (its default); a longer URL gets the 414 below.
limit_request_line = 4094


def json_error(sock: socket.socket, status_int: int, reason: str, _detail: str) -> None:
    body = json.dumps(
        {
            "code": CODES.get(status_int, "BadRequest"),
            "message": MESSAGES.get(status_int, f"The request could not be read ({reason})."),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = json_error
