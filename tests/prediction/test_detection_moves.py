"""An object-detection iteration's suggestions carry regions (QuerySuggestedImages through
Microsoft's SDK), and a kept detection moved into the training images keeps its boxes."""

from __future__ import annotations

import io
import uuid

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    SuggestedTagAndRegionQueryToken,
)
from msrest.authentication import ApiKeyCredentials
from PIL import Image as PILImage
from PIL import ImageOps

from prediction.models import StoredPrediction, Suggestion
from prediction.services import prediction_detect, suggested_untagged, suggestions_confirm
from prediction.services.stored import KEPT_PROBABILITY
from projects import rules
from projects import services as project_services
from projects.models import Image
from projects.services import ImageUpload
from tests.api.test_readme_detection_quickstarts import FORK, iou
from tests.training.detection import OD_SAMPLES, TEST_PHOTO, add_sample_photos, detection_project
from training import services as training_services
from training.models import Iteration

pytestmark = pytest.mark.django_db


@pytest.fixture
def detector(alice, resource, monkeypatch):
    """A detector trained in-process on eight forks and eight scissors (Azure's minimum of 15
    lowered, so that it trains in seconds), and two photos left without a box."""
    monkeypatch.setattr(rules, "MIN_IMAGES_PER_TAG_DETECTION", 8)
    project = detection_project(alice, resource)
    add_sample_photos(project, 8)
    iteration = training_services.iteration_train_start(project=project)
    training_services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.COMPLETED, iteration.error
    untagged = [
        ImageUpload(name="test_image.jpg", data=TEST_PHOTO.read_bytes()),
        ImageUpload(
            name="scissors_20.jpg", data=(OD_SAMPLES / "scissors" / "scissors_20.jpg").read_bytes()
        ),
    ]
    assert all(
        r.status.ok for r in project_services.images_create(project=project, uploads=untagged)
    )
    return project, iteration


def test_suggestions_for_untagged_photos_are_regions(detector):
    project, iteration = detector
    found, pending = suggested_untagged(project=project, iteration=iteration)
    assert pending == 0 and len(found) == 2
    by_name = {s.image.original_name: s for s in found}
    fork = by_name["test_image.jpg"].predictions
    assert fork and all(set(p["boundingBox"]) == {"left", "top", "width", "height"} for p in fork)
    assert [p["probability"] for p in fork] == sorted(
        (p["probability"] for p in fork), reverse=True
    )
    best = fork[0]
    assert best["tagName"] == "fork"
    box = best["boundingBox"]
    assert iou((box["left"], box["top"], box["width"], box["height"]), FORK) >= 0.5
    assert Suggestion.objects.filter(iteration=iteration).count() == 2  # kept for the next call
    # Filtered by tag and threshold as Azure's QuerySuggestedImages: the fork photo only.
    only, _ = suggested_untagged(
        project=project, iteration=iteration, tag_ids=[best["tagId"]], threshold=best["probability"]
    )
    assert [s.image.original_name for s in only] == ["test_image.jpg"]


def test_confirming_a_suggested_tag_adds_its_suggested_boxes(detector):
    project, iteration = detector
    [uploaded] = project_services.images_create(
        project=project, uploads=[ImageUpload(name="mirror.jpg", data=surest_mirror(iteration))]
    )
    found, _ = suggested_untagged(project=project, iteration=iteration)
    [suggestion] = [s for s in found if s.image_id == uploaded.image.id]
    fork = next(t for t in iteration.tags if t["name"] == "fork")
    sure = [
        p
        for p in suggestion.predictions
        if p["tagId"] == fork["id"] and p["probability"] >= KEPT_PROBABILITY
    ]
    assert sure, suggestion.predictions[:3]  # the model is sure of a fork it trained on
    pairs = [(uploaded.image.id, uuid.UUID(fork["id"]))]
    assert suggestions_confirm(project=project, pairs=pairs, iteration=iteration) == 1
    image = Image.objects.get(pk=uploaded.image.id)
    expected = {(uuid.UUID(fork["id"]), *_rounded(p["boundingBox"])) for p in sure}
    assert image.tagged and _boxes(image.regions.all()) == expected
    # Now tagged, it is no longer suggested.
    again, _ = suggested_untagged(project=project, iteration=iteration)
    assert uploaded.image.id not in {s.image_id for s in again}


@pytest.fixture
def trainer(live_server, alice):
    key = project_services.resource_create(owner=alice, name="sdk", kind="training")[1].key1
    return CustomVisionTrainingClient(
        live_server.url, ApiKeyCredentials(in_headers={"Training-key": key})
    )


@pytest.mark.django_db(transaction=True)
def test_through_the_sdk_suggestions_are_regions_and_a_kept_detection_keeps_its_boxes(
    detector, trainer
):
    project, iteration = detector
    token = SuggestedTagAndRegionQueryToken(max_count=10)
    answer = trainer.query_suggested_images(project.id, iteration.id, token)
    assert len(answer.results) == 2
    for result in answer.results:
        assert result.predictions
        for prediction in result.predictions:
            box = prediction.bounding_box
            assert box is not None and 0 <= box.left <= 1 and 0 < box.width <= 1
    [photo] = [r for r in answer.results if r.id in _ids(project, "test_image.jpg")]
    assert photo.predictions[0].tag_name == "fork"
    [suggested] = trainer.suggest_tags_and_regions(project.id, iteration.id, [photo.id])
    assert suggested.predictions[0].bounding_box.width > 0

    # A detection kept by the prediction endpoint, then moved into the training images: a
    # training photo seen in a mirror, so that a model of sixteen photos is sure of its fork.
    result = prediction_detect(
        iteration=iteration, data=surest_mirror(iteration), store=True, keep_now=True
    )
    stored = StoredPrediction.objects.get(pk=result.id)
    sure = [p for p in stored.predictions if p["probability"] >= KEPT_PROBABILITY]
    assert sure, [(p["tagName"], round(p["probability"], 3)) for p in stored.predictions[:5]]
    batch = ImageIdCreateBatch(images=[ImageIdCreateEntry(id=str(stored.id))])
    created = trainer.create_images_from_predictions(project.id, batch)
    assert created.is_batch_successful
    image = Image.objects.get(pk=created.images[0].image.id)
    assert image.tagged and _boxes(image.regions.all()) == {
        (uuid.UUID(p["tagId"]), *_rounded(p["boundingBox"])) for p in sure
    }
    # Its JSON lists them, as every image's does.
    [listed] = trainer.get_images_by_ids(project.id, image_ids=[str(image.id)])
    assert len(listed.regions) == len(sure)


def surest_mirror(iteration: Iteration) -> bytes:
    """The training fork photo, seen in a mirror, that the model is surest of: at least
    KEPT_PROBABILITY sure, or a model of sixteen photos found none of its own forks."""
    photos = [mirrored(f"fork_{i}.jpg") for i in range(1, 9)]
    best = [prediction_detect(iteration=iteration, data=p, store=False).predictions for p in photos]
    scores = [
        max((p.probability for p in found if p.tag_name == "fork"), default=0.0) for found in best
    ]
    assert max(scores) >= KEPT_PROBABILITY, scores
    return photos[scores.index(max(scores))]


def mirrored(name: str) -> bytes:
    with PILImage.open(OD_SAMPLES / "fork" / name) as photo:
        out = io.BytesIO()
        ImageOps.mirror(photo).save(out, "JPEG", quality=95)
    return out.getvalue()


def _rounded(box: dict) -> tuple[float, ...]:
    return tuple(round(box[k], 5) for k in ("left", "top", "width", "height"))


def _boxes(regions) -> set[tuple]:
    return {
        (r.tag_id, *_rounded({"left": r.left, "top": r.top, "width": r.width, "height": r.height}))
        for r in regions
    }


def _ids(project, name: str) -> set[str]:
    images = Image.objects.filter(project=project, original_name=name)
    return {str(i) for i in images.values_list("id", flat=True)}
