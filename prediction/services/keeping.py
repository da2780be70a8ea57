"""Kept predictions: journaled before the answer, written behind it in batches.

A stored prediction's image and row are the prediction endpoint's only writes. Done in the
request, they cost it a file write, an ORM insert and a commit (about 1.6 ms of 22 with the
model: bench/predict.py). Here the request writes them to its process's journal on local
disk (`prediction.journal`: one file, renamed into place, no sync) and hands them to a thread
of its web process, which writes what has gathered in one transaction, then forgets their
journal entries: the answer does not wait on the database, and many predictions share one
commit. The answer's id is the row's id.

What is promised: an answered id is stored. Its row shows on the Predictions tab (and in
QueryPredictions) up to a tenth of a second after the answer, or, if its web process is
killed first (kill -9, a crash, the OOM killer), once another replays the dead process's
journal (`journals_replay`): the next web process to start does, before it answers anything,
and every web process and the light worker (on beat) look every 30 s. Not promised: a power
cut may lose the last entries (the journal is not synced, as SQLite's commits are not under
synchronous=NORMAL). `CV_PREDICTION_WRITE_BEHIND=false` writes in the request instead.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction

from core import storage
from prediction import journal
from prediction.models import StoredPrediction

logger = logging.getLogger(__name__)

BATCH = 64  # rows per transaction at most
WINDOW_SECONDS = 0.1  # how long a batch gathers after its first row
IDLE_SECONDS = 5.0  # a writer with nothing to write this long closes its connection
QUEUE_LIMIT = 512  # beyond this, a request writes its own (the writer is behind)
RETRY_SECONDS = 5.0  # a batch that could not be written is tried again after this
RETRY_LIMIT = 512  # this many waiting for another try: requests write (or fail) on their own
REPLAY_SECONDS = 30.0  # how often a web process looks for the journals of dead ones


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

    def header(self) -> dict[str, Any]:
        """Everything but the image, for its journal entry."""
        return {
            "id": str(self.id),
            "project": str(self.project_id),
            "iteration": str(self.iteration_id),
            "extension": self.extension,
            "content_hash": self.content_hash,
            "width": self.width,
            "height": self.height,
            "application": self.application,
            "predictions": self.predictions,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_entry(cls, entry: journal.Entry) -> Pending:
        """Raises ValueError (or KeyError, TypeError) for an entry this module did not write."""
        h = entry.header
        pending = cls(
            id=uuid.UUID(h["id"]),
            project_id=uuid.UUID(h["project"]),
            iteration_id=uuid.UUID(h["iteration"]),
            data=entry.data,
            extension=str(h["extension"]),
            content_hash=str(h["content_hash"]),
            width=int(h["width"]),
            height=int(h["height"]),
            application=str(h["application"]),
            predictions=list(h["predictions"]),
            created_at=datetime.fromisoformat(h["created_at"]),
        )
        # The entry's name and the key its image is stored under come from these.
        if entry.name != str(pending.id) or not pending.extension.isalnum():
            raise ValueError(entry.name)
        return pending


def keep(pending: Pending, *, now: bool = False) -> None:
    """Store a kept prediction: journaled and written behind the response, or `now` (or
    when so configured). Once this returns, it is stored or journaled to be."""
    if now or not settings.CV_PREDICTION_WRITE_BEHIND:
        write([pending])
        return
    entry = _journaled(pending)
    if entry is not None and _writer.submit(pending, entry):
        return
    # No journal (a full disk?), or the writer is behind: written in the request.
    if pending.id in write([pending]) and entry is not None:
        journal.remove([entry])


def flush(timeout: float = 10.0) -> bool:
    """Wait until everything queued in this process is written (tests, an orderly stop)."""
    return _writer.flush(timeout)


def write(batch: list[Pending], *, again: bool = False) -> set[uuid.UUID]:
    """Save the images, then the rows in one transaction; the ids settled. A row that can't go
    in (its iteration was deleted meanwhile) is dropped with its file, and settled; the others
    still go in. One whose image could not be saved (the store is failing) is not settled.

    `again`: some may have been written before, whole or in part (a retry, a dead process's
    journal): those whose row exists are settled as they are, and for the others a file an
    earlier attempt left at the image's key is replaced, so the key stays the same."""
    settled: set[uuid.UUID] = set()
    if again:
        settled = set(
            StoredPrediction.objects.filter(pk__in=[p.id for p in batch]).values_list(
                "pk", flat=True
            )
        )
        batch = [p for p in batch if p.id not in settled]
    saved: list[tuple[Pending, str]] = []
    for item in batch:
        key = _image_key(item)
        try:
            if again:
                storage.delete([key])
            saved.append((item, storage.save(key, item.data)))
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
                if StoredPrediction.objects.filter(pk=row.id).exists():
                    continue  # written meanwhile: its file is the row's
                logger.warning("Prediction %s not kept: its iteration or project is gone", row.id)
                storage.delete([str(row.file.name)])
    return settled | {row.id for row in rows}


def _image_key(item: Pending) -> str:
    base = storage.prediction_base(item.project_id, item.id)
    [(key, _data)] = storage.image_files(base, item.extension, b"", b"")
    return key


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
_Job = tuple[Pending, Path]  # a prediction and its journal entry


class _Writer:
    """One daemon thread per process, started on first use (after gunicorn's fork)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[_Job] = queue.Queue(maxsize=QUEUE_LIMIT)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        # Only the writer's thread touches these: what could not be written yet, and when to
        # try again. Their journal entries stay until they are.
        self.retry: list[_Job] = []
        self.retry_at = 0.0

    def submit(self, pending: Pending, entry: Path) -> bool:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._run, name="prediction-writer", daemon=True
                )
                self.thread.start()
        if len(self.retry) >= RETRY_LIMIT:
            return False  # the database or the store is failing: no more promises behind
        try:
            self.queue.put_nowait((pending, entry))
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
            if self.retry and time.monotonic() >= self.retry_at:
                jobs, self.retry = self.retry[:BATCH], self.retry[BATCH:]
                self._write(jobs, again=True)
                continue
            wait = self.retry_at - time.monotonic() if self.retry else IDLE_SECONDS
            try:
                first = self.queue.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if self.retry:
                    continue
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
                self._write(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _write(self, jobs: list[_Job], *, again: bool = False) -> None:
        """Write, then forget the journal entries of what is settled; keep the rest for
        another try (and in the journal: if this process ends first, another writes them)."""
        try:
            close_old_connections()  # a broken or expired connection is replaced
            settled = write([pending for pending, _entry in jobs], again=again)
        except Exception:
            logger.exception("Could not keep %d predictions yet", len(jobs))
            settled = set()
        journal.remove(entry for pending, entry in jobs if pending.id in settled)
        left = [job for job in jobs if job[0].id not in settled]
        if left:
            self.retry.extend(left)
            self.retry_at = time.monotonic() + RETRY_SECONDS


_writer = _Writer()


# --- The journal ----------------------------------------------------------------------------


def journal_root() -> Path:
    return Path(settings.CV_DATA_DIR) / "journal" / "predictions"


_journal: journal.Journal | None = None
_journal_lock = threading.Lock()


def _journaled(pending: Pending) -> Path | None:
    """Its entry in this process's journal; None when the journal can't take it."""
    try:
        return _this_process_journal().append(str(pending.id), pending.header(), pending.data)
    except OSError:
        logger.warning("Could not journal prediction %s: written now", pending.id, exc_info=True)
        return None


def _this_process_journal() -> journal.Journal:
    """Opened on first use, after gunicorn's fork, and again in a forked child (or under
    another data folder: tests)."""
    global _journal
    root = journal_root()
    with _journal_lock:
        if _journal is None or _journal.pid != os.getpid() or _journal.root != root:
            if _journal is not None:
                _journal.close()
                _journal = None
            _journal = journal.Journal(root)
        return _journal


def journals_replay(root: Path | None = None) -> int:
    """Write what web processes that are gone (killed, crashed) journaled and had not written:
    the number of their predictions now settled. Safe to run anywhere, at any time, and
    twice: a live process's journal is left alone, a dead one's is replayed by one process at
    a time, and a prediction already stored is not stored again."""
    settled = 0
    with contextlib.closing(journal.orphans(root or journal_root())) as orphans:
        for orphan in orphans:
            names = orphan.names()
            for start in range(0, len(names), BATCH):
                settled += _replay(orphan, names[start : start + BATCH])
            orphan.discard_if_done()
    return settled


def _replay(orphan: journal.Orphan, names: list[str]) -> int:
    entries: dict[str, Pending] = {}
    for name in names:
        try:
            entries[name] = Pending.from_entry(orphan.read(name))
        except FileNotFoundError:
            continue
        except (ValueError, KeyError, TypeError):
            # Not written whole (a power cut): no answer was given for it, or it is lost.
            logger.error("Journal entry %s of %s is unreadable: removed", name, orphan.folder)
            orphan.remove([name])
    settled = write(list(entries.values()), again=True)
    orphan.remove(name for name, pending in entries.items() if pending.id in settled)
    return len(settled)


def journals_replay_from_now_on() -> None:
    """As a web process starts: replay what web processes that died left, before answering
    anything (a journal holds a tenth of a second of predictions, or what a writer that fell
    behind had queued); then again every REPLAY_SECONDS from a thread, for a journal whose
    process was still dying at start. Web processes see their own disk even where the light
    worker, which replays too (on beat), runs on another host."""
    root = journal_root()  # this process's for life (a test's import sees only its own)
    _replay_quietly(root)
    threading.Thread(
        target=_replay_now_and_then, args=(root,), name="prediction-replay", daemon=True
    ).start()


def _replay_now_and_then(root: Path) -> None:
    while True:
        time.sleep(REPLAY_SECONDS)
        _replay_quietly(root)


def _replay_quietly(root: Path) -> None:
    idle = connection.connection is None
    try:
        journals_replay(root)
    except Exception:  # the next pass, or the light worker's, tries again
        logger.exception("Could not replay the journals of web processes that are gone")
    finally:
        if idle:  # no connection kept open for the next pass, 30 s away
            connection.close()


@atexit.register
def _write_what_is_queued() -> None:
    if _writer.thread is not None and _writer.thread.is_alive():
        flush(timeout=20)
