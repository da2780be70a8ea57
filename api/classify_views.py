"""Custom Vision Prediction API: classify an image with a published iteration."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION
from api.endpoint import api_view
from api.published import predict_published
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
    return predict_published(
        request,
        key_digest=key_digest,
        project_id=project_id,
        publish_name=publish_name,
        store=store,
        source=source,
        predict=services.prediction_classify,
    )
