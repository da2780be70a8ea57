"""Kept predictions written behind the response: every one arrives, with the time and id the
answer gave, many to a commit; one whose iteration went meanwhile is dropped alone."""

from __future__ import annotations

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from django.core.files.storage import default_storage
from django.utils import timezone

from prediction.models import StoredPrediction
from prediction.services import keeping, prediction_classify
from prediction.tasks import replay_journals
from projects import services
from tests.servers import portal_server
from tests.training.synthetic import photo
from tests.workers import database_url
from training import services as training_services

pytestmark = pytest.mark.django_db(transaction=True)


def test_kept_predictions_are_written_behind_the_answer(trained, settings):
    settings.CV_PREDICTION_WRITE_BEHIND = True
    results = [
        prediction_classify(iteration=trained, data=photo("blue", seed=500 + i), store=True)
        for i in range(12)
    ]
    assert keeping.flush(timeout=30)
    rows = {p.id: p for p in StoredPrediction.objects.all()}
    assert set(rows) == {r.id for r in results}
    for result in results:
        row = rows[result.id]
        assert row.created_at == result.created and row.iteration_id == trained.id
        assert row.predictions[0]["tagName"] == result.predictions[0].tag_name
        assert default_storage.exists(str(row.file.name))
    assert keeping._writer.thread is not None and keeping._writer.thread.is_alive()


def test_a_row_that_cannot_go_in_is_dropped_with_its_file_and_the_rest_are_kept(trained):
    data = photo("red", seed=77)

    def pending(iteration_id: uuid.UUID) -> keeping.Pending:
        return keeping.Pending(
            id=uuid.uuid4(),
            project_id=trained.project_id,
            iteration_id=iteration_id,
            data=data,
            extension="jpg",
            content_hash="x" * 64,
            width=300,
            height=300,
            application="",
            predictions=[],
            created_at=timezone.now(),
        )

    good, orphan = pending(trained.id), pending(uuid.uuid4())  # no such iteration any more
    keeping.write([good, orphan])
    assert list(StoredPrediction.objects.values_list("id", flat=True)) == [good.id]
    project_files = default_storage.listdir(f"predictions/{trained.project_id}")[1]
    assert project_files == [f"{good.id}.jpg"]


def test_quick_test_keeps_its_image_before_answering(alice_client, project, trained, settings):
    # The person may open the Predictions tab next: the row is there when the page is.
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    settings.CV_PREDICTION_WRITE_BEHIND = True
    upload = SimpleUploadedFile("t.jpg", photo("red", seed=31), content_type="image/jpeg")
    response = alice_client.post(
        reverse("prediction:quick_test", args=[project.id]),
        {"iteration": trained.id, "image": upload, "store": "on"},
    )
    assert response.status_code == 200
    assert StoredPrediction.objects.filter(pk=response.context["result"].id).exists()


# --- Kill -9: an answer with an id is a promise --------------------------------------------


@pytest.fixture
def served(trained, alice, tmp_path):
    """`trained`, published, and this portal under gunicorn (two workers) on the test database,
    writing kept predictions behind the answer."""
    target, keys = services.resource_create(owner=alice, name="p", kind="prediction")
    training_services.iteration_publish(
        iteration=trained, publish_name="m", prediction_resource=target
    )
    env = {
        **os.environ,
        "CV_DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "keeping",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CV_PREDICTION_WRITE_BEHIND": "true",
    }
    with portal_server(env, tmp_path / "web.log", workers=2) as portal:
        yield SimpleNamespace(portal=portal, project=trained.project_id, key=keys.key1)


def classify_many(served: SimpleNamespace, count: int) -> set[uuid.UUID]:
    """Kept predictions from eight clients at once: the ids of those answered 200."""
    url = (
        f"{served.portal.url}/customvision/v3.0/Prediction/{served.project}"
        "/classify/iterations/m/image"
    )
    headers = {"Prediction-Key": served.key, "Content-Type": "application/octet-stream"}

    def post(seed: int) -> uuid.UUID:
        data = photo("red" if seed % 2 else "blue", seed=seed)
        response = requests.post(url, data=data, headers=headers, timeout=120)
        assert response.status_code == 200, response.text[:300]
        return uuid.UUID(response.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(post, range(1000, 1000 + count)))


def kept_within(ids: set[uuid.UUID], seconds: float) -> set[uuid.UUID]:
    """The ones of `ids` stored, once all are or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        kept = set(StoredPrediction.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if kept == ids or time.monotonic() > deadline:
            return kept
        time.sleep(0.5)


def wait_gone(pids: set[int], seconds: float = 30) -> None:
    """Until these processes have let go of everything: gone, or zombies whose every thread
    has exited (their files and locks are released with the last one)."""
    deadline = time.monotonic() + seconds

    def holds_on(pid: int) -> bool:
        try:
            tasks = [t.name for t in Path(f"/proc/{pid}/task").iterdir()]
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return tasks != [str(pid)] or state != "Z"

    for pid in pids:
        while holds_on(pid):
            assert time.monotonic() < deadline, f"process {pid} still runs"
            time.sleep(0.05)


def assert_each_has_its_image_and_nothing_else_is_left(project_id: uuid.UUID) -> None:
    rows = StoredPrediction.objects.filter(project_id=project_id)
    names = {str(row.file.name) for row in rows}
    stored = {f"predictions/{project_id}/{name}" for name in storage_files(project_id)}
    assert stored == names


def storage_files(project_id: uuid.UUID) -> list[str]:
    return default_storage.listdir(f"predictions/{project_id}")[1]


def test_acknowledged_predictions_survive_kill_9_of_the_web_workers(served):
    acknowledged = classify_many(served, 100)
    workers = served.portal.worker_pids()
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGKILL)

    # The master starts two new workers; they write what the killed ones had not.
    assert kept_within(acknowledged, 90) == acknowledged
    assert served.portal.worker_pids().isdisjoint(workers)
    assert_each_has_its_image_and_nothing_else_is_left(served.project)


def test_acknowledged_predictions_survive_kill_9_of_the_whole_server(served, tmp_path):
    acknowledged = classify_many(served, 60)
    workers = served.portal.worker_pids()
    os.killpg(served.portal.master.pid, signal.SIGKILL)  # master and workers at once
    served.portal.master.wait(timeout=30)
    wait_gone(workers)

    # No web process comes back: the light worker's periodic sweep writes them.
    replay_journals.apply()
    assert kept_within(acknowledged, 0) == acknowledged
    assert_each_has_its_image_and_nothing_else_is_left(served.project)
