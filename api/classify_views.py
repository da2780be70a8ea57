"""Custom Vision Prediction API: classify an image with a published iteration."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION
from api.endpoint import api_view
from api.parsing import image_data, image_url
from api.published import published_iteration
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
    iteration = published_iteration(
        key_digest=key_digest, project_id=project_id, publish_name=publish_name
    )
    image = {"data": image_data(request)} if source == "image" else {"url": image_url(request)}
    result = services.prediction_classify(
        iteration=iteration,
        store=store,
        application=request.GET.get("application", ""),
        **image,
    )
    return prediction_json(result)
