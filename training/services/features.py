"""A project's cached backbone features, in the storage every host shares.

Computing an image's features is most of a Quick training; a retrain reuses them. They are kept
under the project's key prefix in the shared storage (`core.storage.features_prefix`), so a
worker on another host reuses what this one computed, with this host's disk in front as a
faster near copy. They go with the project (`projects.reconcile`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from core import storage

if TYPE_CHECKING:
    from engine.features import BlobCache


class StoredBlobs:
    """The engine's Blobs over the shared storage, under one project's prefix."""

    def __init__(self, project_id: uuid.UUID | str) -> None:
        self.prefix = storage.features_prefix(project_id)

    def read(self, key: str) -> bytes | None:
        return storage.read_if_exists(f"{self.prefix}/{key}")

    def write(self, key: str, data: bytes) -> None:
        # Content-addressed: a key written by another worker already holds these bytes.
        storage.save_once(f"{self.prefix}/{key}", data)


def feature_cache(project_id: uuid.UUID | str) -> BlobCache:
    from engine.features import BlobCache, DirectoryBlobs, TieredBlobs

    near = DirectoryBlobs(Path(settings.CV_DATA_DIR) / "features" / str(project_id))
    return BlobCache(TieredBlobs(near, StoredBlobs(project_id)))
