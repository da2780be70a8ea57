"""The one door to stored files: images, thumbnails, models, exports and feature caches.

Every file the product keeps goes through this module, by a key it makes, to Django's default
storage: the data folder of `make run`, or an S3-compatible bucket (`CV_STORAGE=s3`) that a web
host and training workers on other hosts share. Nothing else opens MEDIA_ROOT or assumes the
web tier's disk, so a worker needs only the database, the broker and the bucket
(tests/test_multihost.py runs a web process and two workers with separate data folders).

Files are written before the row that points at them commits and deleted after the row's
deletion commits: a crash leaves at worst a file without a row, which `projects.reconcile`
sweeps, never a row without its file.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction

logger = logging.getLogger(__name__)

ID = uuid.UUID | str

# Every folder the product writes under.
ROOTS = ("images", "predictions", "models", "exports", "features", "imports")


# --- Keys -----------------------------------------------------------------------------------


def image_base(project_id: ID, content_hash: str) -> str:
    """A training image's key without its extension (the format decides that)."""
    return f"images/{project_id}/{content_hash}"


def prediction_base(project_id: ID, prediction_id: ID) -> str:
    """A kept prediction's image key without its extension."""
    return f"predictions/{project_id}/{prediction_id}"


def thumbnail_key(base: str) -> str:
    return f"{base}.thumb.jpg"


def model_key(project_id: ID, iteration_id: ID) -> str:
    return f"models/{project_id}/{iteration_id}.zip"


def export_key(project_id: ID, iteration_id: ID, platform: str, flavor: str) -> str:
    return f"exports/{project_id}/{iteration_id}/{platform}{f'-{flavor}' if flavor else ''}.zip"


def import_archive_key(job_id: ID) -> str:
    """An uploaded project archive waiting for the worker that imports it (any host's)."""
    return f"imports/{job_id}.zip"


def features_prefix(project_id: ID) -> str:
    """Where a project's cached backbone features live, one small file per image and
    preprocessing: any worker on any host reuses what another computed."""
    return f"features/{project_id}"


# --- Calls ----------------------------------------------------------------------------------


def open_file(name: str) -> IO[Any]:
    """A stored file opened for reading, to stream (a download, a zip being built)."""
    return default_storage.open(name, "rb")


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


def read_if_exists(name: str) -> bytes | None:
    try:
        return read(name)
    except FileNotFoundError:
        return None
    except OSError as exc:  # S3's "no such key" comes as an OSError of its own
        if default_storage.exists(name):
            raise
        logger.debug("No stored file %s (%s)", name, exc)
        return None


def save(key: str, data: bytes) -> str:
    """Store `data` under `key` (or a free variant of it); the name it was stored under."""
    return str(default_storage.save(key, ContentFile(data)))


def save_file(key: str, file: IO[bytes]) -> str:
    """Store an open file under `key` (or a free variant), copied in chunks, not read whole."""
    file.seek(0)
    return str(default_storage.save(key, File(file)))


def save_once(key: str, data: bytes) -> None:
    """Store content-addressed data unless that key already holds it."""
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(data))


def modified_time(name: str) -> datetime:
    return default_storage.get_modified_time(name)


def delete(names: Iterable[str]) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # a file already gone or a flaky store must not undo the delete
            logger.exception("Could not delete stored file %s", name)


def delete_on_commit(names: Iterable[str]) -> None:
    """Remove files only once the rows that pointed at them are gone for good."""
    names = list(names)
    transaction.on_commit(lambda: delete(names))


def delete_folder_on_commit(folder: str) -> None:
    """Remove every file under `folder` once the transaction commits (a project's feature
    cache, which no row points at, goes with the project's row)."""
    transaction.on_commit(lambda: delete(list(walk(folder))))


def walk(folder: str) -> Iterator[str]:
    """Every stored name under `folder`, depth first."""
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from walk(f"{folder}/{sub}")


def subfolders(folder: str) -> list[str]:
    try:
        return list(default_storage.listdir(folder)[0])
    except FileNotFoundError:
        return []


def image_files(
    base: str, extension: str, data: bytes, thumbnail: bytes
) -> list[tuple[str, bytes]]:
    """The (key, data) pairs of an image and its thumbnail (none when it has none yet)."""
    files = [(f"{base}.{extension}", data)]
    if thumbnail:
        files.append((thumbnail_key(base), thumbnail))
    return files


@contextmanager
def saved(files: Sequence[tuple[str, bytes]]) -> Iterator[list[str]]:
    """Store (key, data) pairs, yielding their stored names for the row that will point at
    them. If the block raises (the row could not be written), the files are deleted again: a
    failure leaves no orphan behind."""
    names: list[str] = []
    try:
        for key, data in files:
            names.append(save(key, data))
        yield names
    except BaseException:
        delete(names)
        raise
