"""Response headers the portal adds for its signed-in users."""

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
