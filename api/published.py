"""The published iteration a Prediction API call names, found with its key: what Classify*
and Detect* both start from."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION, resource_for_digest
from api.errors import unauthorized
from api.parsing import image_data, image_url
from api.shapes import prediction_json
from prediction import services
from prediction.services import PredictionResult
from training.models import Iteration


def published_iteration(*, key_digest: str, project_id: uuid.UUID, publish_name: str) -> Iteration:
    """One query when key and name are right; otherwise 401 for a wrong key, 404 for a name
    the key's resource has no iteration published under."""
    iteration = services.published_iteration_for_key(
        key_digest=key_digest, project_id=project_id, publish_name=publish_name
    )
    if iteration is None:
        resource = resource_for_digest(key_digest, PREDICTION)
        if resource is None:
            raise unauthorized(PREDICTION)
        iteration = services.published_iteration_get(
            resource=resource, project_id=project_id, publish_name=publish_name
        )
    return iteration


def predict_published(
    request: HttpRequest,
    *,
    key_digest: str,
    project_id: uuid.UUID,
    publish_name: str,
    store: bool,
    source: str,
    predict: Callable[..., PredictionResult],
) -> dict[str, Any]:
    """Classify* and Detect*: the published iteration, the image (its bytes or its URL), the
    service's prediction, answered as Azure's ImagePrediction."""
    iteration = published_iteration(
        key_digest=key_digest, project_id=project_id, publish_name=publish_name
    )
    image = {"data": image_data(request)} if source == "image" else {"url": image_url(request)}
    result = predict(
        iteration=iteration,
        store=store,
        application=request.GET.get("application", ""),
        **image,
    )
    return prediction_json(result)
