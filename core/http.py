"""Request and response helpers every app's views share."""

from __future__ import annotations

import mimetypes

from django.contrib.auth.models import User
from django.http import FileResponse, Http404, HttpRequest

from core import storage


class AuthedRequest(HttpRequest):
    """What `login_required` views receive: a request whose user is signed in."""

    user: User


def serve_stored_file(name: str | None) -> FileResponse:
    """A stored file (image, thumbnail) to its owner, after the caller checked ownership."""
    if not name:
        raise Http404("The file is missing.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(storage.open_file(name), content_type=content_type)
    # Private data: browsers may cache it, shared caches may not.
    response["Cache-Control"] = "private, max-age=3600"
    return response
