"""Response headers the portal adds for its signed-in users, and a kept-alive connection
kept usable after an answer that did not read the request's body."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreWhenSignedIn:
    """Pages and JSON for a signed-in user are never stored by the browser or a proxy: after
    signing out on a shared computer, Back must not show the last user's projects."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        content_type = response.get("Content-Type", "")
        if (
            user is not None
            and user.is_authenticated
            and content_type.startswith(("text/html", "application/json"))
            and not response.has_header("Cache-Control")
        ):
            add_never_cache_headers(response)
        return response


class DrainUnreadBody:
    """Read what is left of a request body the answer never needed (a 401 for a wrong key
    on an image upload, a 404 for a wrong project) before answering.

    gunicorn keeps the connection alive after such an answer without reading the rest of the
    body, so the unread image bytes would be parsed as the client's next request and the
    connection dropped without a response: an SDK that reuses its connection (every one of
    Microsoft's does) would see a "connection reset" on its next, valid call.
    """

    CHUNK = 64 * 1024

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "_read_started", False):
            try:
                while request.read(self.CHUNK):
                    pass
            except OSError:  # the client went away; nothing to keep alive
                pass
        return response
