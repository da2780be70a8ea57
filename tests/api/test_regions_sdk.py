"""Object-detection projects and their regions through Microsoft's Python SDK, as the OD
quickstart and labelling scripts call them: domains with their type, regions with uploads
(files, URLs, stored predictions), CreateImageRegions / DeleteImageRegions, and image JSON."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    ImageRegionCreateEntry,
    ImageTagCreateEntry,
    ImageUrlCreateBatch,
    ImageUrlCreateEntry,
    Region,
)
from msrest.authentication import ApiKeyCredentials

from core import storage
from prediction.models import StoredPrediction
from projects import services
from projects.models import Project

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "custom-vision-od-sample"
BOXES = json.loads((SAMPLE / "regions.json").read_text())


@pytest.fixture
def key(alice):
    return services.resource_create(owner=alice, name="od", kind="training")[1].key1


@pytest.fixture
def trainer(live_server, key):
    return CustomVisionTrainingClient(
        live_server.url, ApiKeyCredentials(in_headers={"Training-key": key})
    )


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(CustomVisionErrorException) as info:
        call(*args, **kwargs)
    assert info.value.response.status_code == 400
    return info.value.inner_exception.code


def entry(name: str, tags) -> ImageFileCreateEntry:
    """A sample photo with its quickstart box, as Microsoft's OD quickstart builds it."""
    box = BOXES[name]
    folder = name.split("_")[0]
    region = Region(
        tag_id=tags[box["tag"]].id,
        left=box["left"],
        top=box["top"],
        width=box["width"],
        height=box["height"],
    )
    return ImageFileCreateEntry(
        name=name, contents=(SAMPLE / folder / name).read_bytes(), regions=[region]
    )


def detection_project(trainer):
    """The quickstart's first lines, unchanged: its domain, its project, its tags."""
    obj_detection_domain = next(
        domain
        for domain in trainer.get_domains()
        if domain.type == "ObjectDetection" and domain.name == "General"
    )
    project = trainer.create_project("Fork and scissors", domain_id=obj_detection_domain.id)
    tags = {n: trainer.create_tag(project.id, n) for n in ("fork", "scissors")}
    return project, tags


def test_a_detection_project_keeps_its_type(trainer):
    domains = trainer.get_domains()
    detection = {d.name for d in domains if d.type == "ObjectDetection"}
    assert detection == {
        "General",
        "General [A1]",
        "Logo",
        "Products on Shelves",
        "General (compact)",
        "General (compact) [S1]",
    }
    project, _tags = detection_project(trainer)
    read = trainer.get_project(project.id)
    assert read.settings.classification_type is None  # as Azure's, for a detector
    assert trainer.get_domain(read.settings.domain_id).type == "ObjectDetection"
    compact = next(d for d in domains if d.type == "ObjectDetection" and d.name.endswith("[S1]"))
    read.settings.domain_id = compact.id
    assert trainer.update_project(project.id, read).settings.domain_id == compact.id
    classifier = next(d for d in domains if d.type == "Classification")
    read.settings.domain_id = classifier.id
    code = error_code(trainer.update_project, project.id, read)
    assert code == "BadRequestProjectUnsupportedDomainTypeChange"
    other = trainer.create_project("Classifier")
    other.settings.domain_id = compact.id
    code = error_code(trainer.update_project, other.id, other)
    assert code == "BadRequestProjectUnsupportedDomainTypeChange"


def test_regions_come_with_uploads_and_tag_their_images(trainer, image_server, allow_local):
    project, tags = detection_project(trainer)
    names = ["fork_1.jpg", "fork_2.jpg", "scissors_1.jpg"]
    summary = trainer.create_images_from_files(
        project.id, ImageFileCreateBatch(images=[entry(n, tags) for n in names])
    )
    assert summary.is_batch_successful
    fork_1 = summary.images[0].image
    region = fork_1.regions[0]
    assert (region.tag_name, region.tag_id) == ("fork", tags["fork"].id)
    assert region.left == pytest.approx(BOXES["fork_1.jpg"]["left"])
    assert [t.tag_name for t in fork_1.tags] == ["fork"]

    url = image_server.serve(
        "/scissors_2.jpg", (SAMPLE / "scissors" / "scissors_2.jpg").read_bytes()
    )
    box = BOXES["scissors_2.jpg"]
    by_url = trainer.create_images_from_urls(
        project.id,
        ImageUrlCreateBatch(
            images=[
                ImageUrlCreateEntry(
                    url=url,
                    regions=[
                        Region(
                            tag_id=tags["scissors"].id,
                            **{k: box[k] for k in ("left", "top", "width", "height")},
                        )
                    ],
                )
            ]
        ),
    )
    assert by_url.images[0].image.regions[0].tag_name == "scissors"
    # Tag ids alone tag nothing in a detection project: the image goes in untagged.
    plain = trainer.create_images_from_files(
        project.id,
        ImageFileCreateBatch(
            images=[
                ImageFileCreateEntry(
                    name="t.jpg", contents=(SAMPLE / "test" / "test_image.jpg").read_bytes()
                )
            ],
            tag_ids=[tags["fork"].id],
        ),
    )
    assert plain.is_batch_successful and plain.images[0].image.tags == []

    assert trainer.get_tagged_image_count(project.id) == 4
    assert trainer.get_untagged_image_count(project.id) == 1
    assert trainer.get_tagged_image_count(project.id, tag_ids=[tags["fork"].id]) == 2
    assert {t.name: t.image_count for t in trainer.get_tags(project.id)} == {
        "fork": 2,
        "scissors": 2,
    }
    listed = trainer.get_tagged_images(project.id, tag_ids=[tags["scissors"].id])
    assert sorted(len(i.regions) for i in listed) == [1, 1]
    assert all(i.regions[0].region_id and i.regions[0].created for i in listed)


def test_create_and_delete_image_regions(trainer):
    project, tags = detection_project(trainer)
    summary = trainer.create_images_from_files(
        project.id,
        ImageFileCreateBatch(
            images=[
                ImageFileCreateEntry(name=n, contents=(SAMPLE / "fork" / n).read_bytes())
                for n in ("fork_3.jpg", "fork_4.jpg")
            ]
        ),
    )
    first, second = (i.image.id for i in summary.images)
    fork, scissors = tags["fork"].id, tags["scissors"].id
    made = trainer.create_image_regions(
        project.id,
        [
            ImageRegionCreateEntry(
                image_id=first, tag_id=fork, left=0.1, top=0.1, width=0.5, height=0.5
            ),
            ImageRegionCreateEntry(
                image_id=first, tag_id=scissors, left=0.2, top=0.2, width=0.3, height=0.3
            ),
        ],
    )
    assert [(r.image_id, r.tag_name) for r in made.created] == [
        (first, "fork"),
        (first, "scissors"),
    ]
    assert all(r.region_id for r in made.created) and not made.duplicated
    again = trainer.create_image_regions(
        project.id,
        [
            ImageRegionCreateEntry(
                image_id=first, tag_id=fork, left=0.1, top=0.1, width=0.5, height=0.5
            ),
            ImageRegionCreateEntry(
                image_id=second, tag_id=fork, left=0.0, top=0.0, width=1.0, height=1.0
            ),
        ],
    )
    assert [d.image_id for d in again.duplicated] == [first]
    assert [c.image_id for c in again.created] == [second]
    image = trainer.get_images_by_ids(project.id, image_ids=[first])[0]
    assert {r.tag_name for r in image.regions} == {"fork", "scissors"}
    assert {t.tag_name for t in image.tags} == {"fork", "scissors"}

    trainer.delete_image_regions(project.id, [r.region_id for r in made.created])
    assert trainer.get_images_by_ids(project.id, image_ids=[first])[0].regions == []
    assert trainer.get_untagged_image_count(project.id) == 1
    assert trainer.get_tag(project.id, fork).image_count == 1


def test_bad_regions_get_azures_errors(trainer):
    project, tags = detection_project(trainer)
    summary = trainer.create_images_from_files(
        project.id,
        ImageFileCreateBatch(
            images=[
                ImageFileCreateEntry(
                    name="f.jpg", contents=(SAMPLE / "fork" / "fork_5.jpg").read_bytes()
                )
            ]
        ),
    )
    image_id, fork = summary.images[0].image.id, tags["fork"].id

    def region(**box):
        return ImageRegionCreateEntry(
            image_id=image_id,
            tag_id=fork,
            **{"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2, **box},
        )

    assert (
        error_code(trainer.create_image_regions, project.id, [region(left=0.9)])
        == "BadRequestImageRegions"
    )
    assert (
        error_code(trainer.create_image_regions, project.id, [region(width=0)])
        == "BadRequestImageRegions"
    )
    assert (
        error_code(trainer.create_image_regions, project.id, [region(), region()])
        == "BadRequestImageRegions"
    )
    stranger = ImageRegionCreateEntry(
        image_id=str(uuid.uuid4()), tag_id=fork, left=0, top=0, width=1, height=1
    )
    assert (
        error_code(trainer.create_image_regions, project.id, [stranger]) == "BadRequestInvalidIds"
    )
    many = [region(left=i / 100, width=0.01) for i in range(65)]
    assert (
        error_code(trainer.create_image_regions, project.id, many) == "BadRequestExceededBatchSize"
    )
    pair = ImageTagCreateEntry(image_id=image_id, tag_id=fork)
    assert error_code(trainer.create_image_tags, project.id, [pair]) == "BadRequestImageTags"
    bad_upload = ImageFileCreateEntry(
        name="g.jpg",
        contents=(SAMPLE / "fork" / "fork_6.jpg").read_bytes(),
        regions=[Region(tag_id=fork, left=0.5, top=0.5, width=0.6, height=0.1)],
    )
    code = error_code(
        trainer.create_images_from_files, project.id, ImageFileCreateBatch(images=[bad_upload])
    )
    assert code == "BadRequestImageRegions"
    assert trainer.get_image_count(project.id) == 1


def test_a_stored_prediction_moves_in_with_its_regions(trainer, alice):
    project, tags = detection_project(trainer)
    local = Project.objects.get(id=project.id)
    data = (SAMPLE / "scissors" / "scissors_3.jpg").read_bytes()
    prediction_id = uuid.uuid4()
    name = storage.save(f"{storage.prediction_base(local.id, prediction_id)}.jpg", data)
    StoredPrediction.objects.create(
        id=prediction_id, project=local, file=name, content_hash="x", width=1, height=1
    )
    box = BOXES["scissors_3.jpg"]
    moved = trainer.create_images_from_predictions(
        project.id,
        ImageIdCreateBatch(
            images=[
                ImageIdCreateEntry(
                    id=str(prediction_id),
                    regions=[
                        Region(
                            tag_id=tags["scissors"].id,
                            **{k: box[k] for k in ("left", "top", "width", "height")},
                        )
                    ],
                )
            ]
        ),
    )
    assert moved.is_batch_successful
    assert [r.tag_name for r in moved.images[0].image.regions] == ["scissors"]
    assert trainer.get_tag(project.id, tags["scissors"].id).image_count == 1


def test_images_as_an_iteration_saw_them_carry_its_regions(trainer):
    project, tags = detection_project(trainer)
    summary = trainer.create_images_from_files(
        project.id, ImageFileCreateBatch(images=[entry("scissors_4.jpg", tags)])
    )
    image = summary.images[0].image
    local = Project.objects.get(id=project.id)
    seen = [{"id": tags["scissors"].id, "name": "scissors", "type": "Regular"}]
    iteration = local.iterations.create(name="Iteration 1", domain_id=local.domain_id, tags=seen)
    iteration.images.create(
        image_id=image.id, tag_ids=[tags["scissors"].id], regions=[[0, 0.1, 0.2, 0.3, 0.4]]
    )
    trainer.delete_image_regions(project.id, [image.regions[0].region_id])  # changed since
    (then,) = trainer.get_images(project.id, iteration_id=str(iteration.id))
    assert [(r.tag_name, r.left, r.top, r.width, r.height) for r in then.regions] == [
        ("scissors", 0.1, 0.2, 0.3, 0.4)
    ]
    assert trainer.get_images(project.id)[0].regions == []


def test_regions_and_proposals_refuse_a_classification_project(trainer, live_server, key):
    project = trainer.create_project("Classifier")
    tag = trainer.create_tag(project.id, "Red")
    summary = trainer.create_images_from_files(
        project.id,
        ImageFileCreateBatch(
            images=[
                ImageFileCreateEntry(
                    name="f.jpg", contents=(SAMPLE / "fork" / "fork_7.jpg").read_bytes()
                )
            ],
            tag_ids=[tag.id],
        ),
    )
    image_id = summary.images[0].image.id
    region = ImageRegionCreateEntry(
        image_id=image_id, tag_id=tag.id, left=0.1, top=0.1, width=0.2, height=0.2
    )
    refused = "BadRequestOperationNotSupported"
    assert error_code(trainer.create_image_regions, project.id, [region]) == refused
    assert error_code(trainer.delete_image_regions, project.id, [str(uuid.uuid4())]) == refused
    assert error_code(trainer.get_image_region_proposals, project.id, image_id) == refused
    # The SDK itself sends at most 64 region ids (Azure's limit); a REST caller gets the 400.
    od, _tags = detection_project(trainer)
    response = requests.delete(
        f"{live_server.url}/customvision/v3.3/training/projects/{od.id}/images/regions",
        params={"regionIds": ",".join(str(uuid.uuid4()) for _ in range(65))},
        headers={"Training-Key": key},
        timeout=10,
    )
    assert (response.status_code, response.json()["code"]) == (400, "BadRequestExceededBatchSize")


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_region_proposals_for_a_training_image(trainer):
    project, tags = detection_project(trainer)
    summary = trainer.create_images_from_files(
        project.id, ImageFileCreateBatch(images=[entry("fork_8.jpg", tags)])
    )
    image_id = summary.images[0].image.id
    found = trainer.get_image_region_proposals(project.id, image_id)
    assert (found.project_id, found.image_id) == (project.id, image_id)
    confidences = [p.confidence for p in found.proposals]
    assert confidences and confidences == sorted(confidences, reverse=True)
    boxes = [
        (p.bounding_box.left, p.bounding_box.top, p.bounding_box.width, p.bounding_box.height)
        for p in found.proposals
    ]
    assert all(x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 1 + 1e-6 for x, y, w, h in boxes)
    fork = BOXES["fork_8.jpg"]
    truth = (fork["left"], fork["top"], fork["width"], fork["height"])
    assert max(iou(truth, b) for b in boxes) >= 0.3  # some proposal is about the fork
