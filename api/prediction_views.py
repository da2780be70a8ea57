"""Custom Vision Prediction API (v3.0, v3.1): classify an image with a published iteration."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from django.views.decorators.http import require_http_methods

from api.errors import ApiError, api_view
from api.images_views import _image_parts
from api.shapes import iso
from prediction import services
from prediction.services import PredictionResult
from projects.models import Resource

PREDICTION = Resource.Kind.PREDICTION


def prediction_json(result: PredictionResult) -> dict[str, Any]:
    return {
        "id": str(result.id),
        "project": str(result.project_id),
        "iteration": str(result.iteration_id),
        "created": iso(result.created),
        "predictions": [
            {
                "probability": p.probability,
                "tagId": p.tag_id,
                "tagName": p.tag_name,
                "tagType": p.tag_type,
            }
            for p in result.predictions
        ],
    }


@require_http_methods(["POST"])
@api_view(PREDICTION)
def classify_image(
    request: HttpRequest,
    resource: Resource,
    project_id: uuid.UUID,
    publish_name: str,
    store: bool,
    _word: str = "",
) -> Any:
    iteration = services.published_iteration_get(
        resource=resource, project_id=project_id, publish_name=publish_name
    )
    parts = _image_parts(request)
    if not parts:
        raise ApiError(400, "BadRequestImageStream", "No image data in the request.")
    result = services.prediction_classify(
        iteration=iteration,
        data=parts[0][1],
        store=store,
        application=request.GET.get("application", ""),
    )
    return prediction_json(result)
