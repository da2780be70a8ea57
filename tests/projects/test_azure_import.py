"""Moving an account from "Azure" to here, end to end: a second live instance of this server
plays Azure (its API is Azure's), filled through the official SDK; `importazure` brings its
projects across, is interrupted, resumes, and the counts match tag by tag."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Region,
)
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from msrest.authentication import ApiKeyCredentials

from core.urlfetch import FetchError
from portal.celery import app as celery_app
from projects import selectors
from projects.azure.client import AzureTrainingSource, SourceError
from projects.models import AzureImport, AzureListing, Image, Project, Tag
from projects.services import azure_import, azure_listing
from tests.servers import portal_process
from tests.training.synthetic import photo
from training import services as training_services

ROOT = Path(__file__).resolve().parents[2]
FOOD = "c151d5b5-dd07-472a-acc8-15d29dea8518"
LOGO = "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4"  # an object-detection domain
OD_SAMPLES = ROOT / "samples" / "custom-vision-od-sample"
TOTAL = 300 + 12 + 10  # Fruit, Menu, Cutlery


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    """A second instance of this server, on its own SQLite file, with two projects."""
    with source_instance(tmp_path_factory.mktemp("azure-source")) as (url, key):
        yield SimpleNamespace(url=url, key=key, **fill(url, key))


@contextlib.contextmanager
def source_instance(data: Path) -> Iterator[tuple[str, str]]:
    """A second instance of this server (the "Azure" of a move), on its own SQLite file in
    `data`: its URL and a training key."""
    env = {
        **os.environ,
        "CV_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data}/db.sqlite3",
        "SECRET_KEY": "azure-source",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    python = sys.executable

    def manage(*args: str) -> str:
        done = subprocess.run(
            [python, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, check=True
        )
        return done.stdout.decode()

    manage("migrate", "--verbosity", "0")
    key = json.loads(
        manage(
            "createresource",
            "azure",
            "--kind",
            "training",
            "--owner",
            "azure-user",
            "--create-owner",
        )
    )["key"]
    with portal_process(env, data / "server.log") as (url, _port):
        yield url, key


def fill(url: str, key: str) -> dict:
    """Fruit: Multiclass, 260 tagged images (more than one 256-image page) under two tags and
    a Negative tag, 40 untagged, some with metadata. Menu: Multilabel, Food domain. Cutlery:
    object detection (Logo domain), 10 photos, 10 boxes (`fill_cutlery`)."""
    sdk = CustomVisionTrainingClient(url, ApiKeyCredentials(in_headers={"Training-key": key}))
    fruit = sdk.create_project("Fruit", description="apples and bananas")
    apple = sdk.create_tag(fruit.id, "Apple", description="red or green")
    banana = sdk.create_tag(fruit.id, "Banana")
    nothing = sdk.create_tag(fruit.id, "Nothing", type="Negative")
    photos = (photo(None, seed=9000 + i) for i in itertools.count())
    plan = [(apple.id, 130), (banana.id, 110), (nothing.id, 20), (None, 40)]
    for tag_id, count in plan:
        left = count
        while left:
            n = min(64, left)
            entries = [
                ImageFileCreateEntry(name=f"{tag_id}-{left}-{i}.jpg", contents=next(photos))
                for i in range(n)
            ]
            batch = ImageFileCreateBatch(
                images=entries,
                tag_ids=[tag_id] if tag_id else None,
                metadata={"shelf": "top", "aisle": "3"} if tag_id == apple.id else None,
            )
            assert sdk.create_images_from_files(fruit.id, batch).is_batch_successful
            left -= n
    menu = sdk.create_project("Menu", domain_id=FOOD, classification_type="Multilabel")
    soup = sdk.create_tag(menu.id, "Soup")
    bread = sdk.create_tag(menu.id, "Bread")
    kinds = [([soup.id], ("red", None)), ([bread.id], ("blue", None))]
    kinds.append(([soup.id, bread.id], ("red", "blue")))
    for tags, colours in kinds:
        entries = [
            ImageFileCreateEntry(
                name="m.jpg", contents=photo(colours[0], seed=8000 + i, second=colours[1])
            )
            for i in range(4)
        ]
        batch = ImageFileCreateBatch(images=entries, tag_ids=tags)
        assert sdk.create_images_from_files(menu.id, batch).is_batch_successful
    return {"sdk": sdk, "fruit": fruit.id, "menu": menu.id, "cutlery": fill_cutlery(sdk)}


def fill_cutlery(sdk: CustomVisionTrainingClient) -> str:
    """Four fork photos and four of scissors with their quickstart boxes, one fork photo with
    a second box (of scissors), and one photo without a box: untagged."""
    cutlery = sdk.create_project("Cutlery", domain_id=LOGO)
    tags = {name: sdk.create_tag(cutlery.id, name).id for name in ("fork", "scissors")}
    boxes = json.loads((OD_SAMPLES / "regions.json").read_text())

    def entry(file: str, *extra: Region) -> ImageFileCreateEntry:
        box = boxes[file]
        regions = [
            Region(
                tag_id=tags[box["tag"]], **{k: box[k] for k in ("left", "top", "width", "height")}
            ),
            *extra,
        ]
        path = OD_SAMPLES / box["tag"] / file
        return ImageFileCreateEntry(name=file, contents=path.read_bytes(), regions=regions)

    second = Region(tag_id=tags["scissors"], left=0.6, top=0.05, width=0.35, height=0.3)
    entries = [entry(f"{kind}_{i}.jpg") for kind in ("fork", "scissors") for i in range(1, 5)]
    entries.append(entry("fork_5.jpg", second))
    bare = (OD_SAMPLES / "fork" / "fork_6.jpg").read_bytes()
    entries.append(ImageFileCreateEntry(name="bare.jpg", contents=bare))
    done = sdk.create_images_from_files(cutlery.id, ImageFileCreateBatch(images=entries))
    assert done.is_batch_successful, [i.status for i in done.images]
    return cutlery.id


@pytest.fixture
def operator_allows_loopback(settings):
    """The portal imports from public addresses only; this operator lets it reach the second
    instance on 127.0.0.1 (the command needs no such setting: it may name its host)."""
    settings.CV_AZURE_IMPORT_ALLOW = ["127.0.0.1/32"]


@pytest.fixture
def eager(monkeypatch):
    """Queued work (the Import page's listing) runs when its transaction commits."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def tag_counts(project: Project) -> dict[str, int]:
    return {t.name: n for t, n in selectors.tag_image_counts(project=project)}


def source_counts(azure, project_id: str) -> dict[str, int]:
    return {t.name: t.image_count for t in azure.sdk.get_tags(project_id)}


def run_import(azure, owner: str = "alice", **extra) -> str:
    out = StringIO()
    options = extra if "project" in extra else {"all": True} | extra
    call_command(
        "importazure",
        endpoint=azure.url,
        training_key=azure.key,
        owner=owner,
        inline=True,
        stdout=out,
        **options,
    )
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_import_resumes_and_every_tag_count_matches(azure, alice, monkeypatch):
    # First run: ingestion breaks after two chunks (a worker killed, a disk full...).
    calls = {"n": 0}
    real = azure_import.images_create_each

    def breaking(**kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("the disk is full")
        return real(**kwargs)

    monkeypatch.setattr(azure_import, "images_create_each", breaking)
    with pytest.raises(CommandError, match="unexpected error") as info:
        run_import(azure)
    assert "disk" not in str(info.value)  # exception texts stay in the log
    first = AzureImport.objects.get()
    assert first.status == "Failed" and first.key_encrypted == ""  # the key is forgotten
    assert "continues where it stopped" in first.error
    brought = Image.objects.count()
    assert 0 < brought < TOTAL  # two chunks came across before it broke
    monkeypatch.setattr(azure_import, "images_create_each", real)

    # Second run: continues, copies nothing twice.
    output = run_import(azure)
    second = AzureImport.objects.exclude(pk=first.pk).get()
    assert second.status == "Completed" and second.images_done == second.images_total == TOTAL
    done = {p["name"]: p for p in second.summary["projects"]}
    assert sum(p["unchanged"] for p in done.values()) == brought
    assert sum(p["added"] for p in done.values()) == TOTAL - brought
    assert done["Fruit"]["source_images"] == {"tagged": 260, "untagged": 40}
    assert "Fruit: " in output and "Menu: " in output
    fruit = Project.objects.get(owner=alice, name="Fruit")
    menu = Project.objects.get(owner=alice, name="Menu")
    assert Project.objects.filter(owner=alice).count() == 3
    assert fruit.description == "apples and bananas"
    assert (fruit.classification_type, fruit.get_domain_id_display()) == ("Multiclass", "General")
    assert (menu.classification_type, menu.get_domain_id_display()) == ("Multilabel", "Food")

    # Tag by tag, the same counts; untagged too; nothing doubled.
    assert tag_counts(fruit) == source_counts(azure, azure.fruit)
    assert tag_counts(menu) == source_counts(azure, azure.menu)
    counts = selectors.image_counts(project=fruit)
    assert (counts.tagged, counts.untagged) == (260, 40)
    assert Tag.objects.get(project=fruit, name="Nothing").type == "Negative"
    assert Tag.objects.get(project=fruit, name="Apple").description == "red or green"
    shelves = Counter(i.metadata.get("shelf") for i in Image.objects.filter(project=fruit))
    assert shelves == {"top": 130, None: 170}  # the Apple batches' metadata came along
    both = [i for i in Image.objects.filter(project=menu) if i.tags.count() == 2]
    assert len(both) == 4

    # A third run finds everything here.
    again = run_import(azure)
    assert "Fruit: 0 added, 0 updated, 300 unchanged, 0 removed in source" in again
    assert Image.objects.filter(project__owner=alice).count() == TOTAL

    # Training there works.
    iteration = training_services.iteration_train_start(project=menu)
    training_services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Completed", iteration.error


@pytest.mark.django_db
def test_a_wrong_key_or_endpoint_fails_with_the_reason(azure, alice):
    with pytest.raises(CommandError, match="refused the training key"):
        call_command(
            "importazure",
            endpoint=azure.url,
            training_key="0" * 32,
            all=True,
            owner="alice",
            inline=True,
            stdout=StringIO(),
        )
    job = AzureImport.objects.get()
    assert job.status == "Failed" and job.key_encrypted == ""
    with pytest.raises(CommandError, match="no project with id"):
        call_command(
            "importazure",
            endpoint=azure.url,
            training_key=azure.key,
            project=["nope"],
            owner="alice",
            inline=True,
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="endpoint"):
        call_command(
            "importazure",
            endpoint="ftp://example.com",
            training_key=azure.key,
            all=True,
            owner="alice",
            inline=True,
        )


@pytest.mark.django_db
def test_the_project_list_shows_image_counts(
    alice, azure, operator_allows_loopback, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        listing = azure_listing.azure_listing_start(owner=alice, endpoint=azure.url, key=azure.key)
    listing = azure_listing.azure_listing_run(listing_id=listing.id)  # what the worker does
    assert listing is not None and listing.status == "Completed"
    assert listing.key_encrypted  # kept, encrypted, until an import starts from it
    listed = {p["name"]: p for p in listing.projects}
    assert (listed["Fruit"]["tagged"], listed["Fruit"]["untagged"]) == (260, 40)
    assert listed["Menu"]["classification_type"] == "Multilabel"
    assert listed["Menu"]["domain"] == "Food"
    assert (listed["Cutlery"]["type"], listed["Cutlery"]["domain"]) == ("Object detection", "Logo")
    assert (listed["Cutlery"]["tagged"], listed["Cutlery"]["untagged"]) == (9, 1)


@pytest.mark.django_db
def test_the_key_is_stored_encrypted_while_the_job_waits(
    alice, azure, django_capture_on_commit_callbacks, operator_allows_loopback
):
    with django_capture_on_commit_callbacks(execute=False):
        job = azure_import.azure_import_start(owner=alice, endpoint=azure.url, key=azure.key)
    stored = AzureImport.objects.get(pk=job.pk).key_encrypted
    assert stored and azure.key not in stored
    from projects.azure import secrets

    assert secrets.decrypt(stored) == azure.key


@pytest.mark.django_db
def test_the_import_page_lists_picks_and_shows_progress_and_summary(
    alice_client, bob_client, alice, azure, django_capture_on_commit_callbacks,
    operator_allows_loopback, eager,
):  # fmt: skip
    """A move between two instances of this server, through the portal: the source lists its
    images' originalImageUri on its own origin, so they are fetched with the key."""
    url = reverse("projects:azure_import")
    assert b"Training key" in alice_client.get(url).content

    def list_projects(key: str):
        with django_capture_on_commit_callbacks(execute=True):
            posted = alice_client.post(url, {"step": "list", "endpoint": azure.url, "key": key})
        assert posted.status_code == 302 and posted["Location"] == url
        return alice_client.get(url)

    wrong = list_projects("0" * 32)
    assert b"refused the training key" in wrong.content
    assert b'type="checkbox"' not in wrong.content  # nothing to pick: Import is disabled
    assert b'disabled aria-describedby="listing-failed-help">Import selected' in wrong.content
    assert alice_client.get(url).content.count(b"refused the training key") == 0  # shown once
    listed = list_projects(azure.key)
    text = listed.content.decode()
    assert listed.status_code == 200 and "Fruit" in text and "Menu" in text and ">260<" in text
    assert azure.key not in text  # the key is not echoed back into the page
    assert azure.key not in str(dict(alice_client.session))
    listing = AzureListing.objects.get(owner=alice)
    assert listing.key_encrypted and azure.key not in listing.key_encrypted
    state = reverse("projects:azure_listing_state", args=[listing.id])
    assert alice_client.get(state).json() == {"status": "Completed", "active": False}
    assert bob_client.get(state).status_code == 404
    nothing = alice_client.post(url, {"step": "import"})
    assert nothing.status_code == 400 and b"Pick at least one project" in nothing.content
    # Bob can't import from Alice's listing: the page knows only his own.
    assert bob_client.post(url, {"step": "import", "projects": [azure.menu]}).status_code == 400
    with django_capture_on_commit_callbacks(execute=False):
        started = alice_client.post(url, {"step": "import", "projects": [azure.menu]})
    job = AzureImport.objects.get(owner=alice)
    assert started.status_code == 302
    assert started["Location"] == reverse("projects:azure_import_job", args=[job.id])
    assert not AzureListing.objects.exists()  # used: forgotten, key and all
    waiting = alice_client.get(started["Location"])
    assert b"Waiting for a worker" in waiting.content
    azure_import.azure_import_run(job_id=job.id)  # what the worker does
    state = alice_client.get(started["Location"], HTTP_ACCEPT="application/json").json()
    assert state == {
        "status": "Completed",
        "phase": "Completed",
        "percent": 100,
        "done": 12,
        "total": 12,
        "active": False,
    }
    page = alice_client.get(started["Location"]).content.decode()
    assert "Summary" in page and "Menu" in page and ">12<" in page
    assert bob_client.get(started["Location"]).status_code == 404
    assert b"Import from Azure" in alice_client.get(reverse("projects:list")).content


@pytest.mark.django_db
def test_a_second_import_while_one_runs_is_refused_on_the_page(
    alice_client, alice, azure, django_capture_on_commit_callbacks, operator_allows_loopback,
    eager,
):  # fmt: skip
    url = reverse("projects:azure_import")
    AzureImport.objects.create(owner=alice, endpoint="https://a.example", status="Running")
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(url, {"step": "list", "endpoint": azure.url, "key": azure.key})
    refused = alice_client.post(url, {"step": "import", "projects": [azure.menu]})
    assert refused.status_code == 409 and b"one runs at a time" in refused.content
    assert b"Import selected projects" in refused.content  # the pick is kept for later
    assert AzureImport.objects.filter(owner=alice).count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_lists_and_runs_the_import(alice, azure, start_worker, operator_allows_loopback):
    start_worker("importer", CV_AZURE_IMPORT_ALLOW="127.0.0.1/32")
    listing = azure_listing.azure_listing_start(owner=alice, endpoint=azure.url, key=azure.key)
    deadline = time.monotonic() + 120
    while listing.active:  # on the imports queue, as the page polls it
        assert time.monotonic() < deadline, listing.status
        time.sleep(0.3)
        listing.refresh_from_db()
    assert listing.status == "Completed", listing.error
    assert {p["name"] for p in listing.projects} == {"Fruit", "Menu", "Cutlery"}
    job = azure_listing.azure_import_start_from_listing(
        owner=alice, listing_id=listing.id, project_ids=[azure.menu]
    )
    while job.status in ("Queued", "Running"):
        assert time.monotonic() < deadline, (job.status, job.phase)
        time.sleep(0.5)
        job.refresh_from_db()
    assert job.status == "Completed", job.error
    assert tag_counts(Project.objects.get(owner=alice, name="Menu")) == source_counts(
        azure, azure.menu
    )


@pytest.mark.django_db
def test_an_image_that_fails_is_listed_and_the_rest_come_across(alice, azure, monkeypatch):
    real = AzureTrainingSource.image_bytes
    broken: list[str] = []

    def flaky(self, uri):
        if not broken:
            broken.append(uri)
        if uri == broken[0]:
            raise SourceError("The URL answered HTTP 500 (after 6 tries)", 500)
        return real(self, uri)

    monkeypatch.setattr(AzureTrainingSource, "image_bytes", flaky)
    output = run_import(azure, project=[azure.menu])
    job = AzureImport.objects.get()
    assert job.status == "Completed"
    assert job.summary["failure_count"] == 1
    [failure] = job.summary["failures"]
    assert failure["project"] == "Menu" and "HTTP 500" in failure["reason"]
    assert "Menu: 11 added, 0 updated, 0 unchanged, 0 removed in source, 1 failed" in output
    monkeypatch.setattr(AzureTrainingSource, "image_bytes", real)
    assert "Menu: 1 added, 0 updated, 11 unchanged, 0 removed in source, 0 failed" in run_import(
        azure, project=[azure.menu]
    )


def test_the_client_retries_busy_answers_with_backoff_and_not_refusals(monkeypatch):
    from projects.azure import client

    answers = [FetchError("busy", status=429), FetchError("down", status=503)]
    calls = []

    def fake_fetch(url, **kwargs):
        calls.append((url, kwargs["headers"]))
        if answers:
            raise answers.pop(0)
        return SimpleNamespace(data=b"[]")

    monkeypatch.setattr(client, "fetch", fake_fetch)
    slept: list[float] = []
    source = AzureTrainingSource("https://example.com/", "k", sleep=slept.append)
    assert source.projects() == []
    assert slept == [1.0, 2.0] and len(calls) == 3
    assert calls[0] == (
        "https://example.com/customvision/v3.3/training/projects",
        {"Training-Key": "k"},
    )
    answers[:] = [FetchError("no", status=401)]
    with pytest.raises(SourceError, match="refused the training key"):
        source.projects()
    assert slept == [1.0, 2.0]  # a refusal is not retried
    answers[:] = [FetchError("down", status=503)] * 7
    with pytest.raises(SourceError, match="after 6 tries"):
        source.projects()


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_taken_over_when_its_message_comes_back(
    alice, azure, operator_allows_loopback
):
    job = azure_import.azure_import_create(
        owner=alice, endpoint=azure.url, key=azure.key, project_ids=[azure.menu]
    )
    alive = timezone.now()
    AzureImport.objects.filter(pk=job.pk).update(status="Running", heartbeat_at=alive)
    # Still reporting: a duplicate delivery leaves it alone.
    assert azure_import.azure_import_run(job_id=job.id).status == "Running"
    AzureImport.objects.filter(pk=job.pk).update(heartbeat_at=alive - timedelta(minutes=5))
    finished = azure_import.azure_import_run(job_id=job.id)
    assert finished.status == "Completed" and finished.images_done == 12
    # Nobody redelivers a job quiet for ten minutes: the sweep says so.
    other = azure_import.azure_import_create(owner=alice, endpoint=azure.url, key=azure.key)
    AzureImport.objects.filter(pk=other.pk).update(
        status="Running", heartbeat_at=alive - timedelta(minutes=11)
    )
    assert azure_import.azure_imports_fail_stale() == 1
    other.refresh_from_db()
    assert other.status == "Failed" and other.key_encrypted == "" and "again" in other.error


def source_boxes(azure, project_id: str) -> Counter:
    """Each source image's boxes, as a set of (tag name, box to a millionth), counted."""
    found: Counter = Counter()
    for tagged in (True, False):
        listing = azure.sdk.get_tagged_images if tagged else azure.sdk.get_untagged_images
        for image in listing(project_id, take=256):
            found[
                frozenset(
                    (r.tag_name, *(round(v, 6) for v in (r.left, r.top, r.width, r.height)))
                    for r in image.regions or []
                )
            ] += 1
    return found


def local_boxes(project: Project) -> Counter:
    found: Counter = Counter()
    for image in project.images.prefetch_related("regions__tag"):
        found[
            frozenset(
                (r.tag.name, *(round(v, 6) for v in (r.left, r.top, r.width, r.height)))
                for r in image.regions.all()
            )
        ] += 1
    return found


@pytest.mark.django_db
def test_a_detection_project_arrives_with_its_domain_and_every_box(azure, alice):
    output = run_import(azure, project=[azure.cutlery])
    job = AzureImport.objects.get()
    assert job.status == "Completed", job.error
    [done] = job.summary["projects"]
    assert (done["added"], done["failed"], done["regions"]) == (10, 0, 10)
    assert "Cutlery: 10 added with 10 boxes" in output
    assert not job.summary["skipped"] and not job.summary["notes"]
    cutlery = Project.objects.get(owner=alice, name="Cutlery")
    assert cutlery.is_detection and str(cutlery.domain_id) == LOGO
    expected = source_boxes(azure, azure.cutlery)
    assert sum(len(b) * n for b, n in expected.items()) == 10  # the source has them all
    assert local_boxes(cutlery) == expected  # image by image, every box, with its tag
    # Boxes are the images' tags here too: the same counts, one image untagged.
    assert tag_counts(cutlery) == source_counts(azure, azure.cutlery) == {"fork": 5, "scissors": 5}
    counts = selectors.image_counts(project=cutlery)
    assert (counts.tagged, counts.untagged) == (9, 1)


def test_a_project_is_never_converted_silently():
    def project(domain_id: str | None, classification: str | None = "Multilabel") -> dict:
        settings = {"domainId": domain_id, "classificationType": classification}
        return {"id": "p", "name": "P", "settings": settings}

    asked: list[str] = []

    def lookup(domain_id: str) -> dict | None:
        asked.append(domain_id)
        return {
            "5e9f0000-0000-4000-8000-000000000001": {"type": "ObjectDetection", "name": "Drones"},
            "5e9f0000-0000-4000-8000-000000000002": {"type": "Classification", "name": "Art"},
            "5e9f0000-0000-4000-8000-000000000003": {"type": "Segmentation", "name": "Cells"},
        }.get(domain_id)

    # Azure's ids are this server's, both types: no question asked, nothing to say.
    kind = azure_import.source_project_kind(project(LOGO, None), lookup)
    assert (kind.domain.name, kind.domain.type, kind.note, kind.label) == (
        "Logo", "ObjectDetection", "", "Object detection",
    )  # fmt: skip
    kind = azure_import.source_project_kind(project(FOOD), lookup)
    assert (kind.domain.name, kind.classification_type, kind.label) == ("Food", *["Multilabel"] * 2)
    assert asked == []
    # A domain this server lacks, of a type it has: that type's General, said in the note.
    kind = azure_import.source_project_kind(project("5e9f0000-0000-4000-8000-000000000001"), lookup)
    assert (kind.domain.name, kind.domain.type) == ("General", "ObjectDetection")
    assert "'Drones' is not one this server has" in kind.note
    kind = azure_import.source_project_kind(project("5e9f0000-0000-4000-8000-000000000002"), lookup)
    assert (kind.domain.name, kind.domain.type) == ("General", "Classification")
    assert "classification domain 'Art'" in kind.note
    # A type it lacks, or a domain nobody can name: left out, and said why.
    for domain_id, words in [
        ("5e9f0000-0000-4000-8000-000000000003", "project type 'Segmentation'"),
        ("5e9f0000-0000-4000-8000-000000000009", "domain 5e9f0000-0000-4000-8000-000000000009"),
        (None, "domain (none given)"),
    ]:
        kind = azure_import.source_project_kind(project(domain_id), lookup)
        assert kind.domain is None and kind.label == "Not supported"
        assert kind.note.startswith("not imported") and words in kind.note


@pytest.mark.django_db
def test_a_project_this_server_cant_take_is_named_in_the_summary(azure, alice, monkeypatch):
    """The source reports a domain neither it (GetDomain: 404) nor this server knows."""
    real = AzureTrainingSource.projects

    def with_a_stranger(self):
        projects = real(self)
        for project in projects:
            if project["id"] == azure.menu:
                project["settings"]["domainId"] = "5e9f0000-0000-4000-8000-00000000abcd"
        return projects

    monkeypatch.setattr(AzureTrainingSource, "projects", with_a_stranger)
    output = run_import(azure, project=[azure.menu])
    job = AzureImport.objects.get()
    assert job.status == "Completed" and job.summary["projects"] == []
    [skipped] = job.summary["skipped"]
    assert skipped["name"] == "Menu" and skipped["reason"].startswith("not imported")
    assert "Menu: not imported: its domain 5e9f0000-0000-4000-8000-00000000abcd" in output
    assert not Project.objects.filter(owner=alice).exists()
    assert job.images_done == job.images_total == 12  # the bar went past it
