"""Response headers the portal adds for its signed-in users, a kept-alive connection kept
usable after an answer that did not read the request's body, and the portal's middleware kept
off the key-authenticated API's path."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import add_never_cache_headers

from api.middleware import PREFIX as API_PREFIX
from portal.bodylimit import REFUSED


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
        # A body refused for its size is not read at all: gunicorn then closes the connection
        # rather than receive the rest.
        if not getattr(request, "_read_started", False) and not request.META.get(REFUSED):
            try:
                while request.read(self.CHUNK):
                    pass
            except OSError:  # the client went away; nothing to keep alive
                pass
        return response


def portal_only(middleware: type) -> type:
    """`middleware` for the portal's pages only: a request to the Custom Vision API (key
    headers, JSON, no cookies) goes past it untouched.

    Sessions, CSRF, signed-in users, messages, and frame and content-security headers are the
    browser's concerns, with nothing to do on an API call. They were about a quarter of the
    0.97 ms Django spent around the model on each prediction; with the routing and the key
    lookup trimmed beside them it is now 0.39 ms (bench/overhead.py). The API's views never
    read `request.user` or `request.session`.

    A subclass, so Django's and django-axes' checks that find their middleware installed
    still find it.
    """

    def __call__(self: Any, request: HttpRequest) -> Any:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return middleware.__call__(self, request)

    namespace: dict[str, Any] = {"__call__": __call__, "__module__": __name__}
    # The handler finds view and exception hooks by attribute: skipped on the API's path too
    # (CSRF's check is a view hook).
    for hook, hands_back in (
        ("process_view", False),
        ("process_exception", False),
        ("process_template_response", True),
    ):
        if hasattr(middleware, hook):
            namespace[hook] = _skipped_on_api(getattr(middleware, hook), hands_back)
    return type(f"PortalOnly{middleware.__name__}", (middleware,), namespace)


def _skipped_on_api(hook: Callable[..., Any], hands_back: bool) -> Callable[..., Any]:
    """`hook` as a method that does nothing on the API's path: answers None, or hands back
    the response it was given (a template-response hook must)."""

    @functools.wraps(hook)
    def method(self: Any, request: HttpRequest, *args: Any) -> Any:
        if request.path_info.startswith(API_PREFIX):
            return args[0] if hands_back else None
        return hook(self, request, *args)

    return method


PortalSessions = portal_only(SessionMiddleware)
PortalCsrf = portal_only(CsrfViewMiddleware)
PortalAuthentication = portal_only(AuthenticationMiddleware)
PortalMessages = portal_only(MessageMiddleware)
PortalFrameOptions = portal_only(XFrameOptionsMiddleware)
PortalContentSecurity = portal_only(CSPMiddleware)
PortalNoStoreWhenSignedIn = portal_only(NoStoreWhenSignedIn)
