"""Reading a project export archive that nobody vouches for (Projects → Import project).

Plain Python, no Django: `projects.services.transfer` turns what it reads into a project.
Everything an uploaded zip says is checked before the work it would cause, so a hostile one
costs seconds and a bounded amount of memory, and is refused with a reason in our words:

- The zip's directory is found the way zipfile finds it and its entries are counted before
  zipfile builds an object for each (about 500 bytes apiece: 400,000 empty members in a 34 MB
  upload cost 220 MB).
- project.json: its size in the directory is checked, then the bytes actually inflated are
  capped at the same limit, so a header that lies gets no further than one that doesn't.
- It is parsed as a stream of events (ijson), and each tag or image entry is built on its own
  under a budget (values, characters, three levels of nesting: an image's regions are a list
  of objects), so memory is bounded by one entry, not by the file: `json.loads` turned 60 MB
  of `{}` (a 60 KB zip) into 1.4 GB.
- No JSON token may be longer than MAX_TOKEN_BYTES (`_TokenGuard`).
- Members are read one at a time, each capped at the image limit; a member that is
  encrypted, damaged or oddly compressed fails alone (`MemberError`).
"""

from __future__ import annotations

import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import ijson

from projects.domains import DOMAINS_BY_ID, EXPORT_PLATFORMS

FORMAT = "custom-vision-project"
VERSION = 1
MANIFEST = "project.json"
# The values the models accept (tests/projects/test_transfer.py checks they still agree).
CLASSIFICATION_TYPES = ("Multiclass", "Multilabel")
TAG_TYPES = ("Regular", "Negative")
# Stored and deflate are what exports are written with. bzip2 and LZMA are refused: zipfile
# inflates a whole compressed block of theirs at once, however small the read asked for.
READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

MAX_TOKEN_BYTES = 256 * 1024
MAX_TEXT = 4_000  # characters of a description: core.text.DESCRIPTION_MAX, as the services take
# JSON values in one tag or image entry, keys included, beyond one per tag it may name
ENTRY_VALUES_BEYOND_TAGS = 128
# An image's boxes (object detection): at most projects.rules.MAX_REGIONS_PER_IMAGE, each an
# object of 12 JSON values ({"tagId", "left", "top", "width", "height"}, keys counted).
MAX_REGIONS_PER_IMAGE = 300
REGION_VALUES = 12
# JSON values in the whole manifest, per image or tag it may list: an export has about 12 per
# image, 30 with ten metadata pairs; a bomb of three-byte values has 20 million in 60 MB.
MAX_VALUES_PER_IMAGE = 64
# And per image for boxes: an average of 16 at the project's image limit (real exports have
# far fewer images than the limit, so far more boxes each fit).
REGION_VALUES_PER_IMAGE = 16 * REGION_VALUES
MAX_ENTRY_TEXT = 65_536  # characters in one entry (or one top-level field), keys included
MAX_DEPTH = 3  # containers in an entry: the entry, its tagIds, metadata or regions, a region
MAX_FIELDS = 64  # top-level fields of project.json
MAX_ID = 128
MAX_FILE_NAME = 1_024
MAX_PROJECT_NAME = 200  # Project.name
MAX_TAG_NAME = 256  # Tag.name
MAX_IMAGE_NAME = 255  # Image.original_name
MAX_PLATFORMS = 16
EXTRA_MEMBERS = 1_000  # beyond one per image: project.json, folders, stray files
DIRECTORY_BYTES_PER_MEMBER = 256  # an export's entry takes about 130
READ_CHUNK = 64 * 1024


class ArchiveError(Exception):
    """The archive can't be imported; the message says why without quoting it."""


class MemberError(Exception):
    """One member can't be read; the import goes on without it."""


@dataclass(frozen=True)
class Limits:
    manifest_bytes: int
    tags: int
    images: int

    @property
    def entry_values(self) -> int:
        return self.tags + ENTRY_VALUES_BEYOND_TAGS + MAX_REGIONS_PER_IMAGE * REGION_VALUES

    @property
    def manifest_values(self) -> int:
        return (
            self.images + self.tags + 1
        ) * MAX_VALUES_PER_IMAGE + self.images * REGION_VALUES_PER_IMAGE

    @property
    def members(self) -> int:
        return self.images + EXTRA_MEMBERS

    @property
    def directory_bytes(self) -> int:
        return self.members * DIRECTORY_BYTES_PER_MEMBER


@dataclass(frozen=True)
class TagEntry:
    id: str
    name: str
    description: str
    type: str


# A box as the manifest gives it: (the archive's tag id, left, top, width, height). Only its
# shape is checked here; whether it lies inside the image is the import's (image by image).
RegionEntry = tuple[str, float, float, float, float]
REGION_FIELDS = ("left", "top", "width", "height")


@dataclass(frozen=True)
class ImageEntry:
    file: str
    name: str
    tag_ids: tuple[str, ...]
    metadata: dict[str, Any] | None  # checked by ingestion, image by image, as an upload's is
    size: int  # the member's size as the directory gives it
    regions: tuple[RegionEntry, ...] = ()  # an object-detection project's boxes


@dataclass
class Outline:
    """What the request needs to know: the settings, the tags, and how many images."""

    name: str
    description: str
    classification_type: str
    domain_id: uuid.UUID
    export_platforms: list[str]
    tags: list[TagEntry]
    images: int = 0
    image_bytes: int = 0  # the members' sizes from the directory, an image named twice twice


# --- The zip --------------------------------------------------------------------------------

_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_ENTRY_SIGNATURE = b"PK\x01\x02"


def open_archive(file: IO[bytes], limits: Limits) -> zipfile.ZipFile:
    """The zip, once its directory is known to be of a size a project's export can have."""
    try:
        start, size = _directory(file)
        if size > limits.directory_bytes or _entries(file, start, size) > limits.members:
            raise ArchiveError(
                f"The archive holds more than {limits.members:,} files (a project's images, "
                "its project.json and a few more), or their names are too long."
            )
        file.seek(0)
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error):
        raise ArchiveError("The file is not a zip archive.") from None


def _directory(file: IO[bytes]) -> tuple[int, int]:
    """Where the central directory starts and its size, found as zipfile finds them (the end
    record, then a zip64 one just before it), so the bound checked is the one zipfile reads."""
    file.seek(0, 2)
    end = file.tell()
    tail_start = max(0, end - _END.size - 0xFFFF)
    file.seek(tail_start)
    tail = file.read()
    at = len(tail) - _END.size
    if at < 0:
        raise zipfile.BadZipFile
    if not (tail[at : at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):  # no comment
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _END.size:
            raise zipfile.BadZipFile
    size: int = _END.unpack_from(tail, at)[5]
    location = tail_start + at
    if location >= _END64_LOCATOR.size + _END64.size:
        file.seek(location - _END64_LOCATOR.size)
        if file.read(4) == b"PK\x06\x07":
            file.seek(location - _END64_LOCATOR.size - _END64.size)
            record = file.read(_END64.size)
            if len(record) == _END64.size and record[:4] == b"PK\x06\x06":
                size = _END64.unpack(record)[8]
                location -= _END64_LOCATOR.size + _END64.size
    if size > location:
        raise zipfile.BadZipFile
    return location - size, size


def _entries(file: IO[bytes], start: int, size: int) -> int:
    """Entries in the directory, at least: each starts with the signature (a name holding
    those four bytes counts twice, which only errs on the safe side)."""
    file.seek(start)
    count, left, carry = 0, size, b""
    while left > 0:
        chunk = file.read(min(left, 1024 * 1024))
        if not chunk:
            break
        left -= len(chunk)
        data = carry + chunk
        count += data.count(_ENTRY_SIGNATURE)
        carry = data[-3:]  # a signature split across two reads is counted once, in the second
    return count


# --- project.json ---------------------------------------------------------------------------


def outline(zf: zipfile.ZipFile, limits: Limits) -> Outline:
    """The whole manifest checked, every image entry naming a member that is there; the
    settings and tags kept, the images only counted."""
    header: dict[str, Any] = {}
    tags: list[TagEntry] = []
    images = image_bytes = 0
    for kind, index, raw in _items(zf, limits, header):
        if kind == "tags":
            tags.append(_tag_entry(index, raw, tags))
        else:
            image = _image_entry(zf, index, raw, limits)
            images, image_bytes = images + 1, image_bytes + image.size
    found = _header(header)
    found.tags, found.images, found.image_bytes = tags, images, image_bytes
    return found


def image_entries(zf: zipfile.ZipFile, limits: Limits) -> Iterator[ImageEntry]:
    """The image entries, one at a time, checked as `outline` checks them."""
    for kind, index, raw in _items(zf, limits, {}):
        if kind == "images":
            yield _image_entry(zf, index, raw, limits)


def _items(
    zf: zipfile.ZipFile, limits: Limits, header: dict[str, Any]
) -> Iterator[tuple[str, int, Any]]:
    info = _manifest_info(zf, limits)
    try:
        with zf.open(info) as raw:
            reader = _ManifestReader(raw, limits.manifest_bytes)
            events = ijson.basic_parse(reader, buf_size=READ_CHUNK)
            yield from _walk(events, limits, header)
    except ijson.JSONError:
        raise ArchiveError(f"{MANIFEST} is not JSON.") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError):
        raise ArchiveError(
            f"{MANIFEST} is damaged: its checksum or size doesn't match the archive's directory."
        ) from None
    except (NotImplementedError, RuntimeError):
        raise ArchiveError(f"{MANIFEST} is stored in a way this server doesn't read.") from None
    except UnicodeError:
        raise ArchiveError(f"{MANIFEST} is not UTF-8 text.") from None


def _manifest_info(zf: zipfile.ZipFile, limits: Limits) -> zipfile.ZipInfo:
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise ArchiveError(f"{MANIFEST} is missing: this is not a project export.") from None
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{MANIFEST} is encrypted: export the project again, with no password.")
    if info.compress_type not in READABLE_METHODS:
        raise ArchiveError(
            f"{MANIFEST} is compressed with a method this server doesn't read "
            "(it reads stored and deflate)."
        )
    if info.file_size > limits.manifest_bytes:
        raise _too_large(limits.manifest_bytes)
    return info


def _too_large(limit: int) -> ArchiveError:
    return ArchiveError(f"{MANIFEST} is larger than {limit // 2**20:,} MiB.")


class _ManifestReader:
    """project.json's bytes for the parser: at most the limit, whatever its header said, and
    no token longer than MAX_TOKEN_BYTES."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw, self.limit, self.left = raw, limit, limit
        self.guard = _TokenGuard()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size >= 0 else READ_CHUNK)
        self.left -= len(data)
        if self.left < 0:
            raise _too_large(self.limit)
        self.guard.feed(data)
        return data


class _TokenGuard:
    """Refuses a JSON token (a string, a number) longer than MAX_TOKEN_BYTES before the parser
    meets it. yajl buffers a token whole and grows its buffer by copying: a 60 MB number took
    154 s, a 60 MB string 11 s and 60 MB. A string lies between two unescaped quotes and any
    other token between a quote and the next, so no stretch between quotes may be longer.
    Escapes are overwritten with filler of the same length first, so that `\\"` inside a
    string is not taken for its end. All of it is a few C-speed passes per 64 KB read."""

    def __init__(self) -> None:
        self.since_quote = 0
        self.carry = b""  # an odd backslash at the end of a read: it escapes the next byte

    def feed(self, data: bytes) -> None:
        chunk = self.carry + data
        odd = (len(chunk) - len(chunk.rstrip(b"\\"))) % 2
        self.carry = chunk[len(chunk) - odd :]
        body = chunk[: len(chunk) - odd].replace(b"\\\\", b"__").replace(b'\\"', b"__")
        first = body.find(b'"')
        if first < 0:
            self.since_quote += len(body)
        else:
            if self.since_quote + first > MAX_TOKEN_BYTES:
                raise self.error()
            # Only a read longer than the limit can hold a long stretch between two of its
            # quotes; ijson reads 64 KB, so this is for other callers.
            if len(body) > MAX_TOKEN_BYTES and max(map(len, body.split(b'"'))) > MAX_TOKEN_BYTES:
                raise self.error()
            self.since_quote = len(body) - body.rfind(b'"') - 1
        if self.since_quote > MAX_TOKEN_BYTES:
            raise self.error()

    @staticmethod
    def error() -> ArchiveError:
        return ArchiveError(
            f"{MANIFEST} has a value longer than {MAX_TOKEN_BYTES // 1024} KiB: "
            "no project export does."
        )


def _walk(
    events: Iterator[tuple[str, Any]], limits: Limits, header: dict[str, Any]
) -> Iterator[tuple[str, int, Any]]:
    """The top-level object: the tags and images entries yielded one at a time, the other
    fields put in `header` (unknown ones read within a budget and dropped)."""
    if _next(events)[0] != "start_map":
        raise ArchiveError(f"{MANIFEST} is not a JSON object.")
    total = _Total(limits)
    fields = 0
    for event, key in events:
        if event == "end_map":
            break
        fields += 1
        if fields > MAX_FIELDS:
            raise ArchiveError(f"{MANIFEST} has more than {MAX_FIELDS} fields.")
        known = key in _KNOWN_FIELDS
        if known and key in header:
            raise ArchiveError(f"{MANIFEST} has {key} twice.")
        if key in ("tags", "images"):
            header[key] = True  # seen; the entries themselves go to the caller
            yield from _entries_of(events, key, limits, total)
            continue
        event, value = _next(events)
        built = _build(events, event, value, key if known else "a field", limits, total)
        if known:
            header[key] = built
    for _event in events:  # the parser checks the rest is only white space
        pass


def _entries_of(
    events: Iterator[tuple[str, Any]], key: str, limits: Limits, total: _Total
) -> Iterator[tuple[str, int, Any]]:
    if _next(events)[0] != "start_array":
        raise ArchiveError(f"{MANIFEST}: {key} is a list.")
    limit = limits.tags if key == "tags" else limits.images
    for index, (event, value) in enumerate(events, start=1):
        if event == "end_array":
            return
        if index > limit:
            raise ArchiveError(
                f"The archive has more than {limit:,} {key}: this server's limit for a project."
            )
        yield key, index, _build(events, event, value, f"{key[:-1]} {index}", limits, total)


class _Total:
    """JSON values in the whole manifest: what bounds the time spent reading it, as each
    costs the same handful of Python operations however few bytes it takes."""

    def __init__(self, limits: Limits) -> None:
        self.left = limits.manifest_values

    def take(self, values: int) -> None:
        self.left -= values
        if self.left < 0:
            raise ArchiveError(
                f"{MANIFEST} holds more values than a project export of "
                f"{MAX_VALUES_PER_IMAGE} per image would."
            )


def _next(events: Iterator[tuple[str, Any]]) -> tuple[str, Any]:
    try:
        return next(events)
    except StopIteration:  # the parser raises on a truncated document first; never trust it
        raise ArchiveError(f"{MANIFEST} is not JSON.") from None


_OPEN = frozenset(("start_map", "start_array"))
_CLOSE = frozenset(("end_map", "end_array"))


def _build(
    events: Iterator[tuple[str, Any]],
    event: str,
    value: Any,
    what: str,
    limits: Limits,
    total: _Total,
) -> Any:
    """One value (an entry, a field) from the events, its first one given: at most
    `limits.entry_values` values and MAX_ENTRY_TEXT characters, containers nested at most
    MAX_DEPTH deep. One flat loop, as it runs once per value of the manifest."""
    if event not in _OPEN:
        total.take(1)
        return value
    root: Any = {} if event == "start_map" else []
    stack = [root]
    container, mapping, key = root, event == "start_map", ""
    values, chars, most = 1, 0, limits.entry_values
    for event, value in events:
        values += 1
        if event == "string":
            chars += len(value)
            if mapping:
                container[key] = value
            else:
                container.append(value)
        elif event == "map_key":
            key = value
            chars += len(value)
        elif event in _CLOSE:
            stack.pop()
            if not stack:
                total.take(values)
                return root
            container = stack[-1]
            mapping = type(container) is dict
        elif event in _OPEN:
            if len(stack) >= MAX_DEPTH:
                raise ArchiveError(f"{what} is nested too deeply for a project export.")
            opened: Any = {} if event == "start_map" else []
            if mapping:
                container[key] = opened
            else:
                container.append(opened)
            stack.append(opened)
            container, mapping = opened, event == "start_map"
        elif mapping:  # a number, true, false or null
            container[key] = value
        else:
            container.append(value)
        if values > most or chars > MAX_ENTRY_TEXT:
            raise _too_big(what, limits)
    raise ArchiveError(f"{MANIFEST} is not JSON.")


def _too_big(what: str, limits: Limits) -> ArchiveError:
    return ArchiveError(
        f"{what} is larger than an export's entry can be "
        f"({limits.entry_values:,} values, {MAX_ENTRY_TEXT:,} characters)."
    )


# --- What the entries mean ------------------------------------------------------------------

_HEADER_FIELDS = (
    "format",
    "version",
    "name",
    "description",
    "classificationType",
    "domainId",
    "targetExportPlatforms",
)
_KNOWN_FIELDS = frozenset((*_HEADER_FIELDS, "tags", "images"))


def _text(what: str, key: str, value: Any, longest: int, *, required: bool = False) -> str:
    """A string field of an entry, checked: text, no NUL (PostgreSQL can't store one), not
    longer than the column it goes into."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ArchiveError(f"{what}: {key} is text.")
    if "\x00" in value:
        raise ArchiveError(f"{what}: {key} contains a NUL character.")
    if len(value) > longest:
        raise ArchiveError(f"{what}: {key} is at most {longest:,} characters.")
    return value


def _key_text(what: str, raw: Any, key: str, longest: int) -> str:
    """The field that names an entry (a tag's id, an image's file): `raw` must be an object
    that has it."""
    if not isinstance(raw, dict):
        raise ArchiveError(f"{what} is not an object.")
    if raw.get(key) is None:
        raise ArchiveError(f"{what} has no {key}.")
    return _text(what, key, raw[key], longest, required=True)


def _header(header: dict[str, Any]) -> Outline:
    if header.get("format") != FORMAT:
        raise ArchiveError(f"This is not a project export: {MANIFEST} names another format.")
    version = header.get("version")
    if type(version) is not int or version != VERSION:
        raise ArchiveError(f"{MANIFEST}: this version is not supported (this server reads 1).")
    for key in ("tags", "images"):
        if key not in header:
            raise ArchiveError(f"{MANIFEST} has no {key} list.")
    what = MANIFEST
    name = _text(what, "name", header.get("name"), MAX_PROJECT_NAME).strip()
    description = _text(what, "description", header.get("description"), MAX_TEXT)
    classification = header.get("classificationType")
    if classification not in CLASSIFICATION_TYPES:
        raise ArchiveError(f"{what}: classificationType is Multiclass or Multilabel.")
    domain_id = _domain(header.get("domainId"))
    return Outline(
        name=name,
        description=description,
        classification_type=classification,
        domain_id=domain_id,
        export_platforms=_platforms(header.get("targetExportPlatforms"), domain_id),
        tags=[],
    )


def _domain(value: Any) -> uuid.UUID:
    try:
        domain_id = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        domain_id = None
    if domain_id is None or domain_id not in DOMAINS_BY_ID:
        raise ArchiveError(f"{MANIFEST}: domainId is not one of this server's domains.")
    return domain_id


def _platforms(value: Any, domain_id: uuid.UUID) -> list[str]:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > MAX_PLATFORMS
        or not all(isinstance(p, str) for p in value)
    ):
        raise ArchiveError(f"{MANIFEST}: targetExportPlatforms is a list of platform names.")
    # Kept where the domain can use them; a platform this server doesn't know is dropped, as
    # an archive's odd value is not worth failing the import for.
    if not DOMAINS_BY_ID[domain_id].exportable:
        return []
    return [p for p in dict.fromkeys(value) if p in EXPORT_PLATFORMS]


def _tag_entry(index: int, raw: Any, earlier: list[TagEntry]) -> TagEntry:
    what = f"tag {index}"
    tag_id = _key_text(what, raw, "id", MAX_ID)
    # The name as tag_create will keep it: runs of white space are one space.
    name = " ".join(_text(what, "name", raw.get("name"), MAX_TAG_NAME).split())
    if not name:
        raise ArchiveError(f"{what} has no name.")
    type_ = raw.get("type") or "Regular"
    if type_ not in TAG_TYPES:
        raise ArchiveError(f"{what}: type is Regular or Negative.")
    tag = TagEntry(
        tag_id, name, _text(what, "description", raw.get("description"), MAX_TEXT), type_
    )
    for other in earlier:
        if other.id == tag.id:
            raise ArchiveError(f"{what}: another tag has the same id.")
        if other.name.casefold() == tag.name.casefold():
            raise ArchiveError(f"{what}: another tag has that name.")
        if other.type == tag.type == "Negative":
            raise ArchiveError(f"{what}: a project has one Negative tag at most.")
    return tag


def _image_entry(zf: zipfile.ZipFile, index: int, raw: Any, limits: Limits) -> ImageEntry:
    what = f"image {index}"
    file = _key_text(what, raw, "file", MAX_FILE_NAME)
    try:
        size = zf.getinfo(file).file_size
    except KeyError:
        raise ArchiveError(f"{what}: its file is not in the archive.") from None
    tag_ids = raw.get("tagIds")
    if tag_ids is None:
        tag_ids = []
    if not isinstance(tag_ids, list) or not all(isinstance(t, str) for t in tag_ids):
        raise ArchiveError(f"{what}: tagIds is a list of tag ids.")
    if len(tag_ids) > limits.tags:
        raise ArchiveError(f"{what}: tagIds names more than {limits.tags:,} tags.")
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ArchiveError(f"{what}: metadata is an object.")
    if raw.get("created") is not None and not isinstance(raw.get("created"), str):
        raise ArchiveError(f"{what}: created is text.")
    return ImageEntry(
        file=file,
        name=_text(what, "name", raw.get("name"), MAX_IMAGE_NAME),
        tag_ids=tuple(tag_ids),
        metadata=metadata,
        size=size,
        regions=_regions(what, raw.get("regions")),
    )


def _regions(what: str, value: Any) -> tuple[RegionEntry, ...]:
    """An image's boxes: a list of {"tagId", "left", "top", "width", "height"} (absent in
    classification projects and in archives from before object detection)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ArchiveError(f"{what}: regions is a list.")
    if len(value) > MAX_REGIONS_PER_IMAGE:
        raise ArchiveError(f"{what}: regions lists more than {MAX_REGIONS_PER_IMAGE} boxes.")
    found = []
    for region in value:
        if not isinstance(region, dict):
            raise ArchiveError(f"{what}: each of its regions is an object.")
        tag_id = region.get("tagId")
        if not isinstance(tag_id, str) or len(tag_id) > MAX_ID:
            raise ArchiveError(f"{what}: a region's tagId is a tag's id.")
        numbers: list[int | float | Decimal] = []
        for key in REGION_FIELDS:
            number = region.get(key)
            # ijson reads fractions as Decimal; bool is an int to Python, not a number to JSON.
            if not isinstance(number, int | float | Decimal) or isinstance(number, bool):
                raise ArchiveError(f"{what}: a region's left, top, width and height are numbers.")
            numbers.append(number)
        left, top, width, height = (float(n) for n in numbers)
        found.append((tag_id, left, top, width, height))
    return tuple(found)


# --- Members --------------------------------------------------------------------------------


def read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member's bytes, at most `limit` of them whatever its header says; MemberError
    says why it can't be had."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise MemberError("The file is missing from the archive.") from None
    if info.flag_bits & 0x1:
        raise MemberError("The file is encrypted in the archive.")
    if info.compress_type not in READABLE_METHODS:
        raise MemberError(
            "The file is compressed with a method this server doesn't read "
            "(it reads stored and deflate)."
        )
    if info.file_size > limit:
        raise MemberError("The file is larger than the image limit.")
    try:
        with zf.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, NotImplementedError, RuntimeError):
        raise MemberError(
            "The file can't be read from the archive: it is damaged (its checksum or size "
            "doesn't match the archive's directory)."
        ) from None
    if len(data) > limit:
        raise MemberError("The file is larger than the image limit.")
    return data
