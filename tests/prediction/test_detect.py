"""Detect* on a classifier: Azure's "Invalid project type for operation", from the service and
through the Prediction API, before any image is read or fetched."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from prediction.models import StoredPrediction
from prediction.services import prediction_detect
from projects import services as project_services
from tests.training.synthetic import photo
from training import services as training_services

pytestmark = pytest.mark.django_db


def test_a_classifier_does_not_detect(client, alice, trained):
    with pytest.raises(ValidationError) as info:
        prediction_detect(iteration=trained, data=photo("red", seed=1), store=True)
    assert info.value.code == "BadRequestOperationNotSupported"

    target, keys = project_services.resource_create(owner=alice, name="p", kind="prediction")
    training_services.iteration_publish(
        iteration=trained, publish_name="colours", prediction_resource=target
    )
    root = f"/customvision/v3.0/Prediction/{trained.project_id}/detect/iterations/colours"
    for tail, body, kind in (
        ("image", photo("red", seed=2), "application/octet-stream"),
        ("image/nostore", photo("red", seed=3), "application/octet-stream"),
        ("url", b'{"url": "http://192.0.2.1/never-fetched.jpg"}', "application/json"),
        ("url/nostore", b'{"url": "http://192.0.2.1/never-fetched.jpg"}', "application/json"),
    ):
        response = client.post(
            f"{root}/{tail}", body, content_type=kind, HTTP_PREDICTION_KEY=keys.key1
        )
        assert response.status_code == 400, (tail, response.content)
        answer = response.json()
        assert answer["code"] == "BadRequestOperationNotSupported"
        assert answer["message"].startswith("Invalid project type for operation")
    assert not StoredPrediction.objects.exists()
