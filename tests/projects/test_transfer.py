"""Project import: a bad member fails alone, duplicates cost one decode, counts are honest."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from projects import archive as reader
from projects.models import Image, Project, Tag
from projects.services import images as image_services
from projects.services.images import ImageUpload
from projects.services.transfer import project_import
from tests import archives, images

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db

MANIFEST = {
    "format": "custom-vision-project",
    "version": 1,
    "name": "Zipped",
    "classificationType": "Multiclass",
    "domainId": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
    "tags": [{"id": "t1", "name": "Blue", "type": "Regular"}],
}


def archive(files: dict[str, bytes], entries: list[str], encrypted: frozenset = frozenset()):
    manifest = MANIFEST | {"images": [{"file": name, "tagIds": ["t1"]} for name in entries]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.json", json.dumps(manifest))
        for name, content in files.items():
            zf.writestr(name, content)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        offsets = {name: zf.getinfo(name).header_offset for name in encrypted}
    for name, offset in offsets.items():
        data[offset + 6] |= 0x1  # local header: "encrypted", a password is needed to read it
        # The central directory's copy of the name comes last; its entry's 46-byte header
        # holds the same flags at offset 8.
        at = data.rindex(name.encode())
        data[at - 46 + 8] |= 0x1
    return bytes(data)


def corrupt(data: bytes, member_content: bytes) -> bytes:
    """Flip a byte inside a stored member: its CRC no longer matches."""
    at = data.index(member_content) + 100
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def test_a_bad_crc_or_encrypted_member_fails_alone(alice, resource):
    good, damaged, secret = images.distinct(3)
    data = archive(
        {"good.jpg": good, "damaged.jpg": damaged, "secret.jpg": secret},
        ["good.jpg", "damaged.jpg", "secret.jpg"],
        encrypted=frozenset({"secret.jpg"}),
    )
    report = project_import(
        owner=alice, resource=resource, archive=io.BytesIO(corrupt(data, damaged))
    )
    assert report.images_ok == 1
    failed = dict(report.images_failed)
    assert set(failed) == {"damaged.jpg", "secret.jpg"}
    assert "can't be read from the archive" in failed["damaged.jpg"]
    assert "encrypted" in failed["secret.jpg"]
    assert Image.objects.filter(project=report.project).count() == 1


def test_one_image_named_thirty_times_is_decoded_once_and_counted_once(
    alice, resource, monkeypatch
):
    decodes = []
    real = image_services.prepare_image

    def counting(data, rules=None):
        decodes.append(len(data))
        return real(data, rules)

    monkeypatch.setattr(image_services, "prepare_image", counting)
    heavy = images.pixel_heavy_png(3000, 3000, mode="RGB")  # 27 MB decoded, under the limit
    data = archive({"heavy.png": heavy}, ["heavy.png"] * 30)
    report = project_import(owner=alice, resource=resource, archive=io.BytesIO(data))
    assert report.images_ok == 1 and report.images_duplicate == 29
    assert not report.images_failed
    assert len(decodes) == 1
    assert Image.objects.filter(project=report.project).count() == 1


def test_a_round_trip_keeps_names_metadata_and_export_platforms(alice, resource):
    from projects import services
    from projects.services.images import ImageUpload
    from projects.services.transfer import project_export

    compact = "0732100f-1a38-4e49-a514-c9b44c697ab5"
    source = services.project_create(
        owner=alice,
        resource=resource,
        name="Trees",
        domain_id=uuid.UUID(compact),
        target_export_platforms=["onnx"],
    )
    tag = services.tag_create(project=source, name="Blue")
    services.images_create(
        project=source,
        uploads=[ImageUpload(name="my tree.jpg", data=images.distinct(1)[0])],
        tag_ids=[tag.id],
        metadata={"Camera": "north"},
    )
    with project_export(source) as archive_file:
        report = project_import(owner=alice, resource=resource, archive=archive_file)
    copy = report.project
    assert copy.target_export_platforms == ["ONNX"]
    image = copy.images.get()
    assert (image.original_name, image.metadata) == ("my tree.jpg", {"Camera": "north"})
    assert [t.name for t in image.tags.all()] == ["Blue"]


def test_bad_metadata_in_an_archive_fails_that_image_alone(alice, resource):
    blue, red = images.distinct(2)
    manifest = MANIFEST | {
        "images": [
            {"file": "a.jpg", "tagIds": ["t1"], "metadata": {"k": "v" * 300}},
            {"file": "b.jpg", "tagIds": ["t1"], "metadata": {"k": "v"}},
        ]
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.json", json.dumps(manifest))
        zf.writestr("a.jpg", blue)
        zf.writestr("b.jpg", red)
    buffer.seek(0)
    report = project_import(owner=alice, resource=resource, archive=buffer)
    assert report.images_ok == 1
    assert report.images_failed[0][0] == "a.jpg" and "256" in report.images_failed[0][1]
    assert Image.objects.get().metadata == {"k": "v"}


# --- Object detection: the domain and every box -------------------------------------------


def boxes_of(project: Project) -> dict[str, set[tuple]]:
    """Each image's boxes by its name: (tag name, left, top, width, height), to a millionth."""
    found: dict[str, set[tuple]] = {}
    for image in project.images.prefetch_related("regions__tag"):
        found[image.original_name] = {
            (r.tag.name, *(round(v, 6) for v in (r.left, r.top, r.width, r.height)))
            for r in image.regions.all()
        }
    return found


def test_a_detection_project_round_trips_with_its_domain_and_every_box(alice, resource):
    from projects import services
    from projects.domains import DOMAINS, OBJECT_DETECTION
    from projects.services.transfer import project_export

    logo = next(d for d in DOMAINS if d.type == OBJECT_DETECTION and d.name == "Logo")
    source = services.project_create(
        owner=alice, resource=resource, name="Shelf", domain_id=logo.id
    )
    fork = services.tag_create(project=source, name="fork")
    knife = services.tag_create(project=source, name="knife")
    one, two, bare = images.distinct(3)
    boxes = {
        "two boxes.jpg": [(fork.id, 0.1, 0.2, 0.3, 0.4), (knife.id, 0.5, 0.5, 0.25, 0.5)],
        "one box.jpg": [(knife.id, 0.0, 0.0, 1.0, 1.0)],
    }
    uploads = [
        ImageUpload(name="two boxes.jpg", data=one, regions=boxes["two boxes.jpg"]),
        ImageUpload(name="one box.jpg", data=two, regions=boxes["one box.jpg"]),
        ImageUpload(name="no box.jpg", data=bare),
    ]
    assert all(r.status.ok for r in services.images_create(project=source, uploads=uploads))
    with project_export(source) as archive_file:
        with zipfile.ZipFile(archive_file) as zf:
            manifest = json.loads(zf.read("project.json"))
        archive_file.seek(0)
        report = project_import(owner=alice, resource=resource, archive=archive_file)
    assert manifest["domainId"] == str(logo.id)
    assert sorted(len(e["regions"]) for e in manifest["images"]) == [0, 1, 2]
    copy = report.project
    assert copy.domain == logo and copy.is_detection
    assert report.images_ok == 3 and not report.images_failed
    assert boxes_of(copy) == boxes_of(source)
    assert sum(len(b) for b in boxes_of(copy).values()) == 3
    # The boxes are the images' tags there, as in the source.
    counts = {t.name: t.images.count() for t in copy.tags.all()}
    assert counts == {"fork": 1, "knife": 2}
    assert copy.images.filter(tagged=True).count() == 2


def od_archive(regions: list[list[dict]]) -> io.BytesIO:
    pictures = images.distinct(len(regions))
    names = [f"images/{i}.jpg" for i in range(len(regions))]
    entries = [
        archives.entry(name, ("t1",), regions=boxes)
        for name, boxes in zip(names, regions, strict=True)
    ]
    detection = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"  # General (object detection)
    manifest = archives.manifest(entries, domainId=detection)
    return io.BytesIO(archives.build(manifest, dict(zip(names, pictures, strict=True))))


def box(tag: str = "t1", **fields) -> dict:
    return {"tagId": tag, "left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5} | fields


def test_an_image_whose_box_cant_be_taken_fails_alone_and_says_why(alice, resource):
    data = od_archive([[box()], [box(left=0.8)], [box(tag="t9")], [box(width=0)]])
    report = project_import(owner=alice, resource=resource, archive=data)
    assert report.images_ok == 1
    failed = dict(report.images_failed)
    assert set(failed) == {"images/1.jpg", "images/2.jpg", "images/3.jpg"}
    assert "not inside the image" in failed["images/1.jpg"]
    assert "tag the archive does not list" in failed["images/2.jpg"]
    assert "positive width and height" in failed["images/3.jpg"]
    [kept] = report.project.images.all()
    assert kept.regions.count() == 1 and kept.tagged


@pytest.mark.parametrize(
    ("regions", "reason"),
    [
        ({"tagId": "t1"}, "regions is a list"),
        (["t1", 0.1, 0.1, 0.5, 0.5], "each of its regions is an object"),
        ([box(left="0.1")], "are numbers"),
        ([box(top=True)], "are numbers"),
        ([box(tag=7)], "tagId is a tag's id"),
        ([box()] * 301, "more than 300 boxes"),
    ],
)
def test_a_malformed_region_refuses_the_archive(alice, resource, regions, reason):
    with pytest.raises(ValidationError, match=reason):
        project_import(owner=alice, resource=resource, archive=od_archive([regions]))
    assert not Project.objects.exists()


def test_the_readers_region_limit_is_the_projects():
    from projects import rules

    assert reader.MAX_REGIONS_PER_IMAGE == rules.MAX_REGIONS_PER_IMAGE


# --- Hostile archives: bounded time and memory ---------------------------------------------

MEASURE = """
import sys
import django
django.setup()
from django.core.exceptions import ValidationError
from projects.services.transfer import project_import

def peak_kb():  # this process's own high-water mark (ru_maxrss keeps the parent's after exec)
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])

before = peak_kb()
with open(sys.argv[1], "rb") as archive:
    try:
        project_import(owner=None, resource=None, archive=archive)
        outcome = "imported"
    except ValidationError as exc:
        outcome = " ".join(exc.messages)
    except BaseException as exc:
        outcome = type(exc).__name__
print((peak_kb() - before) // 1024, outcome, sep="\\n")
"""


def import_in_a_process(path) -> tuple[int, str]:
    """Import `path` in a fresh interpreter: the MB its peak RSS grew by, and the outcome."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="portal.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown, outcome = done.stdout.strip().splitlines()[-2:]
    return int(grown), outcome


BOMB_HEAD = b'{"format":"custom-vision-project","version":1,"images":['


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # 60 MB of `{}`: json.loads built 20 million dicts (about 1 GB).
        (BOMB_HEAD + b"{}," * 20_000_000 + b"{}]}", "image 1 has no file"),
        # A 60 MB string, then a 60 MB number: one token that the parser buffers whole.
        (BOMB_HEAD[:-11] + b',"name":"' + b"x" * 60_000_000 + b'"}', "longer than 256 KiB"),
        (BOMB_HEAD[:-11] + b',"size":1' + b"0" * 60_000_000 + b"}", "longer than 256 KiB"),
        # One image entry whose tag list is the whole file.
        (BOMB_HEAD + b'{"file":"a","tagIds":[' + b'"ab",' * 12_000_000 + b'"a"]}]}', "image 1 is"),
    ],
    ids=["empty-objects", "long-string", "long-number", "one-huge-entry"],
)
def test_a_manifest_bomb_is_refused_with_bounded_memory(tmp_path, body, reason):
    path = tmp_path / "bomb.zip"
    path.write_bytes(archives.build(body))
    assert path.stat().st_size < 1_000_000
    grown, outcome = import_in_a_process(path)
    assert reason in outcome
    assert grown < 100, f"{grown} MB"


def test_a_huge_directory_is_refused_before_zipfile_builds_it(tmp_path, settings):
    path = tmp_path / "many.zip"
    path.write_bytes(archives.many_members(400_000))  # about 200 MB as zipfile's objects
    grown, outcome = import_in_a_process(path)
    assert "files" in outcome
    assert grown < 100, f"{grown} MB"


# --- The reader's parts ---------------------------------------------------------------------


def test_the_readers_vocabulary_is_the_models():
    assert tuple(Project.ClassificationType.values) == reader.CLASSIFICATION_TYPES
    assert tuple(Tag.Type.values) == reader.TAG_TYPES
    assert Tag._meta.get_field("name").max_length == reader.MAX_TAG_NAME
    assert Image._meta.get_field("original_name").max_length == reader.MAX_IMAGE_NAME
    assert Project._meta.get_field("name").max_length == reader.MAX_PROJECT_NAME


def guard(*reads: bytes) -> None:
    token_guard = reader._TokenGuard()
    for data in reads:
        token_guard.feed(data)


def test_the_token_guard_sees_through_escapes():
    limit = reader.MAX_TOKEN_BYTES
    # Escaped quotes and backslashes are inside the string: a long one is still long...
    with pytest.raises(reader.ArchiveError, match="longer than 256 KiB"):
        guard(b'{"name": "' + b'\\"' * limit + b'"}')
    with pytest.raises(reader.ArchiveError, match="longer than 256 KiB"):
        guard(b'{"name": "' + b"\\\\" * limit + b'"}')
    # ...a short one is fine, even cut between two reads in the middle of an escape...
    text = b'{"name": "a\\\\\\"b' + b"x" * 1000 + b'", "b": 1}'
    for cut in range(8, 20):
        guard(text[:cut], text[cut:])
    # ...and an escaped backslash before the closing quote ends the string: two stretches of
    # 150 KB, not one of 300 KB, wherever the reads are cut.
    text = b'{"a": "' + b"\\\\" * 75_000 + b'"' + b" " * 150_000 + b', "b": "c"}'
    end = text.index(b'" ')
    for cut in (end - 2, end - 1, end, end + 1):
        guard(text[:cut], text[cut:])
    with pytest.raises(reader.ArchiveError):
        guard(b'{"a": 1' + b" " * (limit + 1), b'"')


@pytest.mark.parametrize(
    "make",
    [
        lambda: archives.build(archives.manifest()),
        lambda: b"#!/bin/sh\nunzip it\n" + archives.build(archives.manifest()),  # prepended
        lambda: archives.many_members(70_000),  # zip64 end records (more than 65,535)
    ],
    ids=["plain", "prepended", "zip64"],
)
def test_the_directory_is_found_where_zipfile_finds_it(make):
    data = make()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        expected = (zf.start_dir, len(zf.infolist()))
    start, size = reader._directory(io.BytesIO(data))
    assert start == expected[0]
    assert reader._entries(io.BytesIO(data), start, size) == expected[1]


def test_a_comment_is_read_past():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a", b"1")
        zf.comment = b"exported by hand " * 10
    data = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert reader._directory(io.BytesIO(data))[0] == zf.start_dir


def test_bzip2_members_are_refused_by_name(alice, resource):
    data = archives.build(archives.manifest(), method=zipfile.ZIP_BZIP2)
    with pytest.raises(ValidationError, match="compressed with a method"):
        project_import(owner=alice, resource=resource, archive=io.BytesIO(data))
    assert not Project.objects.exists()


def test_an_api_copy_goes_through_the_same_checks(alice, resource):
    from projects import services
    from projects.services.transfer import project_copy

    source = services.project_create(owner=alice, resource=resource, name="Source")
    tag = services.tag_create(project=source, name="Blue")
    services.images_create(
        project=source,
        uploads=[ImageUpload(name=f"{i}.jpg", data=d) for i, d in enumerate(images.distinct(3))],
        tag_ids=[tag.id],
    )
    copy = project_copy(source=source, owner=alice, resource=resource, name="Copy")
    assert copy.images.count() == 3 and copy.tags.get().name == "Blue"


def test_reading_stops_at_the_limit_whatever_the_header_says():
    manifest = reader._ManifestReader(io.BytesIO(b" " * 100), 64)
    assert manifest.read(64) == b" " * 64
    with pytest.raises(reader.ArchiveError, match="larger than"):
        manifest.read(64)
