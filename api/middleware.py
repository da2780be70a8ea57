"""Every answer under /customvision/ is JSON in Azure's shape, whatever produced it.

The views answer their own errors as {"code", "message"}; this covers what happens before or
around them (a method a route doesn't take, a body over Django's limits, a framework page):
Microsoft's SDKs read `code` from every error and fail on an HTML or empty body.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

PREFIX = "/customvision/"
CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
}


class AzureShapedErrors:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not request.path.startswith(PREFIX)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        message = f"{phrase}."
        if status == 405:
            message = f"{request.method} is not allowed here; use {response.get('Allow', '')}."
        shaped = JsonResponse(
            {
                "code": CODES.get(status, "InternalServerError" if status >= 500 else "BadRequest"),
                "message": message,
            },
            status=status,
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if response.has_header(header):
                shaped[header] = response[header]
        return shaped
