"""The official Azure SDK (azure-cognitiveservices-vision-customvision 3.1.1), unchanged,
against a live server of ours."""

from __future__ import annotations

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials

from projects import services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def training_key(alice):
    _resource, keys = services.resource_create(owner=alice, name="sdk", kind="training")
    return keys.key1


@pytest.fixture
def trainer(live_server, training_key):
    credentials = ApiKeyCredentials(in_headers={"Training-key": training_key})
    return CustomVisionTrainingClient(live_server.url, credentials)


def test_domains_are_azures(trainer):
    domains = trainer.get_domains()
    general = next(d for d in domains if d.name == "General")
    assert general.id == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    assert trainer.get_domain(general.id).name == "General"
    assert {d.name for d in domains if d.exportable} >= {"General (compact)"}


def test_projects_and_tags_through_the_sdk(trainer):
    food = "c151d5b5-dd07-472a-acc8-15d29dea8518"
    project = trainer.create_project(
        "Trees", description="sdk", domain_id=food, classification_type="Multilabel"
    )
    assert project.settings.domain_id == food
    assert project.settings.classification_type == "Multilabel"
    assert [p.id for p in trainer.get_projects()] == [project.id]

    hemlock = trainer.create_tag(project.id, "Hemlock")
    negative = trainer.create_tag(project.id, "Nothing", type="Negative")
    assert (hemlock.image_count, negative.type) == (0, "Negative")
    assert sorted(t.name for t in trainer.get_tags(project.id)) == ["Hemlock", "Nothing"]
    hemlock.name = "Western Hemlock"
    assert trainer.update_tag(project.id, hemlock.id, hemlock).name == "Western Hemlock"
    trainer.delete_tag(project.id, negative.id)

    project.name = "Conifers"
    assert trainer.update_project(project.id, project).name == "Conifers"
    assert trainer.get_project(project.id).name == "Conifers"
    trainer.delete_project(project.id)
    assert trainer.get_projects() == []


def test_errors_have_azures_shape(trainer, live_server, training_key):
    project = trainer.create_project("P")
    trainer.create_tag(project.id, "A")
    with pytest.raises(CustomVisionErrorException) as info:
        trainer.create_tag(project.id, "a")
    assert info.value.response.status_code == 400
    assert "already has a tag named 'A'" in info.value.message  # the tag there, as written
    assert info.value.inner_exception.code == "BadRequestTagNameNotUnique"
    missing = (
        f"{live_server.url}/customvision/v3.3/training/projects/{'0' * 8}-0000-0000-0000-{'0' * 12}"
    )
    response = requests.get(missing, headers={"Training-Key": training_key}, timeout=10)
    assert response.status_code == 404 and response.json()["code"] == "NotFound"


def test_keys_are_checked(live_server, training_key, alice, bob):
    base = f"{live_server.url}/customvision/v3.3/training/projects"
    for headers in (
        {},
        {"Training-Key": "wrong"},
        {"Training-Key": training_key[:-1] + ("1" if training_key[-1] == "0" else "0")},
    ):
        response = requests.get(base, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["code"] == "Unauthorized"
    # The subscription-key header works too; Key 2 as well as Key 1.
    _resource, keys = services.resource_create(owner=alice, name="two", kind="training")
    assert (
        requests.get(base, headers={"Ocp-Apim-Subscription-Key": keys.key2}, timeout=10).status_code
        == 200
    )
    # A prediction key is not a training key.
    _p, pkeys = services.resource_create(owner=alice, name="pred", kind="prediction")
    assert requests.get(base, headers={"Training-Key": pkeys.key1}, timeout=10).status_code == 401


def test_another_owners_key_reaches_none_of_the_projects(live_server, trainer, bob):
    project = trainer.create_project("Alice's")
    tag = trainer.create_tag(project.id, "A")
    _r, keys = services.resource_create(owner=bob, name="bob", kind="training")
    base = f"{live_server.url}/customvision/v3.4-preview/training/projects"
    headers = {"Training-Key": keys.key1}
    assert requests.get(base, headers=headers, timeout=10).json() == []
    for method, url in [
        ("GET", f"{base}/{project.id}"),
        ("PATCH", f"{base}/{project.id}"),
        ("DELETE", f"{base}/{project.id}"),
        ("GET", f"{base}/{project.id}/tags"),
        ("POST", f"{base}/{project.id}/tags?name=x"),
        ("GET", f"{base}/{project.id}/tags/{tag.id}"),
        ("DELETE", f"{base}/{project.id}/tags/{tag.id}"),
    ]:
        response = requests.request(method, url, headers=headers, json={}, timeout=10)
        assert response.status_code == 404, (method, url)
    assert trainer.get_project(project.id).name == "Alice's"
