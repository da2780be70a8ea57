"""A stored detection moved into the training images keeps its boxes as regions."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.utils import timezone

from prediction.models import StoredPrediction
from prediction.services import predictions_to_images
from prediction.services.keeping import Pending, keep
from projects import services
from projects.domains import GENERAL_DETECTION
from projects.models import Image
from tests import images
from training.models import Iteration

pytestmark = pytest.mark.django_db


@pytest.fixture
def detection(alice, resource):
    project = services.project_create(
        owner=alice, resource=resource, name="Shelf", domain_id=GENERAL_DETECTION.id
    )
    tags = {name: services.tag_create(project=project, name=name) for name in ("fork", "knife")}
    services.tag_create(project=project, name="Nothing", type="Negative")
    return project, tags


def kept(project, predictions: list[dict], seed: int = 0) -> StoredPrediction:
    """A detection kept as the prediction endpoint keeps one (its entries as Detect stores
    them: tag, probability and boundingBox)."""
    iteration = Iteration.objects.create(
        project=project, name="Iteration 1", domain_id=project.domain_id, fingerprint="x"
    )
    data = images.distinct(seed + 1)[seed]
    pending = Pending(
        id=uuid.uuid4(),
        project_id=project.id,
        iteration_id=iteration.id,
        data=data,
        extension="jpg",
        content_hash=hashlib.sha256(data).hexdigest(),
        width=300,
        height=300,
        application="",
        predictions=predictions,
        created_at=timezone.now(),
    )
    keep(pending, now=True)
    return StoredPrediction.objects.get(pk=pending.id)


def found(tag, probability: float, left=0.1, top=0.2, width=0.3, height=0.4) -> dict:
    box = {"left": left, "top": top, "width": width, "height": height}
    return {
        "tagId": str(tag.id),
        "tagName": tag.name,
        "tagType": "Regular",
        "probability": probability,
        "boundingBox": box,
    }


def boxes(image: Image) -> set[tuple]:
    return {
        (r.tag.name, *(round(v, 6) for v in (r.left, r.top, r.width, r.height)))
        for r in image.regions.select_related("tag")
    }


def test_a_detection_moved_without_regions_keeps_the_boxes_the_model_was_sure_of(detection):
    project, tags = detection
    stored = kept(
        project,
        [
            found(tags["fork"], 0.93),
            found(tags["knife"], 0.71, left=0.5, top=0.5, width=0.5, height=0.5),
            found(tags["knife"], 0.2, left=0.0),  # a guess: not kept
            found(tags["fork"], 0.8, left=1.0, width=0.0),  # squeezed to nothing at the edge
        ],
    )
    [result] = predictions_to_images(project=project, entries=[(stored.id, [])])
    assert result.status == "OK" and result.image is not None
    image = Image.objects.get(pk=result.image.id)
    assert boxes(image) == {("fork", 0.1, 0.2, 0.3, 0.4), ("knife", 0.5, 0.5, 0.5, 0.5)}
    assert image.tagged and {t.name for t in image.tags.all()} == {"fork", "knife"}
    assert not StoredPrediction.objects.filter(pk=stored.pk).exists()  # moved


def test_named_tags_pick_the_boxes_and_given_regions_replace_them(detection):
    project, tags = detection
    sure = [found(tags["fork"], 0.9), found(tags["knife"], 0.9, left=0.6, width=0.2)]
    first, second = kept(project, sure, seed=0), kept(project, sure, seed=1)
    given = (str(tags["knife"].id), 0.05, 0.05, 0.5, 0.5)
    results = predictions_to_images(
        project=project,
        entries=[(first.id, [tags["fork"].id]), (second.id, [])],
        regions={second.id: [given]},
    )
    assert [r.status for r in results] == ["OK", "OK"]
    assert boxes(results[0].image) == {("fork", 0.1, 0.2, 0.3, 0.4)}
    assert boxes(results[1].image) == {("knife", 0.05, 0.05, 0.5, 0.5)}


def test_boxes_of_a_tag_since_deleted_are_left_out(detection):
    project, tags = detection
    stored = kept(project, [found(tags["fork"], 0.9), found(tags["knife"], 0.9, left=0.5)])
    services.tag_delete(tag=tags["knife"])
    [result] = predictions_to_images(project=project, entries=[(stored.id, [])])
    assert result.status == "OK"
    assert boxes(result.image) == {("fork", 0.1, 0.2, 0.3, 0.4)}
