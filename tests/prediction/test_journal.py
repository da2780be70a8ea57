"""Journals of kept predictions: a dead process's is replayed, once, whole; a live one's never;
nothing is stored twice, and no file is left without its row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from core import storage
from prediction import journal
from prediction.models import StoredPrediction
from prediction.services import keeping
from tests.training.synthetic import photo

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]

# A process that journals the entries it reads from stdin, says so, and waits to be killed.
JOURNALING = """
import json, sys
from pathlib import Path
from prediction.journal import Journal
journal = Journal(Path(sys.argv[1]))
for entry in json.loads(sys.stdin.readline()):
    journal.append(entry["name"], entry["header"], bytes.fromhex(entry["data"]))
print("journaled", flush=True)
sys.stdin.read()
"""


def pending(iteration, seed: int, iteration_id: uuid.UUID | None = None) -> keeping.Pending:
    return keeping.Pending(
        id=uuid.uuid4(),
        project_id=iteration.project_id,
        iteration_id=iteration_id or iteration.id,
        data=photo("red", seed=seed),
        extension="jpg",
        content_hash=f"{seed:064x}",
        width=320,
        height=288,
        application="tests",
        predictions=[{"tagId": "t", "tagName": "Red", "tagType": "Regular", "probability": 0.9}],
        created_at=timezone.now(),
    )


class Journaling:
    """A live process holding a journal of `items`, until killed."""

    def __init__(self, root: Path, items: list[keeping.Pending]) -> None:
        entries = [{"name": str(p.id), "header": p.header(), "data": p.data.hex()} for p in items]
        self.process = subprocess.Popen(
            [sys.executable, "-c", JOURNALING, str(root)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(entries).encode() + b"\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == b"journaled\n"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def project_files(project_id: uuid.UUID) -> set[str]:
    folder = f"predictions/{project_id}"
    return {f"{folder}/{name}" for name in default_storage.listdir(folder)[1]}


def assert_stored_whole(items: list[keeping.Pending]) -> None:
    rows = {row.id: row for row in StoredPrediction.objects.all()}
    assert set(rows) == {p.id for p in items}
    for p in items:
        row = rows[p.id]
        assert str(row.file.name) == f"predictions/{p.project_id}/{p.id}.jpg"
        assert storage.read(str(row.file.name)) == p.data
        assert (row.created_at, row.iteration_id, row.application) == (
            p.created_at,
            p.iteration_id,
            "tests",
        )
        assert row.predictions == p.predictions
    assert project_files(items[0].project_id) == {str(r.file.name) for r in rows.values()}


def test_a_live_process_s_journal_is_left_alone_and_replayed_once_it_is_killed(trained):
    root = keeping.journal_root()
    items = [pending(trained, seed) for seed in range(5)]
    owner = Journaling(root, items)
    try:
        assert keeping.journals_replay() == 0
        assert not StoredPrediction.objects.exists()
    finally:
        owner.kill()

    assert keeping.journals_replay() == 5
    assert_stored_whole(items)
    assert folders(root) == []  # the dead process's journal is gone with its entries


def test_this_process_s_own_journal_is_never_replayed_by_its_own_sweep(trained, settings):
    # A web process replays dead journals from a thread of its own, beside its writer.
    item = pending(trained, 1)
    entry = keeping._this_process_journal().append(str(item.id), item.header(), item.data)
    assert keeping.journals_replay() == 0
    assert entry.exists() and not StoredPrediction.objects.exists()


def test_replaying_is_idempotent_whatever_the_dead_process_had_done(trained):
    root = keeping.journal_root()
    written, half_saved, untouched = (pending(trained, seed) for seed in (1, 2, 3))
    owner = Journaling(root, [written, half_saved, untouched])
    # Killed after committing one (before forgetting its entry), and while saving another's
    # image (a partial file at its key, no row).
    keeping.write([written])
    partial = ContentFile(b"\xff\xd8\xff\xe0 cut short")
    default_storage.save(f"predictions/{trained.project_id}/{half_saved.id}.jpg", partial)
    owner.kill()

    assert keeping.journals_replay() == 3
    assert keeping.journals_replay() == 0
    assert_stored_whole([written, half_saved, untouched])


def test_a_prediction_whose_iteration_went_leaves_no_file_and_no_entry(trained):
    root = keeping.journal_root()
    kept, orphan = pending(trained, 1), pending(trained, 2, iteration_id=uuid.uuid4())
    Journaling(root, [kept, orphan]).kill()

    assert keeping.journals_replay() == 2  # both settled: one stored, one dropped
    assert_stored_whole([kept])
    assert folders(root) == []


def test_what_was_never_renamed_into_place_or_cannot_be_read_is_not_replayed(trained, caplog):
    root = keeping.journal_root()
    good = pending(trained, 1)
    owner = Journaling(root, [good])
    [folder] = [root / name for name in folders(root)]
    (folder / f".{uuid.uuid4()}").write_bytes(b'{"v":1,"id":')  # killed while appending
    (folder / str(uuid.uuid4())).write_bytes(b"not a journal entry")  # torn by a power cut
    owner.kill()

    assert keeping.journals_replay() == 1
    assert_stored_whole([good])
    assert folders(root) == []
    assert "is unreadable" in caplog.text and "not a journal entry" not in caplog.text


def test_an_entry_names_the_key_of_its_image_and_nothing_else(trained):
    item = pending(trained, 1)
    header = {**item.header(), "extension": "../../../x"}
    with pytest.raises(ValueError):
        keeping.Pending.from_entry(journal.decode(str(item.id), journal.encode(header, b"")))
    with pytest.raises(ValueError):  # under another prediction's name
        keeping.Pending.from_entry(journal.Entry(str(uuid.uuid4()), item.header(), b""))
    again = keeping.Pending.from_entry(journal.Entry(str(item.id), item.header(), item.data))
    assert again == item


# --- Written behind, from the journal ------------------------------------------------------


def test_entries_are_forgotten_once_their_rows_commit(trained, settings):
    settings.CV_PREDICTION_WRITE_BEHIND = True
    items = [pending(trained, seed) for seed in range(6)]
    for item in items:
        keeping.keep(item)
    assert keeping.flush(timeout=30)
    assert_stored_whole(items)
    assert folders(keeping._this_process_journal().folder) == [journal.LOCK]


def test_a_batch_that_could_not_be_written_is_written_later(trained, settings, monkeypatch):
    settings.CV_PREDICTION_WRITE_BEHIND = True
    monkeypatch.setattr(keeping, "RETRY_SECONDS", 0.2)
    real_save, failures = storage.save, [1]

    def failing_once(key: str, data: bytes) -> str:
        if failures:
            failures.pop()
            raise OSError("the store is down")
        return real_save(key, data)

    monkeypatch.setattr(storage, "save", failing_once)
    items = [pending(trained, seed) for seed in range(3)]
    for item in items:
        keeping.keep(item)
    assert keeping.flush(timeout=30)
    entries = keeping._this_process_journal().folder
    assert set(folders(entries)) > {journal.LOCK}  # the unsettled one is still journaled

    deadline = time.monotonic() + 30
    while StoredPrediction.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert_stored_whole(items)
    assert folders(entries) == [journal.LOCK]


def test_without_a_journal_a_kept_prediction_is_written_in_the_request(trained, settings):
    settings.CV_PREDICTION_WRITE_BEHIND = True
    settings.CV_DATA_DIR = Path(settings.CV_DATA_DIR) / "a-file"
    settings.CV_DATA_DIR.write_text("no folder can be made here")
    item = pending(trained, 1)
    keeping.keep(item)
    assert_stored_whole([item])  # before any flush


def test_written_in_the_request_nothing_is_journaled(trained, settings):
    settings.CV_PREDICTION_WRITE_BEHIND = False
    items = [pending(trained, 1), pending(trained, 2)]
    keeping.keep(items[0])
    keeping.keep(items[1], now=True)
    assert_stored_whole(items)
    assert not keeping.journal_root().exists()
