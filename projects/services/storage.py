from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from projects.imaging import PreparedImage

logger = logging.getLogger(__name__)


def delete_files(names: Iterable[str]) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # a file already gone or a flaky store must not undo the delete
            logger.exception("Could not delete stored file %s", name)


def delete_files_on_commit(names: Iterable[str]) -> None:
    """Remove files only once the rows that pointed at them are gone for good."""
    names = list(names)
    transaction.on_commit(lambda: delete_files(names))


@contextmanager
def image_files_saved(base: str, prepared: PreparedImage) -> Iterator[tuple[str, str]]:
    """Save a prepared image and its thumbnail (if it has one) under `base`, yielding their
    storage names ("" for no thumbnail).

    If the block raises (the row pointing at them could not be written), the files are
    deleted again: a failure leaves no orphan file behind.
    """
    saved: list[str] = []
    try:
        saved.append(
            default_storage.save(f"{base}.{prepared.extension}", ContentFile(prepared.data))
        )
        if prepared.thumbnail:
            saved.append(default_storage.save(f"{base}.thumb.jpg", ContentFile(prepared.thumbnail)))
        yield saved[0], saved[1] if prepared.thumbnail else ""
    except BaseException:
        delete_files(saved)
        raise
