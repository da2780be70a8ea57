"""Every answer under /customvision/ is JSON in Azure's shape, whatever produced it.

The views answer their own errors as {"code", "message"}; this covers what happens before or
around them (a method a route doesn't take, a body over Django's limits, a framework page):
Microsoft's SDKs read `code` from every error and fail on an HTML or empty body.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.codes import AzureCode

PREFIX = "/customvision/"
CODES = {
    400: AzureCode.BAD_REQUEST,
    401: AzureCode.UNAUTHORIZED,
    403: AzureCode.FORBIDDEN,
    404: AzureCode.NOT_FOUND,
    405: AzureCode.METHOD_NOT_ALLOWED,
    413: AzureCode.REQUEST_ENTITY_TOO_LARGE,
    415: AzureCode.UNSUPPORTED_MEDIA_TYPE,
    429: AzureCode.TOO_MANY_REQUESTS,
}


def _fallback(status: int) -> AzureCode:
    return AzureCode.INTERNAL_SERVER_ERROR if status >= 500 else AzureCode.BAD_REQUEST


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
                "code": CODES.get(status, _fallback(status)),
                "message": message,
            },
            status=status,
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if response.has_header(header):
                shaped[header] = response[header]
        return shaped
