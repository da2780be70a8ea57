"""Errors in Custom Vision's shape: {"code": ..., "message": ...} with Azure's codes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import JsonResponse

from projects.models import Resource


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def validation_code(exc: ValidationError) -> str:
    code = getattr(exc, "code", None)
    if code is None and hasattr(exc, "error_dict"):  # a field's error: its first error's code
        first = next(iter(exc.error_dict.values()), [])
        code = getattr(first[0], "code", None) if first else None
    if code and str(code)[:1].isupper():
        return str(code)
    return "BadRequest"


def unauthorized(kind: str) -> ApiError:
    header = "Training-Key" if kind == Resource.Kind.TRAINING else "Prediction-Key"
    return ApiError(
        401, "Unauthorized", f"Access denied due to a missing or invalid {header} header."
    )
