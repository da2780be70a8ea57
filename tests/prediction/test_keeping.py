"""Kept predictions written behind the response: every one arrives, with the time and id the
answer gave, many to a commit; one whose iteration went meanwhile is dropped alone."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from prediction.models import StoredPrediction
from prediction.services import keeping, prediction_classify
from tests.training.synthetic import photo

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
