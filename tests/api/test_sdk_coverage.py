"""Every operation of the installed Python SDK (azure-cognitiveservices-vision-customvision),
called through the SDK itself against a live server, each with a check of what came back.

The list of operations is read from the SDK, not written here: an operation a new SDK adds, or
one this sweep stops calling, fails the coverage test instead of hiding. Object-detection
operations pass when they answer Azure's own error for a classification project (every
project here is one), which the SDK raises as a CustomVisionErrorException with that code.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.operations import (
    CustomVisionPredictionClientOperationsMixin,
)
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    ImageRegionCreateEntry,
    ImageTagCreateEntry,
    ImageUrlCreateBatch,
    ImageUrlCreateEntry,
    PredictionQueryToken,
    Region,
    SuggestedTagAndRegionQueryToken,
)
from azure.cognitiveservices.vision.customvision.training.operations import (
    CustomVisionTrainingClientOperationsMixin,
)
from msrest.authentication import ApiKeyCredentials
from msrest.exceptions import HttpOperationError

from tests.training.synthetic import photo

pytestmark = pytest.mark.django_db(transaction=True)

COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"
GENERAL_DETECTION = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"
NOT_DETECTION = "BadRequestOperationNotSupported"
# Model export belongs to issue #13 (ONNX / DockerFile exports); until it lands these two are
# listed here, by name, so the gap shows in this file rather than hiding.
PENDING: dict[str, str] = {}


def operations(mixin: type) -> set[str]:
    return {n for n, f in inspect.getmembers(mixin, inspect.isfunction) if not n.startswith("_")}


class Recorder:
    """Wraps an SDK client; an operation counts once a call to it returned."""

    def __init__(self, client: Any, passed: set[str]) -> None:
        self._client, self._passed = client, passed

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self._passed.add(name)
            return result

        return call

    def refused(self, name: str, code: str, *args: Any, **kwargs: Any) -> None:
        """The operation answers Azure's error `code`, read by the SDK as Azure's would be."""
        with pytest.raises(HttpOperationError) as info:
            getattr(self._client, name)(*args, **kwargs)
        error = info.value.error  # the SDK's CustomVisionError model: code and message
        assert (info.value.response.status_code, error.code) == (400, code), error.message
        assert error.message
        self._passed.add(name)


@pytest.fixture
def sweep(live_server, keys, image_server, allow_local):
    (_t, tkeys), (prediction_resource, pkeys) = keys
    passed: set[str] = set()
    trainer = Recorder(
        CustomVisionTrainingClient(
            live_server.url, ApiKeyCredentials(in_headers={"Training-key": tkeys.key1})
        ),
        passed,
    )
    predictor = Recorder(
        CustomVisionPredictionClient(
            live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": pkeys.key1})
        ),
        passed,
    )
    return trainer, predictor, prediction_resource, passed


def test_every_sdk_operation_has_a_passing_call(sweep, project, trained, image_server):
    trainer, predictor, prediction_resource, passed = sweep
    p, it = str(project.id), str(trained.id)

    other = _domains_and_projects(trainer, p, project)
    red, blue, green = _tags(trainer, p, it)
    added = _images_in(trainer, p, green, image_server)
    _quick_test_and_stored_predictions(trainer, p, it, red, added.url)
    _read_images_back(trainer, p, it, red, blue, green, added)
    _update_metadata(trainer, p, added.by_file)
    _image_tags(trainer, p, blue, added.untagged)
    _regions_and_proposals(trainer, p, green, added.by_file)
    _suggested_tags(trainer, p, it, red, blue, added.untagged)
    _iterations(trainer, p, it)
    _publish_classify_detect(trainer, predictor, p, it, prediction_resource, added.url)
    _export_iteration(trainer, p, it)
    _train_again_and_take_it_back(trainer, p, red, blue)
    _export_import_and_deletes(trainer, p, it, added.by_data, green, other)

    everything = operations(CustomVisionTrainingClientOperationsMixin) | operations(
        CustomVisionPredictionClientOperationsMixin
    )
    assert set(PENDING) <= everything, "the SDK renamed an operation this file excuses"
    missing = sorted(everything - passed - set(PENDING))
    assert not missing, f"SDK operations without a passing call: {missing}"


@dataclass
class Added:
    """The images the sweep adds, by how they came in."""

    by_data: str
    by_file: str
    url: str
    untagged: str


def _domains_and_projects(trainer, p, project):
    """Domains and projects, with the settings Azure keeps; returns a second project."""
    domains = trainer.get_domains()
    assert trainer.get_domain(domains[0].id).name == domains[0].name
    assert p in {x.id for x in trainer.get_projects()}
    assert trainer.get_project(p).name == project.name
    other = trainer.create_project("Sweep", domain_id=COMPACT, target_export_platforms=["ONNX"])
    assert other.settings.target_export_platforms == ["ONNX"]
    other.settings.target_export_platforms = ["ONNX", "CoreML"]
    assert trainer.update_project(other.id, other).settings.target_export_platforms == [
        "ONNX",
        "CoreML",
    ]
    assert trainer.get_project(other.id).settings.target_export_platforms == ["ONNX", "CoreML"]
    return other


def _tags(trainer, p, it):
    """Tags, now and as the iteration saw them; returns Red, Blue and a new Green."""
    tags = {t.name: t for t in trainer.get_tags(p)}
    red, blue = tags["Red"], tags["Blue"]
    green = trainer.create_tag(p, "Green", description="new since the iteration")
    assert "Green" not in {t.name for t in trainer.get_tags(p, iteration_id=it)}
    seen_red = trainer.get_tag(p, red.id, iteration_id=it)
    assert (seen_red.name, seen_red.image_count) == ("Red", 5)
    green.description = "grass"
    assert trainer.update_tag(p, green.id, green).description == "grass"
    assert trainer.get_tag(p, green.id).description == "grass"
    return red, blue, green


def _images_in(trainer, p, green, image_server) -> Added:
    """Images in, with batch metadata."""
    by_data = trainer.create_images_from_data(p, photo("green", seed=1), tag_ids=[green.id])
    assert by_data.is_batch_successful
    files = trainer.create_images_from_files(
        p,
        ImageFileCreateBatch(
            images=[ImageFileCreateEntry(name="g.jpg", contents=photo("green", seed=2))],
            tag_ids=[green.id],
            metadata={"Camera": "north", "site": "A"},
        ),
    )
    by_file = files.images[0].image
    assert by_file.metadata == {"Camera": "north", "site": "A"}
    url = image_server.serve("/green.jpg", photo("green", seed=3))
    urls = trainer.create_images_from_urls(
        p,
        ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=url)], metadata={"site": "B"}),
    )
    assert urls.is_batch_successful and urls.images[0].image.metadata == {"site": "B"}
    return Added(by_data.images[0].image.id, by_file.id, url, urls.images[0].image.id)


def _quick_test_and_stored_predictions(trainer, p, it, red, url):
    """Quick test keeps the image (Azure's default), which then becomes a training image."""
    quick = trainer.quick_test_image(p, photo("red", seed=4), iteration_id=it)
    assert quick.predictions[0].tag_name == "Red"
    by_url = trainer.quick_test_image_url(p, url, iteration_id=it)
    assert by_url.predictions
    stored = trainer.query_predictions(p, PredictionQueryToken(order_by="Newest"))
    assert {r.id for r in stored.results} == {quick.id, by_url.id}
    moved = trainer.create_images_from_predictions(
        p, ImageIdCreateBatch(images=[ImageIdCreateEntry(id=quick.id)], tag_ids=[red.id])
    )
    assert moved.is_batch_successful
    trainer.delete_prediction(p, [by_url.id])
    assert trainer.query_predictions(p, PredictionQueryToken()).results == []


def _read_images_back(trainer, p, it, red, blue, green, added: Added):
    """Reading images back: filters, metadata $filter, iterationId."""
    assert len(trainer.get_images(p, take=256)) == 14
    assert len(trainer.get_images(p, iteration_id=it)) == 10
    assert trainer.get_image_count(p, iteration_id=it, tag_ids=[red.id]) == 5
    assert trainer.get_image_count(p, tagging_status="Untagged") == 1
    assert trainer.get_image_count(p, tagging_status="Tagged", tag_ids=[green.id]) == 2
    assert trainer.get_image_count(p, filter="site eq 'A' or site eq 'B'") == 2
    assert trainer.get_image_count(p, filter="site ne 'A'") == 13
    found = trainer.get_images(p, filter="Camera eq 'north' and site eq 'A'")
    assert [i.id for i in found] == [added.by_file]
    assert len(trainer.get_tagged_images(p, tag_ids=[red.id], take=50)) == 6
    assert len(trainer.get_tagged_images(p, iteration_id=it, tag_ids=[red.id])) == 5
    assert [i.id for i in trainer.get_untagged_images(p)] == [added.untagged]
    assert trainer.get_untagged_images(p, iteration_id=it) == []
    assert trainer.get_tagged_image_count(p) == 13
    assert trainer.get_tagged_image_count(p, iteration_id=it, tag_ids=[blue.id]) == 5
    assert trainer.get_untagged_image_count(p) == 1
    assert trainer.get_untagged_image_count(p, iteration_id=it) == 0
    by_ids = trainer.get_images_by_ids(p, image_ids=[added.by_file])
    assert [i.id for i in by_ids] == [added.by_file]


def _update_metadata(trainer, p, by_file):
    """Metadata updates merge, and say which images they could not touch."""
    summary = trainer.update_image_metadata(p, [by_file, str(uuid.uuid4())], {"site": "C"})
    assert not summary.is_batch_successful
    assert [(e.status, e.metadata) for e in summary.images] == [
        ("OK", {"Camera": "north", "site": "C"}),
        ("ErrorImageNotFound", None),
    ]
    artifact = b"".join(trainer.get_artifact(p, f"images/{by_file}/thumbnail"))
    assert artifact[:2] == b"\xff\xd8"  # a JPEG thumbnail


def _image_tags(trainer, p, blue, untagged):
    made = trainer.create_image_tags(p, [ImageTagCreateEntry(image_id=untagged, tag_id=blue.id)])
    assert len(made.created) == 1
    trainer.delete_image_tags(p, [untagged], [blue.id])
    assert trainer.get_untagged_image_count(p) == 1


def _regions_and_proposals(trainer, p, green, by_file):
    """Regions and proposals: real ones in an object-detection project, Azure's error in a
    classification project."""
    region = ImageRegionCreateEntry(
        image_id=by_file, tag_id=green.id, left=0.1, top=0.1, width=0.5, height=0.5
    )
    with pytest.raises(HttpOperationError) as info:
        trainer._client.create_image_regions(p, [region])
    assert info.value.error.code == NOT_DETECTION
    od = trainer.create_project("Sweep OD", domain_id=GENERAL_DETECTION)
    fork = trainer.create_tag(od.id, "fork")
    box = Region(tag_id=fork.id, left=0.2, top=0.2, width=0.3, height=0.3)
    image = (
        trainer.create_images_from_files(
            od.id,
            ImageFileCreateBatch(
                images=[
                    ImageFileCreateEntry(name="f.jpg", contents=photo("red", seed=9), regions=[box])
                ]
            ),
        )
        .images[0]
        .image
    )
    made = trainer.create_image_regions(
        od.id,
        [
            ImageRegionCreateEntry(
                image_id=image.id, tag_id=fork.id, left=0.5, top=0.5, width=0.4, height=0.4
            )
        ],
    )
    assert [r.tag_name for r in made.created] == ["fork"]
    proposals = trainer.get_image_region_proposals(od.id, image.id)
    assert proposals.image_id == image.id and proposals.proposals
    assert all(0 <= p.bounding_box.left <= 1 for p in proposals.proposals)
    trainer.delete_image_regions(od.id, [made.created[0].region_id])
    assert len(trainer.get_images_by_ids(od.id, image_ids=[image.id])[0].regions) == 1
    trainer.delete_project(od.id)


def _suggested_tags(trainer, p, it, red, blue, untagged):
    """Suggested tags from the iteration."""
    suggested = trainer.suggest_tags_and_regions(p, it, [untagged])
    assert suggested[0].id == untagged and suggested[0].predictions
    page = trainer.query_suggested_images(
        p, it, SuggestedTagAndRegionQueryToken(tag_ids=[red.id, blue.id], threshold=0.0)
    )
    assert [r.id for r in page.results] == [untagged]
    counts = trainer.query_suggested_image_count(p, it, tag_ids=[red.id, blue.id], threshold=0.0)
    assert sum(counts.values()) >= 1


def _iterations(trainer, p, it):
    """Iterations and their figures."""
    assert it in {i.id for i in trainer.get_iterations(p)}
    assert trainer.update_iteration(p, it, name="Swept").name == "Swept"
    assert trainer.get_iteration(p, it).name == "Swept"
    performance = trainer.get_iteration_performance(p, it, threshold=0.5)
    assert {t.name for t in performance.per_tag_performance} == {"Red", "Blue"}
    assert len(trainer.get_image_performances(p, it, take=50)) == 10
    assert trainer.get_image_performance_count(p, it) == 10


def _publish_classify_detect(trainer, predictor, p, it, prediction_resource, url):
    assert trainer.publish_iteration(p, it, "sweep", str(prediction_resource.id))
    assert predictor.classify_image(p, "sweep", photo("blue", seed=5)).predictions
    assert predictor.classify_image_with_no_store(p, "sweep", photo("red", seed=6)).predictions
    assert predictor.classify_image_url(p, "sweep", url).predictions
    assert predictor.classify_image_url_with_no_store(p, "sweep", url).predictions
    for name in ("detect_image", "detect_image_with_no_store"):
        predictor.refused(name, NOT_DETECTION, p, "sweep", photo("red", seed=7))
    for name in ("detect_image_url", "detect_image_url_with_no_store"):
        predictor.refused(name, NOT_DETECTION, p, "sweep", url)
    trainer.unpublish_iteration(p, it)


def _export_iteration(trainer, p, it):
    """No worker here: it stays Exporting; tests/api/test_export_sdk.py finishes one."""
    export = trainer.export_iteration(p, it, "ONNX", flavor="OnnxFloat16")
    assert (export.platform, export.flavor, export.status) == ("ONNX", "OnnxFloat16", "Exporting")
    assert [(e.platform, e.status) for e in trainer.get_exports(p, it)] == [("ONNX", "Exporting")]


def _train_again_and_take_it_back(trainer, p, red, blue):
    """Red has a new image; Green has too few to train."""
    queued = trainer.train_project(p, selected_tags=[red.id, blue.id])
    assert queued.status == "Training"  # waiting for a worker reads as Azure's does
    trainer.delete_iteration(p, queued.id)


def _export_import_and_deletes(trainer, p, it, by_data, green, other):
    token = trainer.export_project(p).token
    copy = trainer.import_project(token, name="Sweep copy")
    assert copy.name == "Sweep copy"
    trainer.delete_images(p, image_ids=[by_data], all_iterations=True)
    trainer.delete_tag(p, green.id)
    trainer.delete_iteration(p, it)
    trainer.delete_project(other.id)
