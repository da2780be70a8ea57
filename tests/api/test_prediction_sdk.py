"""Publish an iteration and classify with the official prediction client."""

from __future__ import annotations

import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials

from prediction.models import StoredPrediction
from projects import services
from training import services as training_services

pytestmark = pytest.mark.django_db(transaction=True)


def clients(live_server, keys):
    (_t, tkeys), (_p, pkeys) = keys
    trainer = CustomVisionTrainingClient(
        live_server.url, ApiKeyCredentials(in_headers={"Training-key": tkeys.key1})
    )
    predictor = CustomVisionPredictionClient(
        live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": pkeys.key1})
    )
    return trainer, predictor


def test_publish_classify_store_and_unpublish(live_server, keys, project, trained):
    from tests.training.synthetic import photo

    trainer, predictor = clients(live_server, keys)
    (_t, _), (_resource, pkeys) = keys
    arm = (
        "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/"
        "accounts/my-prediction"
    )
    assert trainer.publish_iteration(project.id, trained.id, "treeModel", arm) is True
    assert trainer.get_iteration(project.id, trained.id).publish_name == "treeModel"

    result = predictor.classify_image(project.id, "treeModel", photo("blue", seed=7777))
    assert result.predictions[0].tag_name == "Blue"
    assert result.predictions[0].probability >= result.predictions[1].probability
    assert str(result.iteration) == str(trained.id)
    stored = StoredPrediction.objects.get()
    assert str(stored.id) == result.id and stored.predictions[0]["tagName"] == "Blue"

    predictor.classify_image_with_no_store(project.id, "treeModel", photo("red", seed=8888))
    assert StoredPrediction.objects.count() == 1

    with pytest.raises(CustomVisionErrorException) as info:
        trainer.delete_iteration(project.id, trained.id)
    assert info.value.inner_exception.code == "BadRequestIterationIsPublished"

    trainer.unpublish_iteration(project.id, trained.id)
    url = (
        f"{live_server.url}/customvision/v3.0/Prediction/{project.id}/classify/iterations/"
        "treeModel/image"
    )
    response = requests.post(
        url, data=photo("red", seed=1), timeout=30, headers={"Prediction-Key": pkeys.key1}
    )
    assert response.status_code == 404 and response.json()["code"] == "NotFound"


def test_prediction_keys_are_scoped(live_server, keys, project, trained, bob):
    (_t, tkeys), (prediction_resource, pkeys) = keys
    training_services.iteration_publish(
        iteration=trained, publish_name="m", prediction_resource=prediction_resource
    )
    url = (
        f"{live_server.url}/customvision/v3.1/prediction/{project.id}/classify/iterations/"
        "m/image/nostore"
    )
    _r, other = services.resource_create(owner=bob, name="bobs", kind="prediction")
    for headers, status in [
        ({}, 401),
        ({"Prediction-Key": tkeys.key1}, 401),
        ({"Prediction-Key": other.key1}, 404),
        ({"Prediction-Key": pkeys.key2}, 200),
    ]:
        response = requests.post(
            url, data=b"x" if status != 200 else _image(), headers=headers, timeout=30
        )
        assert response.status_code == status, (headers, response.content)


def _image():
    from tests.training.synthetic import photo

    return photo("red", seed=3)


def test_publish_needs_an_own_prediction_resource(live_server, keys, project, trained, bob):
    trainer, _ = clients(live_server, keys)
    _r, _k = services.resource_create(owner=bob, name="bobs", kind="prediction")
    for target in ("bobs", "train", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(CustomVisionErrorException) as info:
            trainer.publish_iteration(project.id, trained.id, "m", target)
        assert info.value.inner_exception.code == "BadRequestInvalidPublishTarget"
