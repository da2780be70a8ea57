"""Errors in Custom Vision's shape: {"code": ..., "message": ...} with Azure's codes."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from api.auth import request_key_digest, resource_for_request
from projects.models import Resource
from training.services import TrainingUnavailable

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _validation_code(exc: ValidationError) -> str:
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


def api_view(
    kind: str, *, key_only: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., HttpResponseBase]]:
    """Authenticate by key header, turn results into JSON and exceptions into Azure errors.

    The wrapped view gets `resource` (the caller's resource) as its second argument and may
    return a JSON-able value, (value, status) or an HttpResponse. With `key_only` it gets the
    key's hash instead, and must itself answer `unauthorized` when the key matches nothing:
    the prediction endpoint finds resource and iteration in one query (0.4 ms of a request).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponseBase]:
        @csrf_exempt  # key-authenticated, no cookies: CSRF does not apply
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            kwargs.pop("version", None)
            kwargs.pop("_word", None)
            caller = (request_key_digest if key_only else resource_for_request)(request, kind)
            try:
                if caller is None:
                    raise unauthorized(kind)
                result = view(request, caller, *args, **kwargs)
            except ApiError as exc:
                return error(exc.status, exc.code, exc.message)
            except Http404 as exc:
                return error(404, "NotFound", str(exc) or "Not found.")
            except ValidationError as exc:
                return error(400, _validation_code(exc), " ".join(exc.messages))
            except TrainingUnavailable as exc:
                return error(503, "ServiceUnavailable", str(exc))
            except (DataError, ValueError, TypeError, OverflowError, RecursionError) as exc:
                # The last line of defence for input no check above caught (a NUL byte or an
                # over-long name reaching PostgreSQL, a value of the wrong type deep in a
                # body): the client's mistake, said as one, and logged so a check gets added.
                logger.warning("Bad input reached %s", request.path, exc_info=True)
                return error(
                    400,
                    "BadRequestInvalid",
                    f"The request has a value this server can't accept ({type(exc).__name__}).",
                )
            if isinstance(result, HttpResponseBase):
                return result
            status = 200
            if isinstance(result, tuple):
                result, status = result
            if result is None:
                return HttpResponse(status=204 if status == 200 else status)
            return JsonResponse(result, status=status, safe=False)

        return wrapper

    return decorate


def json_body(request: HttpRequest, *, keys_as_sent: bool = False) -> dict[str, Any]:
    """The request's JSON object ({} for no body), keys camelCased unless `keys_as_sent`
    (a body that is user data, such as image metadata)."""
    try:
        if not request.body:
            return {}
    except RequestDataTooBig:
        raise ApiError(
            413,
            "BadRequestImageBatch",
            "The request body is too large; send fewer or smaller images.",
        ) from None
    try:
        body = json.loads(request.body)
        body = body if keys_as_sent else _camel_keys(body)
    except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
        raise ApiError(
            400, "BadRequestInvalidJson", "The request body is not valid JSON."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequestInvalidJson", "The request body must be a JSON object.")
    return body


def _camel_keys(value: Any) -> Any:
    """Azure's service reads JSON keys ignoring case, and its REST samples write PascalCase
    ({"Url": ...}); our views read camelCase, so "Url" and "TagIds" become "url" and "tagIds"."""
    if isinstance(value, dict):
        camel = {(k[:1].lower() + k[1:] if isinstance(k, str) else k): v for k, v in value.items()}
        # Metadata keys are the user's own words: kept exactly as sent.
        return {k: v if k == "metadata" else _camel_keys(v) for k, v in camel.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value
