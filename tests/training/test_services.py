"""Train service rules and a whole iteration run in-process (the worker test runs it for real)."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

import pytest
import torch
import torchvision
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.template.defaultfilters import floatformat
from django.utils import timezone

from engine import backbones
from engine import train as engine
from engine.recipes import recipe_for
from prediction.services import iteration_predict
from projects import services as project_services
from projects.models import Image, Project
from projects.selectors import active_images
from projects.services import ImageUpload
from tests.conftest import stored_files
from tests.factories import ProjectFactory
from tests.training.synthetic import photo
from training import services
from training.models import Iteration
from training.services import running

pytestmark = pytest.mark.django_db
SEEDS = {"red": 100, "blue": 200, "green": 300}


def add(project, colour, n, tag_names, start=0):
    tags = project_services.tags_get_or_create(project=project, names=tag_names)
    uploads = [
        ImageUpload(name=f"{colour}-{i}.jpg", data=photo(colour, seed=SEEDS[colour] + i))
        for i in range(start, start + n)
    ]
    results = project_services.images_create(
        project=project, uploads=uploads, tag_ids=[t.id for t in tags]
    )
    assert all(r.status.ok for r in results)
    return [r.image for r in results]


@pytest.fixture
def trainable(project):
    add(project, "red", 5, ["Red"])
    add(project, "blue", 5, ["Blue"])
    return project


def test_needs_two_tags(project):
    add(project, "red", 5, ["Red"])
    with pytest.raises(ValidationError) as info:
        services.iteration_train_start(project=project)
    assert info.value.code == "BadRequestMultiClassClassificationTrainingValidationFailed"


def test_multiclass_needs_five_images_per_tag(project):
    add(project, "red", 5, ["Red"])
    add(project, "blue", 4, ["Blue"])
    with pytest.raises(ValidationError) as info:
        services.iteration_train_start(project=project)
    assert info.value.code == "BadRequestNotEnoughImagesPerTag"
    assert "Blue (4)" in info.value.message


def test_refuses_while_training_and_when_nothing_changed(trainable):
    iteration = services.iteration_train_start(project=trainable)
    assert iteration.status == "Queued" and iteration.name == "Iteration 1"
    assert iteration.images.count() == 10
    with pytest.raises(ValidationError) as info:
        services.iteration_train_start(project=trainable)
    assert info.value.code == "BadRequestTrainingAlreadyInProgress"
    services.iteration_run(iteration_id=iteration.id, worker="test")
    with pytest.raises(ValidationError) as info:
        services.iteration_train_start(project=trainable)
    assert info.value.code == "BadRequestTrainingNotNeeded"
    forced = services.iteration_train_start(project=trainable, force=True)
    assert forced.name == "Iteration 2"


def test_run_completes_with_metrics_model_and_out_of_fold_predictions(trainable, media_storage):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Completed", iteration.error
    assert iteration.progress == 100 and iteration.trained_at and iteration.training_seconds
    assert iteration.backbone == "efficientnet_lite0"
    assert iteration.weights_source.startswith("bundled")
    assert iteration.metrics["overall"]["precision"][50] == 1.0
    assert [t["name"] for t in iteration.tags] == ["Red", "Blue"]
    assert (media_storage / iteration.model_file.name).is_file()
    rows = list(iteration.images.all())
    assert all(r.probabilities and len(r.probabilities) == 2 for r in rows)
    best = iteration_predict(iteration=iteration, data=photo("blue", seed=500))
    assert best[0].tag_name == "Blue" and best[0].probability > 0.5


def test_a_run_records_where_its_seconds_went_and_details_show_it(trainable, alice_client):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    phases = dict(iteration.details["phases"])
    assert list(phases) == [
        "load",
        "decode",
        "features",
        "folds",
        "final",
        "metrics",
        "export",
        "save",
    ]
    assert all(seconds >= 0 for seconds in phases.values())
    engine_seconds = sum(seconds for name, seconds in phases.items() if name != "save")
    assert engine_seconds <= iteration.training_seconds + 0.01
    page = alice_client.get(f"/projects/{trainable.id}/performance/{iteration.id}/")
    assert "Where the time went" in page.content.decode()
    # As the page's floatformat rounds it (half up on the decimal repr, not Python's format).
    assert f"features {floatformat(phases['features'], 2)} s" in page.content.decode()


def test_advanced_run_says_which_model_it_kept_and_scores_only_estimated_images(
    trainable, monkeypatch, alice_client, settings
):
    # This test holds a transaction open; on SQLite a heartbeat from the second thread would
    # wait on it. The worker tests cover the heartbeat.
    settings.CV_HEARTBEAT_SECONDS = 3600
    # Keep the fine-tune whatever it scores; no number of folds is "good", so one is estimated.
    monkeypatch.setattr(engine, "KEEP_MARGIN", -1.0)
    monkeypatch.setattr(engine, "KEEP_CONFIDENCE", 0.0)
    short = dataclasses.replace(
        recipe_for("General"), min_epochs=2, good_epochs=10_000, max_epochs=8
    )
    monkeypatch.setattr(running, "recipe_for", lambda name: short)
    iteration = services.iteration_train_start(
        project=trainable, training_type="Advanced", reserved_budget_hours=40 / 3600
    )
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Completed", iteration.error
    assert iteration.training_seconds <= 40 * 1.05
    assert iteration.details["kept"] == "finetuned"
    assert iteration.details["estimated_folds"] == 1
    rows = list(iteration.images.all())
    scored = [r for r in rows if r.probabilities is not None]
    assert len(scored) == iteration.details["compared"]["images"] == 2
    assert all(r.fold is None for r in rows if r.probabilities is None)
    assert sum(t["image_count"] for t in iteration.metrics["tags"]) == 2
    page = alice_client.get(f"/projects/{trainable.id}/performance/{iteration.id}/")
    assert page.status_code == 200
    assert "Estimated on 1 of 5 folds" in page.content.decode()
    best = iteration_predict(iteration=iteration, data=photo("blue", seed=501))
    assert len(best) == 2


def test_iteration_keeps_what_it_saw(trainable):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    red = trainable.tags.get(name="Red")
    red.name = "Crimson"
    red.save()
    images = list(Image.objects.filter(project=trainable))
    project_services.images_delete(project=trainable, image_ids=[images[0].id])
    iteration.refresh_from_db()
    assert iteration.tags[0]["name"] == "Red"
    assert iteration.images.count() == 10
    # Removed from the project, kept for the iteration.
    assert Image.objects.filter(pk=images[0].pk, removed_at__isnull=False).exists()
    assert images[0] not in active_images(trainable)


def test_deleting_an_iteration_deletes_images_only_it_kept(
    trainable, media_storage, django_capture_on_commit_callbacks
):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    image = Image.objects.filter(project=trainable).first()
    project_services.images_delete(project=trainable, image_ids=[image.id])
    assert services.removed_images_kept(iteration) == 1
    with django_capture_on_commit_callbacks(execute=True):
        purged = services.iteration_delete(iteration=iteration)
    assert purged == 1
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not Iteration.objects.exists()
    files = {str(p.relative_to(media_storage)) for p in stored_files(media_storage)}
    assert not any(name.startswith("models/") for name in files)
    kept = {name for name in files if not name.startswith("features/")}
    assert len(kept) == 18  # 9 images × (file + thumbnail)
    # The project's feature cache stays for its next training (it goes with the project).
    assert any(name.startswith(f"features/{trainable.id}/") for name in files)


def test_uploading_a_removed_image_again_restores_it(trainable):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    image = Image.objects.filter(project=trainable).order_by("created_at").first()
    with image.file.open("rb") as handle:
        stored = handle.read()
    project_services.images_delete(project=trainable, image_ids=[image.id])
    [result] = project_services.images_create(
        project=trainable,
        uploads=[ImageUpload(name="again.jpg", data=photo("red", seed=SEEDS["red"]))],
    )
    assert result.status == "OK" and result.image.pk == image.pk
    image.refresh_from_db()
    assert image.removed_at is None and stored


def test_training_a_subset_of_tags(project):
    add(project, "red", 5, ["Red"])
    add(project, "blue", 5, ["Blue"])
    add(project, "green", 5, ["Green"])
    wanted = list(project.tags.filter(name__in=["Red", "Green"]).values_list("id", flat=True))
    iteration = services.iteration_train_start(project=project, selected_tag_ids=wanted)
    assert sorted(t["name"] for t in iteration.tags) == ["Green", "Red"]
    assert iteration.images.count() == 10


def test_a_crash_leaves_the_iteration_failed_with_its_traceback(trainable, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(engine, "train", explode)
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Failed"
    assert "out of memory" in iteration.error and "RuntimeError" in iteration.traceback


def test_missing_weights_fail_with_instructions(trainable, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "bundled_weights_path", lambda name: None)
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Failed"
    assert "fetchweights" in iteration.error


def test_a_redelivered_task_never_trains_twice(trainable):
    iteration = services.iteration_train_start(project=trainable)
    assert services.iteration_claim(iteration_id=iteration.id, worker="a")
    assert not services.iteration_claim(iteration_id=iteration.id, worker="b")
    services.iteration_run(iteration_id=iteration.id, worker="b")  # does nothing
    iteration.refresh_from_db()
    assert iteration.status == "Training" and iteration.worker == "a"


def test_cancel(trainable):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_cancel(iteration=iteration)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Cancelled"


def test_cancel_during_training_stops_it(trainable, monkeypatch):
    real = engine.train

    def cancel_then_train(*args, **kwargs):
        Iteration.objects.update(status="Cancelled")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "train", cancel_then_train)
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == "Cancelled" and not iteration.model_file


def test_sweep_fails_iterations_whose_worker_died(trainable):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_claim(iteration_id=iteration.id, worker="gone")
    Iteration.objects.filter(pk=iteration.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert services.iterations_fail_stale() == 1
    iteration.refresh_from_db()
    assert iteration.status == "Failed" and "stopped responding" in iteration.error


def test_sweep_fails_a_queued_iteration_no_worker_took(trainable):
    iteration = services.iteration_train_start(project=trainable)
    long_ago = timezone.now() - timedelta(hours=2)
    Iteration.objects.filter(pk=iteration.pk).update(created_at=long_ago)
    # While some worker shows signs of life, a queue may just be long: nothing is failed.
    other = Iteration.objects.create(
        project=trainable,
        name="busy elsewhere",
        status="Training",
        heartbeat_at=timezone.now(),
        domain_id=trainable.domain_id,
        classification_type=trainable.classification_type,
    )
    assert services.iterations_fail_stale() == 0
    Iteration.objects.filter(pk=other.pk).update(status="Completed", heartbeat_at=long_ago)
    assert services.iterations_fail_stale() == 1
    iteration.refresh_from_db()
    assert iteration.status == "Failed" and "No worker took this training" in iteration.error
    # The project can train again.
    assert services.iteration_train_start(project=trainable, force=True).status == "Queued"


def test_rename(trainable):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_rename(iteration=iteration, name="  Spring  model ")
    iteration.refresh_from_db()
    assert iteration.name == "Spring model"


def test_project_delete_removes_model_files(
    trainable, media_storage, django_capture_on_commit_callbacks
):
    iteration = services.iteration_train_start(project=trainable)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    with django_capture_on_commit_callbacks(execute=True):
        project_services.project_delete(project=trainable)
    assert stored_files(media_storage) == []
    assert not Project.objects.exists()


def test_fetchweights_reports_files_already_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = backbones.hub_checkpoint_path(backbones.TORCHVISION["mobilenet_v3_large"])
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v3_large().state_dict(), path)
    out = io.StringIO()
    call_command("fetchweights", "--only", "mobilenet_v3_large", stdout=out)
    assert "already in cache" in out.getvalue()


def test_deleting_an_iteration_drops_its_model_from_the_prediction_cache(
    trained, django_capture_on_commit_callbacks
):
    from prediction import services as prediction_services

    iteration_predict(iteration=trained, data=photo("red", seed=31))
    assert any(key[0] == trained.id for key in prediction_services._cache)
    with django_capture_on_commit_callbacks(execute=True):
        services.iteration_delete(iteration=trained)
    assert not any(key[0] == trained.id for key in prediction_services._cache)


def test_one_user_has_a_share_of_the_queue_not_all_of_it(
    alice, bob, settings, django_capture_on_commit_callbacks
):
    """Trainings queued or running at once, and the Advanced hours they reserve together, are
    capped per user; another user's trainings are not counted against them."""
    settings.CV_MAX_ACTIVE_TRAININGS_PER_USER = 2
    settings.CV_MAX_TRAINING_HOURS_PER_USER = 10

    def trainable_of(owner):
        project = ProjectFactory(owner=owner)
        add(project, "red", 5, ["Red"])
        add(project, "blue", 5, ["Blue"])
        return project

    first = services.iteration_train_start(
        project=trainable_of(alice), training_type="Advanced", reserved_budget_hours=8
    )
    with pytest.raises(ValidationError) as hours:
        services.iteration_train_start(
            project=trainable_of(alice), training_type="Advanced", reserved_budget_hours=3
        )
    assert hours.value.code == "BadRequestExceededQuota" and "at most 2" in hours.value.messages[0]
    services.iteration_train_start(project=trainable_of(alice))  # quick: no hours
    with pytest.raises(ValidationError) as count:
        services.iteration_train_start(project=trainable_of(alice))
    assert count.value.code == "BadRequestExceededQuota"
    # Bob's share is his own.
    services.iteration_train_start(
        project=trainable_of(bob), training_type="Advanced", reserved_budget_hours=10
    )
    # A training that ends frees its share.
    Iteration.objects.filter(pk=first.pk).update(status=Iteration.Status.COMPLETED)
    services.iteration_train_start(project=trainable_of(alice))
