"""Projects → Import project through the test client: hostile archives get a 400 that says
why (never a 500) and create nothing; large archives become a job with a progress page."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import ArchiveImport, Project
from projects.services import archive_import
from tests import archives

pytestmark = pytest.mark.django_db


def post(client, resource, data: bytes, name: str = ""):
    upload = SimpleUploadedFile("export.zip", data, content_type="application/zip")
    return client.post(
        reverse("projects:import"), {"archive": upload, "resource": resource.id, "name": name}
    )


def refused(response) -> str:
    assert response.status_code == 400, response.status_code
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 1
    return str(errors[0])


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def lying_size(data: bytes) -> bytes:
    # The directory says 100 bytes; the deflated stream holds the whole manifest.
    return archives.patch_member(data, "project.json", size=100)


BIG = archives.manifest([], description="x" * 2_000_000)  # a manifest that inflates to 2 MB

MALFORMED = {
    "200,000-deep JSON": (
        archives.build(b'{"tags":' + deep(200_000) + b"}"),
        "tag 1 is nested too deeply",
    ),
    "a bad CRC": (
        archives.bad_crc(archives.build(archives.manifest()), "project.json"),
        "project.json is damaged",
    ),
    "encryption": (
        archives.encrypted(archives.build(archives.manifest()), "project.json"),
        "project.json is encrypted",
    ),
    "compression method 99": (
        archives.patch_member(archives.build(archives.manifest()), "project.json", method=99),
        "project.json is compressed with a method",
    ),
    "a lying size": (lying_size(archives.build(BIG)), "project.json is damaged"),
    "an invalid classificationType": (
        archives.build(archives.manifest(classificationType="Detector")),
        "classificationType is Multiclass or Multilabel",
    ),
}


@pytest.mark.parametrize("attack", MALFORMED, ids=list(MALFORMED))
def test_each_malformed_archive_is_a_400_with_its_reason(alice_client, resource, attack):
    data, reason = MALFORMED[attack]
    assert reason in refused(post(alice_client, resource, data))
    assert not Project.objects.exists()


def test_the_empty_object_manifest_bomb_is_refused(alice_client, resource):
    # 60 MB of `{}` deflates to a few KB: it used to be parsed whole (about 1 GB).
    bomb = b'{"format":"custom-vision-project","version":1,"images":[' + b"{}," * 20_000_000
    data = archives.build(bomb + b"{}]}")
    assert len(data) < 200_000
    assert "image 1 has no file" in refused(post(alice_client, resource, data))
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello", "The file is not a zip archive."),
        (archives.build(archives.manifest(), {}) + b"", None),
        (archives.many_members(3), "project.json is missing"),
        (archives.build(b"{'single': 'quotes'}"), "project.json is not JSON"),
        (archives.build(b"[1, 2]"), "project.json is not a JSON object"),
        (archives.build(deep(200_000)), "project.json is not a JSON object"),
        (archives.build(archives.manifest(format="other")), "not a project export"),
        (archives.build(archives.manifest(version=2)), "version"),
        (archives.build(archives.manifest(domainId="nope")), "domainId"),
        (
            archives.build(archives.manifest(domainId="00000000-0000-0000-0000-000000000000")),
            "domainId",
        ),
        (
            archives.build(archives.manifest(tags=[{"id": "t1", "name": "A", "type": "Odd"}])),
            "tag 1: type is Regular or Negative",
        ),
        (archives.build(archives.manifest(tags="Blue")), "tags is a list"),
        (archives.build(archives.manifest(name=42)), "name is text"),
        (archives.build(archives.manifest(name="a\x00b")), "NUL"),
        (
            archives.build(
                archives.manifest([archives.entry("a.jpg")], tags=[{"id": "t1", "name": "A\x00"}])
            ),
            "NUL",
        ),
        (archives.build(archives.manifest([{"file": 7}])), "image 1: file is text"),
        (
            archives.build(archives.manifest([{"file": "a.jpg", "tagIds": "t1"}]), {"a.jpg": b"x"}),
            "image 1: tagIds is a list",
        ),
        (
            archives.build(
                archives.manifest([{"file": "a.jpg", "metadata": "k=v"}]), {"a.jpg": b"x"}
            ),
            "image 1: metadata is an object",
        ),
        (archives.build(archives.manifest([archives.entry("gone.jpg")])), "image 1: its file"),
        (
            archives.build(
                archives.manifest(
                    tags=[{"id": "a", "name": "Blue"}, {"id": "b", "name": "BLUE"}],
                )
            ),
            "tag 2: another tag has that name",
        ),
        (archives.build(archives.manifest(description="x" * 300_000)), "longer than"),
        (archives.build(archives.manifest(images=None)), "images is a list"),
    ],
)
def test_a_bad_archive_is_a_400_in_our_words(alice_client, resource, data, reason):
    if reason is None:  # the control: a good archive with no images goes in
        assert post(alice_client, resource, data).status_code == 302
        return
    assert reason in refused(post(alice_client, resource, data))
    assert not Project.objects.exists()


def test_tag_and_image_counts_are_bounded(alice_client, resource, settings):
    settings.CV_MAX_TAGS_PER_PROJECT = 3
    tags = [{"id": str(i), "name": f"tag {i}", "type": "Regular"} for i in range(4)]
    message = refused(post(alice_client, resource, archives.build(archives.manifest(tags=tags))))
    assert "more than 3 tags" in message
    settings.CV_MAX_IMAGES_PER_PROJECT = 3
    assert "more than 3 images" in refused(post(alice_client, resource, archives.with_images(4)))
    assert not Project.objects.exists()


def test_an_image_entry_is_bounded(alice_client, resource, settings):
    settings.CV_MAX_TAGS_PER_PROJECT = 5
    many = archives.manifest([archives.entry("a.jpg", tuple(str(i) for i in range(6)))])
    assert "tagIds" in refused(post(alice_client, resource, archives.build(many, {"a.jpg": b"x"})))
    long_name = archives.manifest([archives.entry("a.jpg", name="n" * 256)])
    message = refused(post(alice_client, resource, archives.build(long_name, {"a.jpg": b"x"})))
    assert "image 1: name is at most 255 characters" in message
    nested = archives.manifest([archives.entry("a.jpg", metadata={"k": {"deeper": ["v"]}})])
    message = refused(post(alice_client, resource, archives.build(nested, {"a.jpg": b"x"})))
    assert "nested too deeply" in message


def test_a_directory_of_too_many_files_is_refused_before_it_is_read(
    alice_client, resource, settings
):
    settings.CV_MAX_IMAGES_PER_PROJECT = 10
    message = refused(post(alice_client, resource, archives.many_members(2_000)))
    assert "more than 1,010 files" in message


def test_a_large_archive_becomes_a_job_with_a_progress_page(
    alice_client, bob_client, resource, settings
):
    # 20,000 entries used to be ingested inside the request (57 s on the red team's machine).
    names = [f"images/{i}.jpg" for i in range(20_000)]
    data = archives.build(
        archives.manifest([archives.entry(n) for n in names]), dict.fromkeys(names, b"x")
    )
    response = post(alice_client, resource, data, name="Big")
    job = ArchiveImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:archive_import_job", args=[job.id])
    assert (job.status, job.images_total, job.name) == ("Queued", 20_000, "Big")
    assert not Project.objects.exists()  # the worker creates it
    page = alice_client.get(response["Location"])
    assert b"Waiting for a worker" in page.content and b"import-progress" in page.content
    state = alice_client.get(response["Location"], HTTP_ACCEPT="application/json").json()
    assert state == {
        "status": "Queued",
        "phase": "Waiting for a worker",
        "percent": 0,
        "done": 0,
        "total": 20_000,
        "active": True,
    }
    assert bob_client.get(response["Location"]).status_code == 404
    # One at a time: the import page links to this one, and a second archive is refused.
    assert b"see its progress" in alice_client.get(reverse("projects:import")).content
    again = refused(post(alice_client, resource, archives.with_images(3)))
    assert "already importing an archive" in again
    archive_import.archive_import_run(job_id=job.id)  # what the worker does
    job.refresh_from_db()
    assert job.status == "Completed"
    state = alice_client.get(response["Location"], HTTP_ACCEPT="application/json").json()
    assert state["active"] is False and state["done"] == 20_000
    page = alice_client.get(response["Location"]).content.decode()
    assert "Images that didn't go in (20000)" in page


def test_a_small_archive_is_imported_in_the_request(alice_client, resource):
    response = post(alice_client, resource, archives.with_images(3), name="Small")
    project = Project.objects.get(name="Small")
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:images", args=[project.id])
    assert project.images.count() == 3
    assert not ArchiveImport.objects.exists()


def test_a_member_that_fails_is_listed_not_a_400(alice_client, resource):
    data = archives.with_images(3)
    data = archives.bad_crc(data, "images/1.jpg")
    data = archives.encrypted(data, "images/2.jpg")
    response = post(alice_client, resource, data, name="Partly")
    assert response.status_code == 302
    assert Project.objects.get(name="Partly").images.count() == 1
    shown = [str(m) for m in response.wsgi_request._messages]
    assert any("images/1.jpg: The file can't be read from the archive" in m for m in shown)
    assert any("images/2.jpg: The file is encrypted" in m for m in shown)


def test_every_refusal_leaves_the_page_usable(alice_client, resource):
    # A refused import keeps the form, with the user's resource still chosen.
    response = post(alice_client, resource, archives.build(archives.manifest(version="1")))
    assert response.status_code == 400
    assert b"Project export (.zip)" in response.content


def test_the_manifest_is_read_as_written_by_our_exporter(alice_client, resource):
    # Keys in any order, tags after images, pretty-printed: all fine.
    body = archives.manifest([archives.entry("a.jpg")])
    reordered = {"images": body.pop("images"), **body}
    data = archives.build(json.dumps(reordered, indent=1).encode(), {"a.jpg": b"not an image"})
    assert post(alice_client, resource, data, name="Order").status_code == 302
    assert Project.objects.get(name="Order").tags.get().name == "Blue"


def test_an_uncompressed_manifest_reads_too(alice_client, resource):
    data = archives.build(archives.manifest(), method=zipfile.ZIP_STORED)
    assert post(alice_client, resource, data).status_code == 302
