"""Kept predictions written behind the response, in batches.

A stored prediction's image and row are the prediction endpoint's only writes. Done in the
request, they cost it a file write, an ORM insert and a commit (about 1.6 ms of 22 with the
model: bench/predict.py). Here the request hands them to a thread of its web process, which
writes what has gathered in one transaction, so the answer does not wait on them and many
predictions share one commit. The answer's id is the row's id.

What it trades: a kept prediction appears on the Predictions tab (and in QueryPredictions) up
to a tenth of a second after its answer (on Azure, a moment after too); a web process killed
with predictions still queued loses those (an orderly stop writes them first).
`CV_PREDICTION_WRITE_BEHIND=false` writes in the request instead.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction

from portal import storage
from prediction.models import StoredPrediction

logger = logging.getLogger(__name__)

BATCH = 64  # rows per transaction at most
WINDOW_SECONDS = 0.1  # how long a batch gathers after its first row
IDLE_SECONDS = 5.0  # a writer with nothing to write this long closes its connection
QUEUE_LIMIT = 512  # beyond this, a request writes its own (the writer is behind)


@dataclass(frozen=True)
class Pending:
    """A kept prediction, ready to write: everything its row needs, and its image's bytes."""

    id: uuid.UUID
    project_id: uuid.UUID
    iteration_id: uuid.UUID
    data: bytes
    extension: str
    content_hash: str
    width: int
    height: int
    application: str
    predictions: list[dict[str, Any]]
    created_at: datetime


def keep(pending: Pending, *, now: bool = False) -> None:
    """Store a kept prediction: behind the response, or `now` (or when so configured)."""
    if not now and settings.CV_PREDICTION_WRITE_BEHIND and _writer.submit(pending):
        return
    write([pending])


def flush(timeout: float = 10.0) -> bool:
    """Wait until everything queued in this process is written (tests, an orderly stop)."""
    return _writer.flush(timeout)


def write(batch: list[Pending]) -> None:
    """Save the images, then the rows in one transaction. A row that can't go in (its
    iteration was deleted meanwhile) is dropped with its file; the others still go in."""
    saved: list[tuple[Pending, str]] = []
    for item in batch:
        base = storage.prediction_base(item.project_id, item.id)
        [(key, data)] = storage.image_files(base, item.extension, item.data, b"")
        try:
            saved.append((item, storage.save(key, data)))
        except Exception:
            logger.exception("Could not store the image of prediction %s", item.id)
    rows = [_row(item, name) for item, name in saved]
    try:
        with transaction.atomic():
            StoredPrediction.objects.bulk_create(rows)
    except IntegrityError:
        for row in rows:  # one at a time, to keep the ones that can go in
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except IntegrityError:
                logger.warning("Prediction %s not kept: its iteration or project is gone", row.id)
                storage.delete([str(row.file.name)])


def _row(item: Pending, file_name: str) -> StoredPrediction:
    return StoredPrediction(
        id=item.id,
        project_id=item.project_id,
        iteration_id=item.iteration_id,
        file=file_name,
        content_hash=item.content_hash,
        width=item.width,
        height=item.height,
        application=item.application[:200],
        predictions=item.predictions,
        created_at=item.created_at,
    )


_CLOSE: Any = object()  # queued by flush: close the database connection, write nothing


class _Writer:
    """One daemon thread per process, started on first use (after gunicorn's fork)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Pending] = queue.Queue(maxsize=QUEUE_LIMIT)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, pending: Pending) -> bool:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._run, name="prediction-writer", daemon=True
                )
                self.thread.start()
        try:
            self.queue.put_nowait(pending)
        except queue.Full:
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued is written and the writer has let go of its
        database connection."""
        if self.thread is None or not self.thread.is_alive():
            return self.queue.empty()
        try:
            self.queue.put(_CLOSE, timeout=timeout)
        except queue.Full:
            return False
        done = threading.Event()

        def wait() -> None:
            self.queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                # Idle: no database connection held for nothing. A busy writer keeps its
                # connection (opening one per batch would cost more than the batch).
                connection.close()
                first = self.queue.get()
            if first is _CLOSE:
                connection.close()
                self.queue.task_done()
                continue
            batch = [first]
            # Gather for a moment: a transaction costs about 0.8 ms of CPU whatever it holds
            # and a row 0.1 ms (a batch of 8: 0.21 ms a row against 1.04 ms alone), and a
            # web process answers a prediction every 20 ms or so at most.
            window = time.monotonic() + WINDOW_SECONDS
            while len(batch) < BATCH and (wait := window - time.monotonic()) > 0:
                try:
                    item = self.queue.get(timeout=wait)
                except queue.Empty:
                    break
                if item is _CLOSE:  # after this batch
                    self.queue.task_done()
                    self.queue.put_nowait(item)
                    break
                batch.append(item)
            try:
                close_old_connections()  # a broken or expired connection is replaced
                write(batch)
            except Exception:
                logger.exception("Could not keep %d predictions", len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()


_writer = _Writer()


@atexit.register
def _write_what_is_queued() -> None:
    if _writer.thread is not None and _writer.thread.is_alive():
        flush(timeout=20)
