"""Errors in Custom Vision's shape: {"code": ..., "message": ...} with Azure's codes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import JsonResponse

from core.codes import AzureCode, azure_code
from projects.models import Resource


class ApiError(Exception):
    """A client's request this server refuses, with the HTTP status and Azure's code."""

    def __init__(self, status: int, code: AzureCode, message: str) -> None:
        super().__init__(message)
        # AzureCode(...) refuses a string outside the catalogue: a typo is our bug, not a code.
        self.status, self.code, self.message = status, AzureCode(code), message


def error(status: int, code: AzureCode, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def validation_code(exc: ValidationError) -> AzureCode:
    """The code a service's ValidationError carries when it is one of Azure's; plain
    BadRequest for Django's own ("invalid", "max_length"...) or none."""
    code = getattr(exc, "code", None)
    if code is None and hasattr(exc, "error_dict"):  # a field's error: its first error's code
        first = next(iter(exc.error_dict.values()), [])
        code = getattr(first[0], "code", None) if first else None
    return azure_code(code) or AzureCode.BAD_REQUEST


def unauthorized(kind: str) -> ApiError:
    header = "Training-Key" if kind == Resource.Kind.TRAINING else "Prediction-Key"
    return ApiError(
        401, AzureCode.UNAUTHORIZED, f"Access denied due to a missing or invalid {header} header."
    )
