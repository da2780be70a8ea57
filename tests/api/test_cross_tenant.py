"""Another owner's keys reach nothing of Alice's, on every route in the route table; no key
reaches anything at all."""

from __future__ import annotations

import re

import pytest

from api.urls import PREFIX, ROUTES
from prediction.models import StoredPrediction
from prediction.services import prediction_classify
from projects import services
from projects.models import Image, Project, Tag
from tests.training.synthetic import photo
from training import services as training_services
from training.models import Iteration


@pytest.fixture
def alices_world(project, trained, keys):
    (_t, _), (prediction_resource, _pk) = keys
    training_services.iteration_publish(
        iteration=trained, publish_name="m", prediction_resource=prediction_resource
    )
    stored = prediction_classify(iteration=trained, data=photo("red", seed=99), store=True)
    return {
        "version": "v3.3",
        "project_id": project.id,
        "tag_id": Tag.objects.filter(project=project).first().id,
        "image_id": Image.objects.filter(project=project).first().id,
        "iteration_id": trained.id,
        "prediction_id": stored.id,
        "domain_id": project.domain_id,
        "publish_name": "m",
        "size": "original",
    }


def _url(api: str, route_path: str, values: dict) -> str:
    template = PREFIX[api] + route_path
    values = values | {"_word": api}  # each route answers under its own API's word
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), template)


def _snapshot():
    return (
        list(Project.objects.values_list("id", "name", "description")),
        list(Tag.objects.values_list("id", "name")),
        list(Image.objects.values_list("id", "removed_at")),
        list(Iteration.objects.values_list("id", "name", "publish_name", "status")),
        list(StoredPrediction.objects.values_list("id", flat=True)),
    )


# Routes that name no project of anyone's: they answer, but only with the caller's own things.
UNSCOPED = {"GetDomains", "GetDomain", "GetProjects", "CreateProject", "ImportProject"}


@pytest.mark.django_db
def test_another_owners_keys_get_404_on_every_route(client, alices_world, bob):
    _r, bob_training = services.resource_create(owner=bob, name="bt", kind="training")
    _r, bob_prediction = services.resource_create(owner=bob, name="bp", kind="prediction")
    before = _snapshot()
    checked = 0
    for route in ROUTES:
        url = _url(route.api, route.path, alices_world)
        header = "HTTP_TRAINING_KEY" if route.api == "training" else "HTTP_PREDICTION_KEY"
        key = bob_training.key1 if route.api == "training" else bob_prediction.key1
        for method, operation in route.operations.items():
            if operation in UNSCOPED:
                continue
            response = client.generic(
                method, url, data=b"{}", content_type="application/json", **{header: key}
            )
            assert response.status_code == 404, (operation, url, response.content)
            assert response.json()["code"] == "NotFound"
            checked += 1
    assert checked >= 40
    assert _snapshot() == before
    # The unscoped ones show Bob only what is his.
    listed = client.get(
        _url("training", "projects", alices_world), HTTP_TRAINING_KEY=bob_training.key1
    )
    assert listed.status_code == 200 and listed.json() == []


@pytest.mark.django_db
def test_no_key_or_a_wrong_key_is_401_on_every_route(client, alices_world, keys):
    (_t, alice_training), (_p, alice_prediction) = keys
    before = _snapshot()
    for route in ROUTES:
        url = _url(route.api, route.path, alices_world)
        # A key of the other kind is as good as none.
        wrong = alice_prediction.key1 if route.api == "training" else alice_training.key1
        for method in route.operations:
            for headers in ({}, {"HTTP_TRAINING_KEY": wrong, "HTTP_PREDICTION_KEY": wrong}):
                response = client.generic(
                    method, url, data=b"{}", content_type="application/json", **headers
                )
                assert response.status_code == 401, (method, url, response.content)
                assert response.json()["code"] == "Unauthorized"
    assert _snapshot() == before


@pytest.mark.django_db
def test_a_prediction_key_reaches_only_iterations_published_to_it(client, alices_world, alice):
    """Alice's own second prediction resource: same owner, but not where the model is published."""
    _r, other = services.resource_create(owner=alice, name="second", kind="prediction")
    for route in ROUTES:
        if route.api != "prediction":
            continue
        url = _url(route.api, route.path, alices_world)
        response = client.post(
            url, data=b"{}", content_type="application/json", HTTP_PREDICTION_KEY=other.key1
        )
        assert response.status_code == 404, url
