"""Names and descriptions over their limits, or holding a NUL, are refused with the reason:
never cut short without a word, never a 500."""

from __future__ import annotations

import json

import pytest

from projects import services
from projects.models import Resource
from training.models import Iteration

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, alice):
    _resource, keys = services.resource_create(owner=alice, name="t", kind=Resource.Kind.TRAINING)
    root = "/customvision/v3.3/training/"

    def call(method, path, **kwargs):
        return client.generic(
            method,
            root + path,
            content_type="application/json",
            HTTP_TRAINING_KEY=keys.key1,
            **kwargs,
        )

    return call


def test_iteration_names_are_checked_not_cut(api, project, alice):
    project.resource = Resource.objects.get(owner=alice, name="t")
    project.save()
    iteration = Iteration.objects.create(
        project=project, name="Iteration 1", domain_id=project.domain_id
    )
    path = f"projects/{project.id}/iterations/{iteration.id}"
    for name in ("x" * 201, "evil\x00name"):
        response = api("PATCH", path, data=json.dumps({"name": name}))
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "BadRequestIterationName"
    iteration.refresh_from_db()
    assert iteration.name == "Iteration 1"
    assert api("PATCH", path, data=json.dumps({"name": "x" * 200})).status_code == 200


def test_descriptions_have_a_limit(api, client):
    long = "d" * 100_000
    response = api("POST", f"projects?name=P&description={long}")
    assert response.status_code == 400 and "4,000 characters" in response.json()["message"]
    project_id = api("POST", "projects?name=P&description=fine").json()["id"]
    response = api("POST", f"projects/{project_id}/tags?name=T&description={long}")
    assert response.status_code == 400
    response = api("POST", f"projects/{project_id}/tags?name=T&description=a%00b")
    assert response.status_code == 400 and "NUL" in response.json()["message"]
