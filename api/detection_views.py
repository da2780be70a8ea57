"""The Prediction API's object detection: DetectImage and DetectImageUrl, with and without
/nostore (an object-detection project's regions and proposals are in api/regions_views.py).
A detection answers as Azure's ImagePrediction, each prediction with its `boundingBox`."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION
from api.endpoint import api_view
from api.published import predict_published
from prediction import services as prediction_services


@api_view(["POST"], PREDICTION, key_only=True)
def detect(
    request: HttpRequest,
    key_digest: str,
    project_id: uuid.UUID,
    publish_name: str,
    store: bool,
    source: str,
) -> Any:
    """DetectImage and DetectImageUrl, with and without /nostore: as classify's, each
    prediction with its boundingBox."""
    return predict_published(
        request,
        key_digest=key_digest,
        project_id=project_id,
        publish_name=publish_name,
        store=store,
        source=source,
        predict=prediction_services.prediction_detect,
    )
