"""Request and response helpers every app's views share."""

from __future__ import annotations

import mimetypes
from typing import Any

from django.contrib.auth.models import User
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

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


def render_form(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """A page around `context["form"]`: 400 while the form shows errors, so a script (or a
    test) that posts it sees the refusal without reading the page."""
    return render(request, template, context, status=400 if context["form"].errors else 200)
