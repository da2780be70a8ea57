"""Images, training and iterations through the official SDK, with a real worker."""

from __future__ import annotations

import time

import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    ImageTagCreateEntry,
    PredictionQueryTag,
    PredictionQueryToken,
    SuggestedTagAndRegionQueryToken,
)
from msrest.authentication import ApiKeyCredentials

from projects import services
from tests import images

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def key(alice):
    return services.resource_create(owner=alice, name="sdk", kind="training")[1].key1


@pytest.fixture
def trainer(live_server, key):
    return CustomVisionTrainingClient(
        live_server.url, ApiKeyCredentials(in_headers={"Training-key": key})
    )


def upload_samples(trainer, project, sample_dir):
    hemlock = trainer.create_tag(project.id, "Hemlock")
    cherry = trainer.create_tag(project.id, "Japanese Cherry")
    entries = []
    for folder, tag in (("Hemlock", hemlock), ("Japanese_Cherry", cherry)):
        for path in sorted((sample_dir / folder).glob("*.jpg")):
            entries.append(
                ImageFileCreateEntry(name=path.name, contents=path.read_bytes(), tag_ids=[tag.id])
            )
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful, [i.status for i in summary.images]
    return hemlock, cherry


def test_quickstart_flow_through_the_sdk(
    trainer, sample_dir, start_worker, key, live_server, alice, image_server, allow_local
):
    """The whole of an Azure script: build, train, evaluate, publish, predict (bytes and URL),
    quick test, read and promote stored predictions, suggest, export/import, clean up."""
    start_worker("sdk-trainer")
    project = trainer.create_project("Trees")
    hemlock, cherry = upload_samples(trainer, project, sample_dir)
    _check_the_uploads(trainer, project, hemlock, cherry, key)
    iteration = _train_and_evaluate(trainer, project, hemlock)
    predictor = _publish(trainer, project, iteration, alice, live_server)
    test_photo = (sample_dir / "Test" / "test_image.jpg").read_bytes()
    url = image_server.serve("/test_image.jpg", test_photo)
    by_bytes, by_url = _predict_by_bytes_and_url(predictor, project, test_photo, url)
    quick = _quick_test(trainer, project, iteration, test_photo, url)
    _read_and_promote_stored_predictions(trainer, project, hemlock, by_bytes, by_url, quick)
    _suggest_tags_for_an_untagged_image(trainer, project, iteration, cherry, sample_dir)
    _export_and_import(trainer, project)
    _unpublish_rename_delete(trainer, project, iteration)


def _check_the_uploads(trainer, project, hemlock, cherry, key):
    assert trainer.get_tagged_image_count(project.id) == 20
    assert trainer.get_tagged_image_count(project.id, tag_ids=[hemlock.id]) == 10
    assert trainer.get_untagged_image_count(project.id) == 0
    tagged = trainer.get_tagged_images(project.id, tag_ids=[cherry.id], take=5)
    assert len(tagged) == 5 and all(i.tags[0].tag_name == "Japanese Cherry" for i in tagged)
    original = requests.get(tagged[0].original_image_uri, headers={"Training-Key": key}, timeout=10)
    assert original.status_code == 200 and original.content[:2] == b"\xff\xd8"


def _train_and_evaluate(trainer, project, hemlock):
    iteration = trainer.train_project(project.id)
    assert iteration.status in ("Queued", "Training")
    deadline = time.monotonic() + 180
    while iteration.status in ("Queued", "Training") and time.monotonic() < deadline:
        time.sleep(0.5)
        iteration = trainer.get_iteration(project.id, iteration.id)
    assert iteration.status == "Completed", iteration.training_error_details
    performance = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5)
    assert performance.precision > 0.8 and performance.recall > 0.8
    assert {t.name for t in performance.per_tag_performance} == {"Hemlock", "Japanese Cherry"}
    per_image = trainer.get_image_performances(project.id, iteration.id, take=50)
    assert len(per_image) == 20 == trainer.get_image_performance_count(project.id, iteration.id)
    assert all(len(i.predictions) == 2 and i.tags for i in per_image)
    assert trainer.get_image_performance_count(project.id, iteration.id, [hemlock.id]) == 10

    with pytest.raises(CustomVisionErrorException) as info:
        trainer.train_project(project.id)
    assert info.value.inner_exception.code == "BadRequestTrainingNotNeeded"
    return iteration


def _publish(trainer, project, iteration, alice, live_server):
    """Publishes the iteration; returns a prediction client for it."""
    _resource, prediction_keys = services.resource_create(
        owner=alice, name="trees-prediction", kind="prediction"
    )
    trainer.publish_iteration(project.id, iteration.id, "treeClassModel", str(_resource.id))
    return CustomVisionPredictionClient(
        live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": prediction_keys.key1})
    )


def _predict_by_bytes_and_url(predictor, project, test_photo, url):
    by_bytes = predictor.classify_image(project.id, "treeClassModel", test_photo)
    assert by_bytes.predictions[0].tag_name == "Hemlock"  # the sample "test" photo is a hemlock
    by_url = predictor.classify_image_url(project.id, "treeClassModel", url=url)
    assert by_url.predictions[0].tag_name == "Hemlock"
    assert by_url.predictions[0].probability == pytest.approx(by_bytes.predictions[0].probability)
    predictor.classify_image_url_with_no_store(project.id, "treeClassModel", url=url)
    return by_bytes, by_url


def _quick_test(trainer, project, iteration, test_photo, url):
    """Quick test: stored unless told not to."""
    quick = trainer.quick_test_image_url(project.id, url=url, iteration_id=iteration.id)
    assert quick.predictions[0].tag_name == "Hemlock"
    trainer.quick_test_image(project.id, test_photo, store=False)
    return quick


def _read_and_promote_stored_predictions(trainer, project, hemlock, by_bytes, by_url, quick):
    """Three kept (bytes, URL, quick test); promote one into training."""
    stored = trainer.query_predictions(
        project.id, PredictionQueryToken(order_by="Newest", max_count=10)
    ).results
    assert {p.id for p in stored} == {by_bytes.id, by_url.id, quick.id}
    hemlock_only = trainer.query_predictions(
        project.id,
        PredictionQueryToken(tags=[PredictionQueryTag(id=hemlock.id, min_threshold=0.5)]),
    ).results
    assert len(hemlock_only) == 3
    promoted = trainer.create_images_from_predictions(
        project.id,
        ImageIdCreateBatch(images=[ImageIdCreateEntry(id=by_bytes.id, tag_ids=[hemlock.id])]),
    )
    assert promoted.is_batch_successful
    assert trainer.get_tagged_image_count(project.id, tag_ids=[hemlock.id]) == 11
    trainer.delete_prediction(project.id, [by_url.id])
    left = trainer.query_predictions(project.id, PredictionQueryToken()).results
    assert [p.id for p in left] == [quick.id]


def _suggest_tags_for_an_untagged_image(trainer, project, iteration, cherry, sample_dir):
    cherry_photo = sorted((sample_dir / "Japanese_Cherry").glob("*.jpg"))[0].read_bytes()
    new = trainer.create_images_from_data(project.id, _rotated(cherry_photo)).images[0].image
    [suggestion] = trainer.suggest_tags_and_regions(project.id, iteration.id, [new.id])
    assert suggestion.predictions[0].tag_name == "Japanese Cherry"
    query = trainer.query_suggested_images(
        project.id,
        iteration.id,
        SuggestedTagAndRegionQueryToken(tag_ids=[cherry.id], threshold=0.5),
    )
    assert [r.id for r in query.results] == [new.id]


def _export_and_import(trainer, project):
    exported = trainer.export_project(project.id)
    assert exported.image_count == 22 and exported.tag_count == 2
    copy = trainer.import_project(exported.token, name="Trees copy")
    assert copy.name == "Trees copy" and trainer.get_image_count(copy.id) == 22
    assert {t.name for t in trainer.get_tags(copy.id)} == {"Hemlock", "Japanese Cherry"}


def _unpublish_rename_delete(trainer, project, iteration):
    with pytest.raises(CustomVisionErrorException) as info:
        trainer.delete_iteration(project.id, iteration.id)
    assert info.value.inner_exception.code == "BadRequestIterationIsPublished"
    trainer.unpublish_iteration(project.id, iteration.id)
    assert trainer.update_iteration(project.id, iteration.id, "First").name == "First"
    assert [i.name for i in trainer.get_iterations(project.id)] == ["First"]
    trainer.delete_iteration(project.id, iteration.id)
    assert trainer.get_iterations(project.id) == []


def _rotated(data: bytes) -> bytes:
    """The same photo turned a little: a new image, not a duplicate of a training one."""
    from io import BytesIO

    from PIL import Image as PILImage

    out = BytesIO()
    PILImage.open(BytesIO(data)).rotate(5).save(out, "JPEG")
    return out.getvalue()


def test_partly_failed_batch_is_207_with_a_status_per_image(live_server, key, trainer):
    project = trainer.create_project("P")
    tag = trainer.create_tag(project.id, "T")
    url = (
        f"{live_server.url}/customvision/v3.3/training/projects/{project.id}/images?tagIds={tag.id}"
    )
    files = [
        ("a", ("good.jpg", images.solid(), "image/jpeg")),
        ("b", ("bad.jpg", images.HTML, "image/jpeg")),
    ]
    response = requests.post(url, files=files, headers={"Training-Key": key}, timeout=30)
    assert response.status_code == 207
    body = response.json()
    assert body["isBatchSuccessful"] is False
    assert [i["status"] for i in body["images"]] == ["OK", "ErrorImageFormat"]
    assert body["images"][0]["image"]["tags"][0]["tagName"] == "T"
    # The SDK accepts the 207 and reports per image too.
    summary = trainer.create_images_from_data(project.id, images.HTML)
    assert summary.images[0].status == "ErrorImageFormat"


def test_image_tags_and_delete_through_the_sdk(trainer):
    project = trainer.create_project("P", classification_type="Multilabel")
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    summary = trainer.create_images_from_data(project.id, images.solid())
    image_id = summary.images[0].image.id
    assert trainer.get_untagged_image_count(project.id) == 1
    result = trainer.create_image_tags(
        project.id,
        [
            ImageTagCreateEntry(image_id=image_id, tag_id=a.id),
            ImageTagCreateEntry(image_id=image_id, tag_id=b.id),
        ],
    )
    assert len(result.created) == 2
    again = trainer.create_image_tags(
        project.id, [ImageTagCreateEntry(image_id=image_id, tag_id=a.id)]
    )
    assert len(again.duplicated) == 1
    trainer.delete_image_tags(project.id, [image_id], [a.id])
    [image] = trainer.get_images_by_ids(project.id, [image_id])
    assert [t.tag_name for t in image.tags] == ["b"]
    trainer.delete_images(project.id, image_ids=[image_id])
    assert trainer.get_image_count(project.id) == 0


def test_train_refusals_carry_azures_codes(trainer):
    project = trainer.create_project("P")
    trainer.create_tag(project.id, "a")
    with pytest.raises(CustomVisionErrorException) as info:
        trainer.train_project(project.id)
    assert info.value.inner_exception.code == (
        "BadRequestMultiClassClassificationTrainingValidationFailed"
    )
