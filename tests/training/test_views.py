"""Train button, Performance tab and iteration actions through the test client."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.training.test_services import add
from training.models import Iteration

pytestmark = pytest.mark.django_db


def urls(project, iteration):
    p, i = project.id, iteration.id
    return {
        "GET": [
            reverse("training:train", args=[p]),
            reverse("training:performance_latest", args=[p]),
            reverse("training:performance", args=[p, i]),
            reverse("training:status", args=[p, i]),
        ],
        "POST": [
            reverse("training:train", args=[p]),
            reverse("training:cancel", args=[p, i]),
            reverse("training:rename", args=[p, i]),
            reverse("training:delete", args=[p, i]),
        ],
    }


def test_outsiders_get_404_and_anonymous_users_sign_in(client, bob_client, project, trained):
    for url in urls(project, trained)["GET"]:
        assert bob_client.get(url).status_code == 404, url
        assert client.get(url).status_code == 302, url
    for url in urls(project, trained)["POST"]:
        assert bob_client.post(url, {"name": "x", "training_type": "Regular"}).status_code == 404
    assert Iteration.objects.filter(pk=trained.pk, name=trained.name).exists()


def test_train_button_queues_an_iteration(alice_client, project):
    add(project, "red", 5, ["Red"])
    add(project, "blue", 5, ["Blue"])
    page = alice_client.get(reverse("training:train", args=[project.id]))
    assert b"Quick training" in page.content and b"Advanced training" in page.content
    response = alice_client.post(
        reverse("training:train", args=[project.id]), {"training_type": "Regular"}
    )
    iteration = Iteration.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("training:performance", args=[project.id, iteration.id])
    page = alice_client.get(response["Location"]).content.decode()
    assert 'id="progress"' in page and "Queued" in page


def test_train_refusal_is_explained(alice_client, project):
    add(project, "red", 5, ["Red"])
    response = alice_client.post(
        reverse("training:train", args=[project.id]), {"training_type": "Regular"}
    )
    assert response.status_code == 400
    assert b"at least 2 tags" in response.content
    response = alice_client.post(
        reverse("training:train", args=[project.id]),
        {"training_type": "Advanced", "reserved_budget_hours": ""},
    )
    assert b"Give advanced training a budget" in response.content
    assert not Iteration.objects.exists()


def test_performance_shows_numbers_at_50_percent_and_details(alice_client, project, trained):
    page = alice_client.get(reverse("training:performance", args=[project.id, trained.id]))
    text = page.content.decode()
    assert 'id="overall-precision">100.0%' in text
    assert 'id="overall-recall">100.0%' in text
    assert 'id="overall-ap">100.0%' in text
    assert "efficientnet_lite0" in text and "bundled efficientnet-lite0" in text
    assert '<td class="tag-name">Red</td>' in text and '<td class="tag-name">Blue</td>' in text
    latest = alice_client.get(reverse("training:performance_latest", args=[project.id]))
    assert latest["Location"].endswith(f"/performance/{trained.id}/")


def test_status_json(alice_client, project, trained):
    data = alice_client.get(reverse("training:status", args=[project.id, trained.id])).json()
    assert data == {"status": "Completed", "progress": 100, "phase": "Completed", "error": ""}


def test_rename_and_delete(alice_client, project, trained):
    alice_client.post(reverse("training:rename", args=[project.id, trained.id]), {"name": "Spring"})
    trained.refresh_from_db()
    assert trained.name == "Spring"
    response = alice_client.post(
        reverse("training:delete", args=[project.id, trained.id]), follow=True
    )
    assert b"Deleted Spring" in response.content
    assert not Iteration.objects.exists()


def test_failed_iteration_shows_its_reason(alice_client, project, trained):
    Iteration.objects.filter(pk=trained.pk).update(status="Failed", error="Worker died.")
    text = alice_client.get(reverse("training:performance", args=[project.id, trained.id]))
    assert b"Training failed." in text.content and b"Worker died." in text.content


def test_the_train_page_marks_train_not_performance(alice_client, project):
    page = alice_client.get(reverse("training:train", args=[project.id])).content.decode()
    assert re.search(r'href="[^"]*/train/"[^>]*aria-current="page">Train<', page)
    assert not re.search(r'aria-current="page">Performance<', page)
    assert 'class="field budget-field' in page  # hidden by CSS while Quick is chosen
