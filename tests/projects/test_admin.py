from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from projects import services
from projects.models import Resource
from projects.services import ImageUpload
from projects.services.resources import key_hash
from tests import images

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client):
    client.force_login(User.objects.create_superuser("root", "", "pw"))
    return client


def test_changelists_and_search_load(admin_user_client, project):
    services.images_create(
        project=project, uploads=[ImageUpload(name="a.jpg", data=images.solid())]
    )
    for model in (
        "projects_resource",
        "projects_project",
        "projects_tag",
        "projects_image",
        "training_iteration",
    ):
        url = reverse(f"admin:{model}_changelist")
        assert admin_user_client.get(url).status_code == 200, model
        assert admin_user_client.get(url, {"q": "a"}).status_code == 200, model


def test_adding_a_resource_shows_its_keys_once(admin_user_client, alice):
    response = admin_user_client.post(
        reverse("admin:projects_resource_add"),
        {"name": "from-admin", "kind": "training", "owner": alice.pk},
        follow=True,
    )
    text = response.content.decode()
    key1, key2 = re.search(r"Key 1: ([0-9a-f]{32})\s+Key 2: ([0-9a-f]{32})", text).groups()
    resource = Resource.objects.get(name="from-admin")
    assert (resource.key1_hash, resource.key2_hash) == (key_hash(key1), key_hash(key2))
    change = admin_user_client.get(reverse("admin:projects_resource_change", args=[resource.pk]))
    assert resource.key1_hash not in change.content.decode()


def test_regenerate_key_action(admin_user_client, resource):
    old = resource.key1_hash
    response = admin_user_client.post(
        reverse("admin:projects_resource_changelist"),
        {"action": "regenerate_key1", "_selected_action": [str(resource.pk)]},
        follow=True,
    )
    resource.refresh_from_db()
    key = re.search(r"New Key 1 for [^:]+: ([0-9a-f]{32})", response.content.decode()).group(1)
    assert resource.key1_hash == key_hash(key) != old


def test_image_thumbnail_in_admin(admin_user_client, project):
    [result] = services.images_create(
        project=project, uploads=[ImageUpload(name="a.jpg", data=images.solid())]
    )
    url = reverse("admin:projects_image_thumbnail", args=[result.image.pk])
    assert admin_user_client.get(url)["Content-Type"] == "image/jpeg"


def test_non_staff_cannot_use_admin_thumbnails(alice_client, project):
    [result] = services.images_create(
        project=project, uploads=[ImageUpload(name="a.jpg", data=images.solid())]
    )
    response = alice_client.get(reverse("admin:projects_image_thumbnail", args=[result.image.pk]))
    assert response.status_code == 302  # to the admin login
