"""Real Celery worker processes on Redis and the test database train the sample photos."""

from __future__ import annotations

import os
import signal
import time

import pytest

from prediction.services import iteration_predict
from tests.workers import wait_for
from training import services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_trains_the_sample_photos_and_predicts_the_test_photo(
    sample_project, start_worker, sample_dir, tmp_path
):
    start_worker("trainer")
    queued = time.monotonic()
    iteration = services.iteration_train_start(project=sample_project)
    iteration = wait_for(iteration, lambda i: not i.is_active, 180, tmp_path)
    elapsed = time.monotonic() - queued
    assert iteration.status == "Completed", iteration.error
    print(
        f"\nSample project Train → Completed through a worker: {elapsed:.1f} s "
        f"(training itself {iteration.training_seconds:.1f} s)"
    )
    assert iteration.metrics["overall"]["average_precision"] > 0.9
    assert iteration.images.count() == 20
    # The worker consumes the training queue: torch uses every core it may, on purpose.
    assert iteration.details["cpu_threads"] == len(os.sched_getaffinity(0))
    # The "test" photo of the sample set shows a hemlock twig (see the README's note).
    predictions = iteration_predict(
        iteration=iteration, data=(sample_dir / "Test" / "test_image.jpg").read_bytes()
    )
    assert predictions[0].tag_name == "Hemlock", predictions
    cherry = iteration_predict(
        iteration=iteration,
        data=(sample_dir / "Japanese_Cherry" / "japanese_cherry_1.jpg").read_bytes(),
    )
    assert cherry[0].tag_name == "Japanese Cherry"


def test_killed_worker_leaves_the_iteration_failed_then_training_again_works(
    sample_project, start_worker, tmp_path
):
    first = start_worker("doomed", CV_HEARTBEAT_SECONDS="1")
    iteration = services.iteration_train_start(
        project=sample_project, training_type="Advanced", reserved_budget_hours=0.05
    )
    wait_for(
        iteration, lambda i: i.phase.startswith("Fine-tuning") or not i.is_active, 180, tmp_path
    )
    assert iteration.status == "Training", iteration.error
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    time.sleep(3)
    # The next worker to start sweeps iterations whose heartbeat stopped.
    start_worker("rescuer", CV_HEARTBEAT_TIMEOUT_SECONDS="2")
    iteration = wait_for(iteration, lambda i: i.status == "Failed", 60, tmp_path)
    assert "stopped responding" in iteration.error

    again = services.iteration_train_start(project=sample_project)
    again = wait_for(again, lambda i: not i.is_active, 180, tmp_path)
    assert again.status == "Completed", again.error
    iteration.refresh_from_db()
    assert iteration.status == "Failed"  # a redelivered message would not revive it
