"""Export services and pages: statuses, refusals, signed links, the Export button."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from training import exporting, services
from training.models import Export, Iteration


@pytest.fixture
def no_queue(monkeypatch):
    """Exports are queued but not run: each test runs the job itself, when it wants."""
    queued = []
    monkeypatch.setattr(exporting, "_enqueue", queued.append)
    return queued


def test_export_is_queued_built_and_downloaded(
    trained, no_queue, client, django_capture_on_commit_callbacks
):
    export = exporting.export_start(iteration=trained, platform="onnx", flavor="onnxfloat16")
    assert (export.platform, export.flavor, export.status) == ("ONNX", "OnnxFloat16", "Exporting")
    with pytest.raises(ValidationError) as busy:
        exporting.export_start(iteration=trained, platform="ONNX", flavor="OnnxFloat16")
    assert busy.value.code == "BadRequestExportAlreadyInProgress"
    exporting.export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == "Done" and export.size > 0
    link = exporting.download_path(export)
    # The link works without signing in (plain client), and is a zip with the model.
    response = client.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert {"model.onnx", "labels.txt"} <= set(names)
    # Exporting again replaces the file.
    old = export.file.name
    exporting.export_start(iteration=trained, platform="ONNX", flavor="OnnxFloat16")
    with django_capture_on_commit_callbacks(execute=True):
        exporting.export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == "Done"
    assert Export.objects.filter(iteration=trained).count() == 1
    assert export.file.name != old and not default_storage.exists(old)


def test_forged_and_expired_links_are_refused(trained, no_queue, client, settings, monkeypatch):
    export = exporting.export_start(iteration=trained, platform="ONNX")
    exporting.export_run(export_id=export.id)
    link = exporting.download_path(Export.objects.get(pk=export.pk))
    token = link.split("/")[2]
    forged = link.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert client.get(forged).status_code == 404
    import django.core.signing as signing

    later = signing.time.time() + settings.CV_EXPORT_LINK_SECONDS + 5
    monkeypatch.setattr(signing.time, "time", lambda: later)
    expired = client.get(link)
    assert expired.status_code == 410 and b"expired" in expired.content


def test_what_cannot_be_exported_is_refused_with_azures_codes(trained, project, no_queue):
    for platform, flavor in (("CoreML", ""), ("DockerFile", "Windows"), ("ONNX", "Nope")):
        with pytest.raises(ValidationError) as refused:
            exporting.export_start(iteration=trained, platform=platform, flavor=flavor)
        assert refused.value.code == "BadRequestProjectUnsupportedExportPlatform"
    waiting = Iteration.objects.create(
        project=project,
        name="Waiting",
        domain_id=project.domain_id,
        classification_type=project.classification_type,
    )
    with pytest.raises(ValidationError) as training:
        exporting.export_start(iteration=waiting, platform="ONNX")
    assert training.value.code == "BadRequestExportWhileTraining"
    assert no_queue == []


def test_an_export_no_worker_finishes_ends_failed_and_can_be_retried(trained, no_queue):
    export = exporting.export_start(iteration=trained, platform="DockerFile")
    Export.objects.filter(pk=export.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert [e.status for e in exporting.export_list(iteration=trained)] == ["Failed"]
    assert "Export again" in Export.objects.get(pk=export.pk).error
    again = exporting.export_start(iteration=trained, platform="DockerFile")
    assert again.status == "Exporting"


def test_a_broken_model_file_leaves_the_export_failed_with_why(trained, no_queue):
    export = exporting.export_start(iteration=trained, platform="ONNX")
    with default_storage.open(trained.model_file.name, "wb") as handle:
        handle.write(b"not a model")
    exporting.export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == "Failed" and "Not a model file" in export.error


def test_deleting_the_iteration_deletes_its_exports_files(
    trained, no_queue, django_capture_on_commit_callbacks
):
    export = exporting.export_start(iteration=trained, platform="ONNX")
    exporting.export_run(export_id=export.id)
    name = Export.objects.get(pk=export.pk).file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        services.iteration_delete(iteration=trained)
    assert not default_storage.exists(name)


def test_performance_page_exports_and_lists_downloads(alice_client, project, trained, no_queue):
    page = alice_client.get(reverse("training:performance", args=[project.id, trained.id]))
    text = page.content.decode()
    assert 'data-open="export-dialog"' in text and "ONNX (float16)" in text
    response = alice_client.post(
        reverse("training:export", args=[project.id, trained.id]),
        {"target": "DockerFile|Linux"},
        follow=True,
    )
    assert "Exporting" in response.content.decode()
    exporting.export_run(export_id=Export.objects.get(iteration=trained).id)
    text = alice_client.get(
        reverse("training:performance", args=[project.id, trained.id])
    ).content.decode()
    assert "Dockerfile (Linux)" in text and "Download" in text and "/exports/" in text
    refused = alice_client.post(
        reverse("training:export", args=[project.id, trained.id]),
        {"target": "CoreML|"},
        follow=True,
    )
    assert "Not exported" in refused.content.decode()


def test_only_the_owner_can_export(bob_client, project, trained, no_queue):
    response = bob_client.post(
        reverse("training:export", args=[project.id, trained.id]), {"target": "ONNX|"}
    )
    assert response.status_code == 404
    assert not Export.objects.exists()
