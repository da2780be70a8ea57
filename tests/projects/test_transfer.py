"""Project import: a bad member fails alone, duplicates cost one decode, counts are honest."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest

from projects.models import Image
from projects.services import images as image_services
from projects.services.transfer import project_import
from tests import images

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
