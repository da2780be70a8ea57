from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.db import transaction

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
