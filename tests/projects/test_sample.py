"""The Trees sample project: the service, `manage.py loadsample` and the Projects page button."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from projects import selectors, services
from projects.domains import GENERAL
from projects.models import Project, Resource
from tests.conftest import stored_files
from tests.factories import ProjectFactory, ResourceFactory

pytestmark = pytest.mark.django_db

BUTTON = b"Load sample project (Trees)"


def tag_counts(project: Project) -> dict[str, int]:
    return {t.name: t.image_count for t in selectors.tag_list(project=project)}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("loadsample", *args, stdout=out)
    return out.getvalue()


# --- The service -------------------------------------------------------------------------------


def test_it_creates_the_trees_project_tagged_and_ready_to_train(alice, resource, media_storage):
    project = services.sample_project_load(owner=alice)
    assert project.name == "Trees"
    assert project.owner == alice
    assert project.resource == resource
    assert project.classification_type == Project.ClassificationType.MULTICLASS
    assert project.domain_id == GENERAL.id
    assert tag_counts(project) == {"Hemlock": 10, "Japanese Cherry": 10}
    images = selectors.active_images(project)
    assert images.count() == 20
    assert all(image.tags.count() == 1 for image in images)
    # Test/ holds the photo to try the trained model on: it stays out of the training set.
    assert not images.filter(original_name="test_image.jpg").exists()
    assert len(stored_files(media_storage)) == 40  # each image and its thumbnail


def test_a_second_load_is_named_trees_2(alice, resource):
    first = services.sample_project_load(owner=alice)
    second = services.sample_project_load(owner=alice)
    assert (first.name, second.name) == ("Trees", "Trees 2")
    assert selectors.active_images(second).count() == 20


def test_it_picks_the_next_free_name_ignoring_case(alice, resource, monkeypatch):
    ProjectFactory(owner=alice, resource=resource, name="trees")
    ProjectFactory(owner=alice, resource=resource, name="Trees 2")
    ProjectFactory(name="Trees 3")  # someone else's: does not count
    monkeypatch.setattr("projects.services.sample._fill", lambda project, files: None)
    assert services.sample_project_load(owner=alice).name == "Trees 3"


def test_it_uses_the_owners_training_resource_not_a_prediction_one(alice, monkeypatch):
    ResourceFactory(owner=alice, name="a-prediction", kind=Resource.Kind.PREDICTION)
    training = ResourceFactory(owner=alice, name="b-training")
    monkeypatch.setattr("projects.services.sample._fill", lambda project, files: None)
    assert services.sample_project_load(owner=alice).resource == training


def test_a_user_without_resources_gets_a_training_and_a_prediction_resource(bob):
    project = services.sample_project_load(owner=bob)
    made = {r.name: r.kind for r in Resource.objects.filter(owner=bob)}
    assert made == {"bob-vision": "training", "bob-vision-Prediction": "prediction"}
    assert project.resource.name == "bob-vision"
    assert selectors.active_images(project).count() == 20


def test_a_long_username_gives_a_resource_name_that_fits(monkeypatch, db):
    owner = User.objects.create_user(username="u" * 150)
    monkeypatch.setattr("projects.services.sample._fill", lambda project, files: None)
    resource = services.sample_project_load(owner=owner).resource
    assert len(resource.name) + len("-Prediction") <= 64


def test_an_explicit_resource_must_be_the_owners(alice, bob):
    with pytest.raises(ValidationError, match="training resources"):
        services.sample_project_load(owner=alice, resource=ResourceFactory(owner=bob))
    assert not Project.objects.exists()


def test_missing_sample_photos_are_a_clear_error_and_create_nothing(bob, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    with pytest.raises(ValidationError, match="sample images are missing"):
        services.sample_project_load(owner=bob)
    assert not Project.objects.exists()
    assert not Resource.objects.exists()


def test_a_photo_that_fails_leaves_no_project(alice, resource, settings):
    settings.CV_MAX_IMAGES_PER_PROJECT = 15
    with pytest.raises(ValidationError, match="limit of 15 images"):
        services.sample_project_load(owner=alice)
    assert not Project.objects.exists()


def test_small_upload_batches_still_load_every_photo(alice, resource, settings):
    settings.CV_MAX_IMAGES_PER_BATCH = 4
    project = services.sample_project_load(owner=alice)
    assert tag_counts(project) == {"Hemlock": 10, "Japanese Cherry": 10}


# --- manage.py loadsample ----------------------------------------------------------------------


def test_loadsample_for_a_user_prints_the_project_and_its_page(alice, resource):
    out = run("--user", "alice")
    project = Project.objects.get(owner=alice)
    assert "'Trees'" in out
    assert "20 images" in out
    assert f"/projects/{project.id}/images/" in out


def test_loadsample_defaults_to_the_first_superuser(alice, db):
    admin = User.objects.create_superuser(username="admin", password="x" * 20)
    run()
    assert Project.objects.get().owner == admin


def test_loadsample_without_a_superuser_asks_for_a_user(alice):
    with pytest.raises(CommandError, match="--user"):
        run()


def test_loadsample_for_an_unknown_user_fails(db):
    with pytest.raises(CommandError, match="nobody"):
        run("--user", "nobody")


def test_loadsample_reports_missing_photos(alice, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    with pytest.raises(CommandError, match="sample images are missing"):
        run("--user", "alice")


# --- The Projects page button ------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.post(reverse("projects:sample"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Project.objects.exists()


def test_get_is_not_allowed(alice_client):
    assert alice_client.get(reverse("projects:sample")).status_code == 405
    assert not Project.objects.exists()


def test_post_loads_the_sample_and_opens_its_training_images(alice, resource):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("projects:sample"))
    project = Project.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:images", args=[project.id])
    assert project.name == "Trees"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Loaded the sample project Trees: 20 tagged photos. Press Train when ready."
    ]
    page = client.get(response["Location"])
    assert b"Hemlock" in page.content and b"Japanese Cherry" in page.content


def test_post_with_missing_photos_shows_the_error_on_the_list(alice_client, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    response = alice_client.post(reverse("projects:sample"), follow=True)
    assert response.redirect_chain == [(reverse("projects:list"), 302)]
    assert b"sample images are missing" in response.content
    assert not Project.objects.exists()


def test_the_empty_projects_page_offers_the_sample(alice_client):
    response = alice_client.get(reverse("projects:list"))
    assert BUTTON in response.content
    assert reverse("projects:sample").encode() in response.content


def test_the_button_stays_in_the_header_once_there_are_projects(alice_client, project):
    # Another copy is "Trees 2": a user who changed the first can start over.
    assert alice_client.get(reverse("projects:list")).content.count(BUTTON) == 1


def test_a_first_time_user_gets_resources_with_keys_shown_once(alice_client, alice):
    response = alice_client.post(reverse("projects:sample"), follow=True)
    text = response.content.decode()
    names = set(Resource.objects.filter(owner=alice).values_list("name", "kind"))
    assert names == {("alice-vision", "training"), ("alice-vision-Prediction", "prediction")}
    assert "alice-vision-Prediction" in text and "Copy" in text
    # Shown once.
    assert (
        "alice-vision-Prediction" not in alice_client.get(reverse("projects:list")).content.decode()
    )


def test_csrf_is_enforced(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("projects:sample")).status_code == 403
    assert not Project.objects.exists()
