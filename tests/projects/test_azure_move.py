"""The move from Azure as a team makes it: ids kept (so a client that stored them predicts
after the move with only endpoint and keys changed), an old → new map where one can't be
kept, and re-imports that sync a source changed between runs. The "Azure" is a second
instance of this server, filled and changed through the official SDK."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageRegionCreateEntry,
    ImageTagCreateEntry,
    Region,
)
from django.urls import reverse
from msrest.authentication import ApiKeyCredentials

from projects import selectors, services
from projects.azure.client import AzureTrainingSource
from projects.models import AzureImport, AzureListing, Image, Project, Tag
from tests.projects.test_azure_import import (  # noqa: F401 (fixtures)
    LOGO,
    OD_SAMPLES,
    eager,
    operator_allows_loopback,
    run_import,
    source_instance,
)
from tests.training.synthetic import photo
from training import services as training_services


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The "Azure": Colours and Paints (classification: 5 red photos tagged Red, 5 blue
    tagged Blue, two untagged; metadata on the red ones) and Spoons (object detection: two
    photos with a box each). Only the sync test changes it: Paints and Spoons."""
    with source_instance(tmp_path_factory.mktemp("azure-move")) as (url, key):
        sdk = CustomVisionTrainingClient(url, ApiKeyCredentials(in_headers={"Training-key": key}))
        colours, paints = (fill_colours(sdk, name) for name in ("Colours", "Paints"))
        spoons = sdk.create_project("Spoons", domain_id=LOGO)
        fork = sdk.create_tag(spoons.id, "fork")
        boxes = json.loads((OD_SAMPLES / "regions.json").read_text())
        entries = []
        for name in ("fork_1.jpg", "fork_2.jpg"):
            box = {k: boxes[name][k] for k in ("left", "top", "width", "height")}
            entries.append(
                ImageFileCreateEntry(
                    name=name,
                    contents=(OD_SAMPLES / "fork" / name).read_bytes(),
                    regions=[Region(tag_id=fork.id, **box)],
                )
            )
        batch = ImageFileCreateBatch(images=entries)
        assert sdk.create_images_from_files(spoons.id, batch).is_batch_successful
        yield SimpleNamespace(
            url=url, key=key, sdk=sdk, colours=colours, paints=paints, spoons=spoons.id,
            fork=fork.id,
        )  # fmt: skip


def fill_colours(sdk: CustomVisionTrainingClient, name: str) -> str:
    colours = sdk.create_project(name, classification_type="Multiclass")
    red = sdk.create_tag(colours.id, "Red")
    blue = sdk.create_tag(colours.id, "Blue")
    for tag, colour, extra in ((red, "red", {"shelf": "top"}), (blue, "blue", None)):
        entries = [
            ImageFileCreateEntry(name=f"{colour}{i}.jpg", contents=photo(colour, seed=100 + i))
            for i in range(5)
        ]
        batch = ImageFileCreateBatch(images=entries, tag_ids=[tag.id], metadata=extra)
        assert sdk.create_images_from_files(colours.id, batch).is_batch_successful
    loose = [
        ImageFileCreateEntry(name=f"u{i}.jpg", contents=photo("green", seed=200 + i))
        for i in range(2)
    ]
    batch = ImageFileCreateBatch(images=loose)
    assert sdk.create_images_from_files(colours.id, batch).is_batch_successful
    return str(colours.id)


def source_images(source, project_id: str) -> dict[str, tuple[frozenset, dict]]:
    """Each source image by id: (its tag names or boxes, its metadata)."""
    found = {}
    for listing in (source.sdk.get_tagged_images, source.sdk.get_untagged_images):
        for image in listing(project_id, take=256):
            if image.regions:
                labels = frozenset(
                    (r.tag_name, *(round(v, 6) for v in (r.left, r.top, r.width, r.height)))
                    for r in image.regions
                )
            else:
                labels = frozenset(t.tag_name for t in image.tags or [])
            found[str(image.id)] = (labels, dict(image.metadata or {}))
    return found


def local_images(project: Project) -> dict[str, tuple[frozenset, dict]]:
    found = {}
    for image in selectors.active_images(project).prefetch_related("tags", "regions__tag"):
        regions = list(image.regions.all())
        if regions:
            labels = frozenset(
                (r.tag.name, *(round(v, 6) for v in (r.left, r.top, r.width, r.height)))
                for r in regions
            )
        else:
            labels = frozenset(t.name for t in image.tags.all())
        found[str(image.id)] = (labels, dict(image.metadata))
    return found


def counts_of(job: AzureImport) -> dict[str, dict[str, int]]:
    keys = (
        "added", "updated", "unchanged", "removed_in_source", "removed_here", "failed",
        "tags_removed_in_source",
    )  # fmt: skip
    return {p["name"]: {k: p[k] for k in keys} for p in job.summary["projects"]}


@pytest.mark.django_db(transaction=True)
def test_a_client_that_stored_ids_predicts_after_the_move(source, alice, live_server):
    # Before the move: the client knows its project and tags by id, as Azure gave them.
    stored_project = source.colours
    stored_tags = {t.name: t.id for t in source.sdk.get_tags(stored_project)}

    run_import(source, project=[source.colours])
    project = Project.objects.get(owner=alice)
    assert str(project.id) == stored_project
    assert {t.name: str(t.id) for t in Tag.objects.filter(project=project)} == stored_tags
    assert set(local_images(project)) == set(source_images(source, stored_project))
    job = AzureImport.objects.get()
    assert job.summary["projects"][0]["id_kept"] is True

    # Here: train, and publish under the name the client calls.
    iteration = training_services.iteration_train_start(project=project)
    training_services.iteration_run(iteration_id=iteration.id, worker="test")
    _resource, keys = services.resource_create(owner=alice, name="predict", kind="prediction")
    training_services.iteration_publish(
        iteration=iteration, publish_name="colours-prod", prediction_resource=_resource
    )

    # After the move: the same code, with only the endpoint and the key changed.
    client = CustomVisionPredictionClient(
        live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": keys.key1})
    )
    result = client.classify_image(stored_project, "colours-prod", photo("red", seed=999))
    by_tag = {p.tag_id: p.probability for p in result.predictions}
    assert set(by_tag) == set(stored_tags.values())
    assert max(by_tag, key=by_tag.get) == stored_tags["Red"]
    # The prediction URL's path, exactly as Azure's.
    old_path = (
        f"/customvision/v3.0/Prediction/{stored_project}/classify/iterations/colours-prod/image"
    )
    answer = requests.post(
        live_server.url + old_path,
        data=photo("blue", seed=998),
        headers={"Prediction-Key": keys.key1, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.content
    best = max(answer.json()["predictions"], key=lambda p: p["probability"])
    assert best["tagId"] == stored_tags["Blue"]


@pytest.mark.django_db
def test_an_id_taken_here_gets_a_new_one_shown_and_mapped(
    source, alice, bob, alice_client, bob_client
):
    run_import(source, owner="alice", project=[source.colours])
    run_import(source, owner="bob", project=[source.colours])
    mine, theirs = Project.objects.get(owner=alice), Project.objects.get(owner=bob)
    assert str(mine.id) == source.colours and str(theirs.id) != source.colours
    bobs = AzureImport.objects.get(owner=bob)
    assert bobs.summary["projects"][0]["id_kept"] is False
    # Bob's import came across whole, and says which ids changed; nothing of Alice's shows.
    assert selectors.image_counts(project=theirs).all == 12
    page = bob_client.get(reverse("projects:azure_import_job", args=[bobs.id])).content.decode()
    assert "could not be kept" in page and str(theirs.id) in page and "alice" not in page
    csv_url = reverse("projects:azure_import_ids", args=[bobs.id])
    assert f'href="{csv_url}"' in page
    response = bob_client.get(csv_url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert Counter(r["kind"] for r in rows) == {"project": 1, "tag": 2, "image": 12}
    project_row = next(r for r in rows if r["kind"] == "project")
    assert (project_row["azure_id"], project_row["id_here"], project_row["kept"]) == (
        source.colours, str(theirs.id), "no",
    )  # fmt: skip
    assert {r["kept"] for r in rows} == {"no"}  # every id was Alice's already
    for row in rows:
        if row["kind"] == "image":
            assert Image.objects.get(pk=row["id_here"]).project == theirs
    assert alice_client.get(csv_url).status_code == 404  # owner-checked
    # Alice's own map: everything kept.
    alices = AzureImport.objects.get(owner=alice)
    response = alice_client.get(reverse("projects:azure_import_ids", args=[alices.id]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 15 and {r["kept"] for r in rows} == {"yes"}
    assert (
        "All 15 ids were kept"
        in alice_client.get(reverse("projects:azure_import_job", args=[alices.id])).content.decode()
    )


@pytest.mark.django_db
def test_a_reimport_syncs_a_source_changed_between_runs(source, alice):
    """Re-tag one image, change one's metadata and one's box, add three (one with a new tag),
    remove one at the source: the second run brings it all; the removed image stays until
    the user asks."""
    yellow = source.sdk.create_tag(source.paints, "Yellow")  # no image yet: deleted later
    run_import(source, project=[source.paints])
    run_import(source, project=[source.spoons])
    paints, spoons = (Project.objects.get(owner=alice, name=n) for n in ("Paints", "Spoons"))
    assert local_images(paints) == source_images(source, source.paints)
    assert local_images(spoons) == source_images(source, source.spoons)

    sdk = source.sdk
    tags = {t.name: t.id for t in sdk.get_tags(source.paints)}
    reds = sdk.get_tagged_images(source.paints, tag_ids=[tags["Red"]], take=256)
    retagged, removed = reds[0].id, reds[1].id
    sdk.delete_image_tags(source.paints, [retagged], [tags["Red"]])
    entry = ImageTagCreateEntry(image_id=retagged, tag_id=tags["Blue"])
    sdk.create_image_tags(source.paints, [entry])
    blues = sdk.get_tagged_images(source.paints, tag_ids=[tags["Blue"]], take=256)
    relabelled = next(i.id for i in blues if i.id != retagged)
    sdk.update_image_metadata(source.paints, [relabelled], {"shelf": "bottom"})
    sdk.delete_images(source.paints, [removed])
    sdk.delete_tag(source.paints, yellow.id)
    green = sdk.create_tag(source.paints, "Green")
    added = [
        ImageFileCreateEntry(name=f"new{i}.jpg", contents=photo("green", seed=300 + i))
        for i in range(3)
    ]
    batch = ImageFileCreateBatch(images=added[:1], tag_ids=[green.id])
    assert sdk.create_images_from_files(source.paints, batch).is_batch_successful
    batch = ImageFileCreateBatch(images=added[1:], tag_ids=[tags["Red"]])
    assert sdk.create_images_from_files(source.paints, batch).is_batch_successful
    [moved] = sdk.get_tagged_images(source.spoons, take=1)
    sdk.delete_image_regions(source.spoons, [r.region_id for r in moved.regions])
    entry = ImageRegionCreateEntry(
        image_id=moved.id, tag_id=source.fork, left=0.1, top=0.1, width=0.5, height=0.5
    )
    sdk.create_image_regions(source.spoons, [entry])

    output = run_import(source)
    job = AzureImport.objects.latest("created_at")
    assert counts_of(job) == {
        "Colours": {
            "added": 12, "updated": 0, "unchanged": 0, "removed_in_source": 0,
            "removed_here": 0, "failed": 0, "tags_removed_in_source": 0,
        },
        "Paints": {
            "added": 3, "updated": 2, "unchanged": 9, "removed_in_source": 1,
            "removed_here": 0, "failed": 0, "tags_removed_in_source": 1,
        },
        "Spoons": {
            "added": 0, "updated": 1, "unchanged": 1, "removed_in_source": 0,
            "removed_here": 0, "failed": 0, "tags_removed_in_source": 0,
        },
    }  # fmt: skip
    assert "Paints: 3 added, 2 updated, 9 unchanged, 1 removed in source (and 1 tag)" in output
    assert Tag.objects.filter(project=paints, name="Yellow").exists()  # kept: not asked
    expected = source_images(source, source.paints)
    here = local_images(paints)
    assert set(here) - set(expected) == {removed}  # kept: nobody asked to remove it
    del here[removed]
    assert here == expected
    assert local_images(spoons) == source_images(source, source.spoons)

    # Asked, the third run removes them (the image and the tag): identical to the source.
    run_import(source, project=[source.paints], remove_missing=True)
    job = AzureImport.objects.latest("created_at")
    assert counts_of(job)["Paints"] == {
        "added": 0, "updated": 0, "unchanged": 14, "removed_in_source": 1,
        "removed_here": 1, "failed": 0, "tags_removed_in_source": 1,
    }  # fmt: skip
    assert local_images(paints) == source_images(source, source.paints)
    counts = selectors.image_counts(project=paints)
    assert (counts.tagged, counts.untagged) == (
        sdk.get_tagged_image_count(source.paints),
        sdk.get_untagged_image_count(source.paints),
    )
    tag_counts = {t.name: n for t, n in selectors.tag_image_counts(project=paints)}
    assert tag_counts == {t.name: t.image_count for t in sdk.get_tags(source.paints)}
    assert {str(t.id) for t in Tag.objects.filter(project=paints)} == {
        t.id for t in sdk.get_tags(source.paints)
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("operator_allows_loopback", "eager")
def test_a_failed_listing_forgets_the_projects_listed_before(
    alice_client, alice, source, django_capture_on_commit_callbacks
):
    url = reverse("projects:azure_import")

    def list_projects(endpoint: str, key: str):
        with django_capture_on_commit_callbacks(execute=True):
            alice_client.post(url, {"step": "list", "endpoint": endpoint, "key": key})
        return alice_client.get(url)

    listed = list_projects(source.url, source.key).content.decode()
    assert "Colours" in listed and listed.count(" checked>") == 3  # a fresh listing: all ticked
    assert "Import selected projects" in listed
    first = AzureListing.objects.get(owner=alice)
    # Another key (or endpoint) that fails: nothing of the first account is left to import.
    failed = list_projects(source.url, "0" * 32)
    text = failed.content.decode()
    assert "refused the training key" in text
    for word in ("Colours", "Paints", "Spoons", 'type="checkbox"', "checked"):
        assert word not in text
    assert re.search(r"<button [^>]*disabled[^>]*>Import selected projects</button>", text)
    assert text.count("Import selected projects") == 1
    # The first listing's page, still open in another tab, can't import either.
    stale = alice_client.post(
        url, {"step": "import", "listing": first.id, "projects": [source.colours]}
    )
    assert stale.status_code == 400 and b"list the account&#x27;s projects first" in stale.content
    assert not AzureImport.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("operator_allows_loopback", "eager")
def test_a_pick_from_another_listing_is_refused_and_nothing_is_ticked(
    alice_client, alice, source, django_capture_on_commit_callbacks
):
    url = reverse("projects:azure_import")
    for _ in range(2):  # the second listing replaces the first
        with django_capture_on_commit_callbacks(execute=True):
            alice_client.post(url, {"step": "list", "endpoint": source.url, "key": source.key})
    current = AzureListing.objects.get(owner=alice)
    stale = alice_client.post(
        url, {"step": "import", "listing": uuid.uuid4(), "projects": [source.colours]}
    )
    assert stale.status_code == 409 and b"the projects listed changed" in stale.content
    assert b" checked>" not in stale.content and b"Import selected projects" in stale.content
    assert not AzureImport.objects.exists()
    with django_capture_on_commit_callbacks(execute=False):
        started = alice_client.post(
            url,
            {
                "step": "import",
                "listing": current.id,
                "projects": [source.colours],
                "remove_missing": "on",
            },
        )
    assert started.status_code == 302
    job = AzureImport.objects.get()
    assert job.remove_missing and job.project_ids == [source.colours]


@pytest.mark.django_db
def test_an_image_the_listing_missed_is_not_removed(source, alice, monkeypatch):
    """An image re-tagged while its project's lists are read can slip between the tagged and
    the untagged pages: asked by id, the source still has it, so it stays."""
    run_import(source, project=[source.colours])
    real = AzureTrainingSource.images
    missed: list[str] = []

    def slipping(self, project_id, **kwargs):
        for page in real(self, project_id, **kwargs):
            if not missed:
                missed.append(page[0].id)
            yield [i for i in page if i.id not in missed]

    monkeypatch.setattr(AzureTrainingSource, "images", slipping)
    run_import(source, project=[source.colours], remove_missing=True)
    job = AzureImport.objects.latest("created_at")
    assert counts_of(job)["Colours"]["removed_in_source"] == 0
    assert Image.objects.filter(pk=missed[0], removed_at__isnull=True).exists()
    assert selectors.image_counts(project=Project.objects.get(owner=alice)).all == 12
