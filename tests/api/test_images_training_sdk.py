"""Images, training and iterations through the official SDK, with a real worker."""

from __future__ import annotations

import time

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageTagCreateEntry,
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


def test_quickstart_flow_through_the_sdk(trainer, sample_dir, start_worker, key, live_server):
    start_worker("sdk-trainer")
    project = trainer.create_project("Trees")
    hemlock, cherry = upload_samples(trainer, project, sample_dir)
    assert trainer.get_tagged_image_count(project.id) == 20
    assert trainer.get_tagged_image_count(project.id, tag_ids=[hemlock.id]) == 10
    assert trainer.get_untagged_image_count(project.id) == 0
    tagged = trainer.get_tagged_images(project.id, tag_ids=[cherry.id], take=5)
    assert len(tagged) == 5 and all(i.tags[0].tag_name == "Japanese Cherry" for i in tagged)
    original = requests.get(tagged[0].original_image_uri, headers={"Training-Key": key}, timeout=10)
    assert original.status_code == 200 and original.content[:2] == b"\xff\xd8"

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

    with pytest.raises(CustomVisionErrorException) as info:
        trainer.train_project(project.id)
    assert info.value.inner_exception.code == "BadRequestTrainingNotNeeded"

    assert trainer.update_iteration(project.id, iteration.id, "First").name == "First"
    assert [i.name for i in trainer.get_iterations(project.id)] == ["First"]
    trainer.delete_iteration(project.id, iteration.id)
    assert trainer.get_iterations(project.id) == []


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
