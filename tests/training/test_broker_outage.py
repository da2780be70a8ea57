"""Train while the job broker is down: a clear 503, and no Queued iteration left behind."""

from __future__ import annotations

import pytest
import requests
from celery import current_app
from django.urls import reverse

from projects import services as project_services
from tests.training.test_services import add
from training.models import Iteration
from training.tasks import train_iteration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(monkeypatch):
    """Publishing goes to a port nothing listens on: the real client meets a real refusal."""
    publish = train_iteration.apply_async

    def unreachable(*args, **kwargs):
        with current_app.connection_for_write("redis://127.0.0.1:1/0") as connection:
            return publish(*args, connection=connection, **kwargs)

    monkeypatch.setattr(train_iteration, "apply_async", unreachable)
    return monkeypatch


def test_portal_train_says_the_queue_is_unreachable_and_queues_nothing(
    alice_client, project, broker_down
):
    add(project, "red", 5, ["Red"])
    add(project, "blue", 5, ["Blue"])
    url = reverse("training:train", args=[project.id])
    response = alice_client.post(url, {"training_type": "Regular"})
    assert response.status_code == 503
    assert "training queue can&#x27;t be reached" in response.content.decode()
    assert not Iteration.objects.filter(project=project).exists()
    broker_down.undo()
    # Once the broker is back, Train works: nothing was left claiming to be in progress.
    again = alice_client.post(url, {"training_type": "Regular"})
    assert again.status_code == 302
    queued = Iteration.objects.get(project=project)
    assert queued.status == "Queued"
    Iteration.objects.filter(pk=queued.pk).update(status="Cancelled")  # no worker here


def test_api_train_answers_503_in_azures_shape(live_server, alice, project, broker_down):
    add(project, "red", 5, ["Red"])
    add(project, "blue", 5, ["Blue"])
    resource, key = project_services.resource_create(owner=alice, name="t", kind="training")
    project.resource = resource
    project.save()
    response = requests.post(
        f"{live_server.url}/customvision/v3.3/training/projects/{project.id}/train",
        headers={"Training-Key": key.key1},
        timeout=60,
    )
    assert response.status_code == 503
    assert response.json()["code"] == "ServiceUnavailable"
    assert "nothing was queued" in response.json()["message"]
    assert not Iteration.objects.filter(project=project).exists()
