"""A deactivated user's keys answer 401 at once, and the admin says so where it is done."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from projects import services
from projects.admin import DEACTIVATION_HELP
from projects.models import Resource
from projects.services import transfer
from training.models import Iteration

pytestmark = pytest.mark.django_db


def _deactivate(user: User) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def test_keys_stop_the_moment_their_owner_is_deactivated(client, alice, project):
    _training, training_keys = services.resource_create(
        owner=alice, name="t", kind=Resource.Kind.TRAINING
    )
    prediction, prediction_keys = services.resource_create(
        owner=alice, name="p", kind=Resource.Kind.PREDICTION
    )
    Iteration.objects.create(
        project=project,
        name="Iteration 1",
        status=Iteration.Status.COMPLETED,
        domain_id=project.domain_id,
        publish_name="m",
        prediction_resource=prediction,
    )
    projects = "/customvision/v3.3/training/projects"
    classify = f"/customvision/v3.0/prediction/{project.id}/classify/iterations/m/image"
    train = {"HTTP_TRAINING_KEY": training_keys.key1}
    predict = {"HTTP_PREDICTION_KEY": prediction_keys.key2}
    assert client.get(projects, **train).status_code == 200
    # The key is good: what is missing is the image.
    assert client.post(classify, b"", "application/octet-stream", **predict).status_code == 400

    _deactivate(alice)
    for response in (
        client.get(projects, **train),
        client.post(projects + "?name=x", **train),
        client.post(classify, b"", "application/octet-stream", **predict),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "Unauthorized"

    alice.is_active = True
    alice.save(update_fields=["is_active"])
    assert client.get(projects, **train).status_code == 200


def test_an_export_token_dies_with_its_owner(alice, project):
    token = transfer.export_token(project)
    assert transfer.project_for_token(token) == project
    _deactivate(alice)
    with pytest.raises(Exception, match="invalid or has expired"):
        transfer.project_for_token(token)


def test_the_admin_says_what_deactivating_does(client, alice):
    client.force_login(User.objects.create_superuser("root", "", "pw"))
    page = client.get(reverse("admin:auth_user_change", args=[alice.pk]))
    assert DEACTIVATION_HELP in page.content.decode()
