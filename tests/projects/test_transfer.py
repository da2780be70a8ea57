"""Project import: a bad member fails alone, duplicates cost one decode, counts are honest."""

from __future__ import annotations

import io
import json
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
