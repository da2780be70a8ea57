"""Custom Vision Prediction API: classify an image with a published iteration."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION, resource_for_digest
from api.endpoint import api_view
from api.errors import unauthorized
from api.parsing import image_data, image_url
from api.shapes import prediction_json
from prediction import services


@api_view(["POST"], PREDICTION, key_only=True)
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
