"""Custom Vision Prediction API (v3.0, v3.1): classify an image with a published iteration."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from django.views.decorators.http import require_http_methods

from api.auth import resource_for_digest
from api.errors import ApiError, api_view, json_body, unauthorized
from api.images_views import _image_parts
from api.shapes import prediction_json
from prediction import services
from projects.models import Resource

PREDICTION = Resource.Kind.PREDICTION


@require_http_methods(["POST"])
@api_view(PREDICTION, key_only=True)
def classify(
    request: HttpRequest,
    key_digest: str,
    project_id: uuid.UUID,
    publish_name: str,
    store: bool,
    source: str,
) -> Any:
    """ClassifyImage and ClassifyImageUrl, with and without /nostore."""
    iteration = services.published_iteration_for_key(
        key_digest=key_digest, project_id=project_id, publish_name=publish_name
    )
    if iteration is None:  # a wrong key (401) or a wrong name for a right key (404)?
        resource = resource_for_digest(key_digest, PREDICTION)
        if resource is None:
            raise unauthorized(PREDICTION)
        iteration = services.published_iteration_get(
            resource=resource, project_id=project_id, publish_name=publish_name
        )
    image = {"data": image_data(request)} if source == "image" else {"url": image_url(request)}
    result = services.prediction_classify(
        iteration=iteration,
        store=store,
        application=request.GET.get("application", ""),
        **image,
    )
    return prediction_json(result)


def image_data(request: HttpRequest) -> bytes:
    """The one image of a classify / quick test request (multipart or the raw body)."""
    parts = _image_parts(request)
    if not parts:
        raise ApiError(400, "BadRequestImageStream", "No image data in the request.")
    return parts[0][1]


def image_url(request: HttpRequest) -> str:
    """The {"url": ...} body of a classify / quick test URL request."""
    body = json_body(request)
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "BadRequestImageUrl", 'The body needs {"url": "..."}.')
    return url.strip()
