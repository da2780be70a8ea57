"""Project export archives for the import tests: good ones, and every way a hostile one lies.

The forgers patch a member's fields in both its local header and its central-directory entry
(zipfile reads the directory, and checks the local header's name against it), so the archive
still opens and the lie is met only when the member is read.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

from tests import images

GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"

HEADER: dict[str, Any] = {
    "format": "custom-vision-project",
    "version": 1,
    "name": "Zipped",
    "description": "",
    "classificationType": "Multiclass",
    "domainId": GENERAL,
    "targetExportPlatforms": [],
    "tags": [{"id": "t1", "name": "Blue", "description": "", "type": "Regular"}],
}


def manifest(entries: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return HEADER | {"images": entries or []} | fields


def entry(file: str, tags: tuple[str, ...] = ("t1",), **fields: Any) -> dict[str, Any]:
    return {"file": file, "tagIds": list(tags), **fields}


def build(
    project_json: bytes | dict[str, Any],
    files: dict[str, bytes] | None = None,
    *,
    method: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    raw = project_json if isinstance(project_json, bytes) else json.dumps(project_json).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.json", raw, compress_type=method)
        for name, content in (files or {}).items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def with_images(count: int, *, tagged: bool = True) -> bytes:
    """A good archive of `count` distinct small JPEGs."""
    pictures = images.distinct(count, size=(64, 64))
    names = [f"images/{i}.jpg" for i in range(count)]
    entries = [entry(n, ("t1",) if tagged else ()) for n in names]
    return build(manifest(entries), dict(zip(names, pictures, strict=True)))


def patch_member(
    data: bytes,
    name: str,
    *,
    flags: int | None = None,
    method: int | None = None,
    crc: int | None = None,
    size: int | None = None,
) -> bytes:
    """`data` with `name`'s general-purpose flags, compression method, CRC or uncompressed
    size replaced, in the local header and the central directory alike."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        local = zf.getinfo(name).header_offset
    central = _central_entry(data, local)
    for base, at_flags, at_method, at_crc, at_size in (
        (local, 6, 8, 14, 22),
        (central, 8, 10, 16, 24),
    ):
        if flags is not None:
            struct.pack_into("<H", out, base + at_flags, flags)
        if method is not None:
            struct.pack_into("<H", out, base + at_method, method)
        if crc is not None:
            struct.pack_into("<L", out, base + at_crc, crc)
        if size is not None:
            struct.pack_into("<L", out, base + at_size, size)
    return bytes(out)


def member_info(data: bytes, name: str) -> zipfile.ZipInfo:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.getinfo(name)


def _central_entry(data: bytes, local_offset: int) -> int:
    at = data.index(b"PK\x05\x06")  # the end record says where the directory starts
    _sig, _d, _s, _n, _total, _size, start, _c = struct.unpack_from("<4s4H2LH", data, at)
    while start < at:
        (offset,) = struct.unpack_from("<L", data, start + 42)
        if offset == local_offset:
            return start
        lengths = struct.unpack_from("<3H", data, start + 28)
        start += 46 + sum(lengths)
    raise AssertionError("no such member in the central directory")


def encrypted(data: bytes, name: str) -> bytes:
    return patch_member(data, name, flags=member_info(data, name).flag_bits | 0x1)


def bad_crc(data: bytes, name: str) -> bytes:
    return patch_member(data, name, crc=member_info(data, name).CRC ^ 0xFFFF)


def many_members(count: int) -> bytes:
    """A zip with `count` empty members and no manifest: a directory that costs memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(count):
            zf.writestr(f"{i:x}", b"")
    return buffer.getvalue()
