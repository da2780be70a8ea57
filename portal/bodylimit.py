"""Request bodies limited by route, from the declared length, before a byte is read.

Django reads a body only as far as its Content-Length says (a chunked body without one is
never read at all), so checking that header before any view, form or parser touches the
stream enforces the limit while reading: a 99 MB multipart body sent to the prediction
endpoint is answered at once, instead of being read and parsed (several copies of it) before
the 4 MB image rule could say no. gunicorn discards what the client still sends, a bounded
chunk at a time.

Each route's limit is what its largest legitimate request needs: one image for predictions
and Quick Test, a batch for image uploads, an archive (spooled to disk) for project imports,
and a small form or JSON body for everything else.

Bodies that are held in memory also draw on one budget per process (`CV_BODY_MEMORY_BUDGET_BYTES`):
however many requests arrive at once, what their bodies hold together stays under it; a
request that can't get its share within a few seconds is answered 503 with Retry-After.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from api.middleware import PREFIX as API_PREFIX
from core.codes import AzureCode

# A multipart envelope around one image: boundaries and part headers, with room to spare.
ENVELOPE = 64 * 1024
# Bodies smaller than this are not worth a budget's bookkeeping.
UNCOUNTED = 64 * 1024
WAIT_SECONDS = 10.0
# Set on a request whose body was refused unread: nothing should read it afterwards.
REFUSED = "cv.body_refused"

_API = r"^/customvision/[^/]+/"


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    limit: Callable[[], int]  # read when asked: tests and operators change settings
    in_memory: bool  # the body is read into memory (not spooled to disk as uploads are)
    code: AzureCode | None  # Azure's code when an API route refuses it


def _rule(
    pattern: str, limit: Callable[[], int], *, in_memory: bool, code: AzureCode | None = None
) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), limit, in_memory, code)


def _one_image() -> int:
    return int(settings.CV_MAX_IMAGE_BYTES) + ENVELOPE


def _portal_batch() -> int:
    return int(settings.CV_MAX_IMAGES_PER_BATCH) * int(settings.CV_MAX_IMAGE_BYTES) + ENVELOPE


RULES = (
    _rule(
        _API + r"prediction/[^/]+/(?:classify|detect)/iterations/[^/]+/image(?:/nostore)?/?$",
        lambda: int(settings.CV_MAX_PREDICTION_IMAGE_BYTES) + ENVELOPE,
        in_memory=True,
        code=AzureCode.BAD_REQUEST_IMAGE_SIZE_BYTES,
    ),
    _rule(
        _API + r"training/projects/[^/]+/quicktest/image/?$",
        _one_image,
        in_memory=True,
        code=AzureCode.BAD_REQUEST_IMAGE_SIZE_BYTES,
    ),
    _rule(
        _API + r"training/projects/[^/]+/images(?:/files)?/?$",
        lambda: int(settings.CV_MAX_REQUEST_BODY_BYTES),
        in_memory=True,
        code=AzureCode.BAD_REQUEST_IMAGE_BATCH,
    ),
    # The portal's forms: Django spools uploaded files to disk as it parses them.
    _rule(r"^/projects/[^/]+/images/upload/?$", _portal_batch, in_memory=False),
    _rule(r"^/projects/[^/]+/quicktest/?$", _one_image, in_memory=False),
    _rule(
        r"^/projects/import/?$",
        lambda: int(settings.CV_MAX_IMPORT_ARCHIVE_BYTES),
        in_memory=False,
    ),
)


def body_rule(path: str) -> Rule | None:
    """The rule for a route with a larger body than a form's, if `path` is one."""
    return next((rule for rule in RULES if rule.pattern.match(path)), None)


class _Budget:
    """Bytes of request bodies a process holds at once."""

    def __init__(self) -> None:
        self._free: int | None = None
        self._changed = threading.Condition()

    def take(self, wanted: int, total: int, wait: float) -> int | None:
        """Take `wanted` bytes (at most the whole budget: one maximal request always fits
        alone); None when they did not come free within `wait` seconds."""
        wanted = min(wanted, total)
        deadline = time.monotonic() + wait
        with self._changed:
            if self._free is None:
                self._free = total
            while self._free < wanted:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            self._free -= wanted
        return wanted

    def give(self, taken: int) -> None:
        with self._changed:
            assert self._free is not None
            self._free += taken
            self._changed.notify_all()


_budget = _Budget()


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # Django reads no body it can't measure


class RequestBodyLimit:
    """413 (or Azure's code) for a body over its route's limit, before it is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = _declared_length(request)
        if not length:
            return self.get_response(request)
        rule = body_rule(request.path_info)
        limit = rule.limit() if rule else int(settings.CV_MAX_FORM_BODY_BYTES)
        if length > limit:
            request.META[REFUSED] = True
            return _too_large(request, rule, limit)
        if rule is None or not rule.in_memory or length < UNCOUNTED:
            return self.get_response(request)
        taken = _budget.take(length, int(settings.CV_BODY_MEMORY_BUDGET_BYTES), WAIT_SECONDS)
        if taken is None:
            return _busy(request)
        try:
            return self.get_response(request)
        finally:
            _budget.give(taken)


def _too_large(request: HttpRequest, rule: Rule | None, limit: int) -> HttpResponse:
    size = f"{limit / 1048576:.1f} MB" if limit >= 1048576 else f"{limit // 1024} KB"
    message = f"The request body is larger than this route takes ({size})."
    if request.path_info.startswith(API_PREFIX):
        code = rule.code if rule and rule.code else AzureCode.REQUEST_ENTITY_TOO_LARGE
        # Azure answers an image over its size limit with 400 and this code; anything else
        # too large is a 413.
        status = 400 if code == AzureCode.BAD_REQUEST_IMAGE_SIZE_BYTES else 413
        return JsonResponse({"code": code, "message": message}, status=status)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def _busy(request: HttpRequest) -> HttpResponse:
    message = "The server is receiving many large requests; try again in a few seconds."
    if request.path_info.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(
            {"code": AzureCode.SERVICE_UNAVAILABLE, "message": message}, status=503
        )
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "5"
    return response
