"""Quick Test and the Predictions tab of an object-detection project through the test client:
boxes over the photo with tag and probability, the weaker ones hidden until the slider shows
them, and a prediction's corrected boxes saved into the training images."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse

from prediction.models import StoredPrediction
from projects.models import Image, Tag
from tests.prediction.detecting import detector_with_stand_in
from tests.training.detection import TEST_PHOTO

pytestmark = pytest.mark.django_db


@pytest.fixture
def detector(alice, resource, monkeypatch):
    return detector_with_stand_in(alice, resource, monkeypatch)


def quick_test(client, iteration, store=True):
    data = {"iteration": iteration.id, "image": _photo()}
    if store:
        data["store"] = "on"
    return client.post(reverse("prediction:quick_test", args=[iteration.project_id]), data)


def _photo():
    file = io.BytesIO(TEST_PHOTO.read_bytes())
    file.name = "test_image.jpg"
    return file


def boxes(html: str) -> list[tuple[str, str]]:
    """Each drawn box's class and whether it is hidden."""
    return re.findall(r'<g class="(box[^"]*)" data-probability="[\d.]+"( hidden)?>', html)


def test_quick_test_draws_the_boxes_and_hides_the_weaker(alice_client, detector):
    response = quick_test(alice_client, detector, store=False)
    html = response.content.decode()
    assert response.status_code == 200
    # Most probable first; below the slider's 50 % hidden, in the picture and in the table.
    assert boxes(html) == [
        ("box box-found", ""),
        ("box box-found", " hidden"),
        ("box box-found", " hidden"),
    ]
    assert '<rect x="10.0000%" y="24.0000%" width="71.0000%" height="56.0000%">' in html
    assert ">fork 92%</text>" in html
    assert 'id="box-threshold" min="0" max="100" step="1" value="50"' in html
    assert "Probability threshold" in html
    rows = re.findall(
        r'<tr data-probability="[\d.]+"( hidden)?><td>(\w+)</td><td class="num">([\d.]+%)', html
    )
    assert rows == [
        ("", "fork", "92.0%"),
        (" hidden", "scissors", "31.0%"),
        (" hidden", "fork", "4.0%"),
    ]
    assert not StoredPrediction.objects.exists()


def test_quick_test_keeps_the_detection_for_predictions(alice_client, detector):
    quick_test(alice_client, detector)
    [stored] = StoredPrediction.objects.all()
    assert [p["tagName"] for p in stored.predictions] == ["fork", "scissors", "fork"]
    assert stored.predictions[0]["boundingBox"]["left"] == pytest.approx(0.10)


@pytest.fixture
def stored(alice_client, detector):
    quick_test(alice_client, detector)
    return StoredPrediction.objects.get()


def detail_url(stored):
    return reverse("prediction:detail", args=[stored.project_id, stored.id])


def save_url(stored):
    return reverse("prediction:save_regions", args=[stored.project_id, stored.id])


def test_the_predictions_grid_draws_each_photos_boxes(alice_client, stored):
    html = alice_client.get(reverse("prediction:list", args=[stored.project_id])).content.decode()
    assert 'data-box-threshold="prediction-grid"' in html
    assert boxes(html) == [
        ("box box-found", ""),
        ("box box-found", " hidden"),
        ("box box-found", " hidden"),
    ]
    assert "Save to training images" in html


def test_a_prediction_shows_its_boxes_and_an_editor_to_correct_them(alice_client, stored):
    response = alice_client.get(detail_url(stored))
    html = response.content.decode()
    assert len(boxes(html)) == 3 and ">fork 92%</text>" in html
    # The editor starts from the boxes the slider shows, saves on its button, to the new URL.
    assert 'data-autosave="false"' in html and f'data-save-url="{save_url(stored)}"' in html
    assert ">Save to training images</button>" in html
    [region] = response.context["regions"]
    fork = next(t for t in stored.iteration.tags if t["name"] == "fork")
    assert region == {
        "left": pytest.approx(0.10),
        "top": pytest.approx(0.24),
        "width": pytest.approx(0.71),
        "height": pytest.approx(0.56),
        "tag_id": fork["id"],
        "tag_name": "fork",
    }
    # Without JS, the tag form still moves it with the model's sure boxes.
    assert "<noscript>" in html and 'id="promote-form"' in html


def post_regions(client, stored, regions):
    return client.post(save_url(stored), {"regions": regions}, content_type="application/json")


def test_save_to_training_images_adds_the_photo_with_the_corrected_boxes(alice_client, stored):
    project = stored.project
    fork = project.tags.get(name="fork")
    regions = [
        {
            "tag_id": str(fork.id),
            "tag_name": "fork",
            "left": 0.1,
            "top": 0.25,
            "width": 0.7,
            "height": 0.5,
        },
        {"tag_id": None, "tag_name": "Spoon", "left": 0.5, "top": 0.1, "width": 0.2, "height": 0.3},
    ]
    response = post_regions(alice_client, stored, regions)
    assert response.status_code == 200, response.content
    answer = response.json()
    image = Image.objects.get(project=project, source=Image.Source.PREDICTION)
    assert answer["redirect"] == reverse("projects:image", args=[project.id, image.id])
    assert sorted(
        (r["tag_name"], r["left"], r["top"], r["width"], r["height"]) for r in answer["regions"]
    ) == [("Spoon", 0.5, 0.1, 0.2, 0.3), ("fork", 0.1, 0.25, 0.7, 0.5)]
    assert project.tags.filter(name="Spoon").exists()  # created by name
    assert {(r.tag.name, r.left) for r in image.regions.all()} == {("fork", 0.1), ("Spoon", 0.5)}
    assert not StoredPrediction.objects.exists()  # it left Predictions


def test_a_refused_save_keeps_the_prediction_and_adds_nothing(alice_client, bob_client, stored):
    negative = Tag.objects.create(project=stored.project, name="Negative", type=Tag.Type.NEGATIVE)
    box = {"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2}
    for regions in (
        [box | {"tag_id": str(negative.id), "tag_name": "Negative"}],
        [{"left": 2}],
        "x",
    ):
        response = post_regions(alice_client, stored, regions)
        assert response.status_code == 400 and response.json()["error"]
    bad = alice_client.post(save_url(stored), b"not json", content_type="application/json")
    assert bad.status_code == 400
    assert StoredPrediction.objects.filter(pk=stored.pk).exists()
    assert (
        not Image.objects.filter(project=stored.project)
        .exclude(source=Image.Source.UPLOAD)
        .exists()
    )
    # The owner's only; GET is not a save.
    assert post_regions(bob_client, stored, []).status_code == 404
    assert alice_client.get(save_url(stored)).status_code == 405
