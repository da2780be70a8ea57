"""What a Custom Vision request says: ids, flags, pages, JSON and image bodies, and the
project or iteration its route names. Every views module reads requests through these, so
a bad value answers the same 400 whichever operation it reaches."""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from api import multipart
from api.errors import ApiError
from core.codes import AzureCode
from projects import selectors
from projects.models import Project, Resource
from training import selectors as training_selectors
from training.models import Iteration

MAX_TAKE = 256
MAX_SKIP = 2**31 - 1  # what a database OFFSET takes everywhere


# --- Values ---------------------------------------------------------------------------------


def uuid_of(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ApiError(
            400, AzureCode.BAD_REQUEST_INVALID_IDS, f"{name} is not a valid id."
        ) from None


def number_of(value: Any, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{name} is a number.") from None
    if not math.isfinite(number):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{name} is a finite number.")
    return number


def time_of(value: Any, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(str(value))
    except ValueError:  # well formed but impossible, e.g. month 13
        parsed = None
    try:  # a time PostgreSQL can hold, once in UTC
        if parsed is not None and parsed.tzinfo is not None:
            parsed.astimezone(UTC)
    except OverflowError:
        parsed = None
    if parsed is None:
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{name} is not an ISO-8601 time.")
    return parsed


# --- The query string -----------------------------------------------------------------------


def query_ids(request: HttpRequest, name: str) -> list[uuid.UUID]:
    """Ids from the query string: comma-separated (the SDKs) or the parameter repeated."""
    text = ",".join(request.GET.getlist(name)).strip()
    if text.startswith("[") and text.endswith("]"):  # a JSON array, as some REST callers send
        text = text[1:-1]
    return [uuid_of(part.strip().strip("\"'"), name) for part in text.split(",") if part.strip()]


def query_flag(request: HttpRequest, name: str, default: bool = False) -> bool:
    """A boolean query parameter as the SDKs send it ("true" / "false"); absent: `default`."""
    value = request.GET.get(name, "")
    return default if value == "" else value.lower() == "true"


def take_skip(request: HttpRequest) -> slice:
    """The page the `take` and `skip` query parameters ask for (take at most MAX_TAKE):
    slice(skip, skip + take)."""
    try:
        take = int(request.GET.get("take", 50))
        skip = int(request.GET.get("skip", 0))
    except ValueError:
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "take and skip are numbers.") from None
    if not 0 <= take <= MAX_TAKE or not 0 <= skip <= MAX_SKIP:
        raise ApiError(
            400,
            AzureCode.BAD_REQUEST_INVALID,
            f"take is between 0 and {MAX_TAKE}, skip between 0 and {MAX_SKIP}.",
        )
    return slice(skip, skip + take)


def token_size(token: dict[str, Any]) -> int:
    """A query token's page size (`maxCount`)."""
    return min(max(int(number_of(token.get("maxCount"), "maxCount", 50)), 1), MAX_TAKE)


def training_base(request: HttpRequest) -> str:
    """The Training API's root as the caller wrote it: image URIs we hand out start there."""
    # The route word is in any case (/Training/ in Microsoft's REST quickstart).
    match = re.match(r"^/customvision/[^/]+/training", request.path, re.IGNORECASE)
    return request.build_absolute_uri(match.group(0) if match else "/customvision/v3.3/training")


# --- Bodies ---------------------------------------------------------------------------------


def json_body(request: HttpRequest, *, keys_as_sent: bool = False) -> dict[str, Any]:
    """The request's JSON object ({} for no body), keys camelCased unless `keys_as_sent`
    (a body that is user data, such as image metadata)."""
    try:
        if not request.body:
            return {}
    except RequestDataTooBig:
        raise ApiError(
            413,
            AzureCode.BAD_REQUEST_IMAGE_BATCH,
            "The request body is too large; send fewer or smaller images.",
        ) from None
    try:
        body = json.loads(request.body)
        body = body if keys_as_sent else _camel_keys(body)
    except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
        raise ApiError(
            400, AzureCode.BAD_REQUEST_INVALID_JSON, "The request body is not valid JSON."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            400, AzureCode.BAD_REQUEST_INVALID_JSON, "The request body must be a JSON object."
        )
    return body


def body_list(body: dict[str, Any], key: str) -> list[Any]:
    """A list in a JSON body (absent, null or empty: [])."""
    value = body.get(key)
    if not value:
        return []
    if not isinstance(value, list):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{key} is a list.")
    return value


_BOX = ("left", "top", "width", "height")


def _coordinate(region: dict[str, Any], name: str) -> float:
    value = region.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ApiError(400, AzureCode.BAD_REQUEST_IMAGE_REGIONS, f"A region's {name} is a number.")
    try:
        return float(value)
    except ValueError:
        raise ApiError(
            400, AzureCode.BAD_REQUEST_IMAGE_REGIONS, f"A region's {name} is a number."
        ) from None


def region_of(region: Any) -> tuple[uuid.UUID, float, float, float, float]:
    """A region of a JSON body, {tagId, left, top, width, height} (its box is the services'
    to check)."""
    if not isinstance(region, dict):
        raise ApiError(
            400,
            AzureCode.BAD_REQUEST_IMAGE_REGIONS,
            "A region is {tagId, left, top, width, height}.",
        )
    left, top, width, height = (_coordinate(region, name) for name in _BOX)
    return uuid_of(region.get("tagId"), "tagId"), left, top, width, height


def body_text(body: dict[str, Any], key: str, default: str = "") -> str:
    """A string in a JSON body: `default` when absent, "" when null or empty."""
    value = body.get(key, default)
    if not value:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{key} is a string.")
    return value


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


def image_parts(request: HttpRequest) -> list[tuple[str, bytes]]:
    """The images of a CreateImagesFromData request, byte for byte (`api.multipart`)."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise ApiError(
            413, AzureCode.BAD_REQUEST_IMAGE_BATCH, "The request is too large."
        ) from None
    content_type = request.headers.get("Content-Type", "")
    # Microsoft's REST quickstart sends the raw image with "Content-Type: multipart/form-data"
    # and no boundary: without a boundary there are no parts, so the body is the image.
    is_multipart = content_type.lower().startswith("multipart/")
    boundary = multipart.boundary_of(content_type) if is_multipart else None
    if boundary is None:
        return [("image", body)] if body else []
    try:
        return multipart.parts(body, boundary)
    except multipart.MultipartError as exc:
        raise ApiError(400, AzureCode.BAD_REQUEST_IMAGE_STREAM, str(exc)) from None


def image_data(request: HttpRequest) -> bytes:
    """The one image of a classify / quick test request (multipart or the raw body)."""
    parts = image_parts(request)
    if not parts:
        raise ApiError(400, AzureCode.BAD_REQUEST_IMAGE_STREAM, "No image data in the request.")
    return parts[0][1]


def image_url(request: HttpRequest) -> str:
    """The {"url": ...} body of a classify / quick test URL request."""
    url = json_body(request).get("url")
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, AzureCode.BAD_REQUEST_IMAGE_URL, 'The body needs {"url": "..."}.')
    return url.strip()


# --- What the route names -------------------------------------------------------------------


def project_of(resource: Resource, project_id: uuid.UUID) -> Project:
    # The key's owner is the user: the same ownership helper as the portal's pages.
    return selectors.project_get_for_user(resource.owner, project_id)


def iteration_asked(request: HttpRequest, project: Project) -> Iteration | None:
    """The `iterationId` a read asks about: tags and images as that iteration saw them."""
    value = request.GET.get("iterationId")
    if not value:
        return None
    return training_selectors.iteration_get_for_project(project, uuid_of(value, "iterationId"))
