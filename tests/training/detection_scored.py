"""A detection iteration completed by hand with chosen out-of-fold detections (no training):
every figure of its Performance page is known in advance, at any slider position."""

from __future__ import annotations

import random

from django.utils import timezone

from engine.detection_metrics import evaluate, figures_json
from projects import rules
from tests.training.detection import add_sample_photos, detection_project
from training import services
from training.models import Iteration

# Ties on purpose: the browser must rank equal probabilities as the server does.
PROBABILITIES = [0.9, 0.75, 0.75, 0.6, 0.45, 0.3, 0.95, 0.52, 0.75, 0.2]


def scored_detector(owner, resource, monkeypatch, per_tag: int = 5) -> Iteration:
    """Forks and scissors, each found by a box shifted a little more than the one before (so
    each overlap slider position keeps a different set), some found twice, some with a false
    box of the other tag; three folds."""
    monkeypatch.setattr(rules, "MIN_IMAGES_PER_TAG_DETECTION", per_tag)
    project = detection_project(owner, resource)
    add_sample_photos(project, per_tag)
    iteration = services.iteration_train_start(project=project)
    rng = random.Random(25)
    rows = list(iteration.images.order_by("image__created_at", "image_id"))
    for i, row in enumerate(rows):
        detections = []
        for tag, left, top, width, height in row.regions:
            shift = (i % 6) * 0.07 * width
            p = PROBABILITIES[i % len(PROBABILITIES)]
            detections.append([tag, p, min(left + shift, 1 - width), top, width, height])
            if i % 3 == 0:
                detections.append([tag, p / 2, left, top + 0.02, width * 0.9, height])
            if i % 4 == 1:
                x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
                detections.append([1 - tag, rng.choice(PROBABILITIES), x, y, 0.3, 0.3])
        row.detections = [] if i == len(rows) - 1 else detections
        row.fold = i % 3
        row.save(update_fields=["detections", "fold"])
    truth = [[tuple(r) for r in row.regions] for row in rows]
    found = [[tuple(d) for d in row.detections] for row in rows]
    figures = evaluate(truth, found, len(iteration.tags), threshold=0.5, overlap=0.5)
    Iteration.objects.filter(pk=iteration.pk).update(
        status=Iteration.Status.COMPLETED,
        progress=100,
        phase="Completed",
        trained_at=timezone.now(),
        metrics=figures_json(figures),
        details={"folds": 3},
    )
    iteration.refresh_from_db()
    return iteration
