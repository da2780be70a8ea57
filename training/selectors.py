from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from projects.models import Project
from training.engine.metrics import at_threshold
from training.models import Iteration


def iteration_get_for_project(project: Project, iteration_id: uuid.UUID | str) -> Iteration:
    iteration = Iteration.objects.filter(pk=iteration_id, project=project).first()
    if iteration is None:
        raise Http404("No such iteration.")
    return iteration


def iteration_list(*, project: Project) -> QuerySet[Iteration]:
    return Iteration.objects.filter(project=project).defer("metrics", "traceback")


def iteration_performance(iteration: Iteration, threshold: float = 0.5) -> dict[str, Any] | None:
    """Overall and per-tag precision, recall and AP at `threshold`, tags named."""
    if not iteration.metrics:
        return None
    numbers = at_threshold(iteration.metrics, threshold)
    for tag, row in zip(iteration.tags, numbers["tags"], strict=True):
        row.update(id=tag["id"], name=tag["name"], type=tag["type"])
    numbers["threshold"] = threshold
    return numbers
