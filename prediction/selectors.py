"""Reads of stored predictions and of the iteration Quick Test uses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from core.codes import AzureCode
from prediction.models import StoredPrediction
from projects.models import Project
from projects.selectors import Key, KeysetPage, keyset_page
from training.models import Iteration
from training.selectors import iteration_get_for_project


@dataclass(frozen=True)
class TagRange:
    """A stored prediction matches when its probability for `tag_id` lies in [low, high]."""

    tag_id: str
    low: float = 0.0
    high: float = 1.0


def quick_test_iteration(project: Project, iteration_id: uuid.UUID | str | None) -> Iteration:
    """The iteration asked for, or the project's most recently trained one."""
    completed = Iteration.objects.filter(project=project, status=Iteration.Status.COMPLETED)
    if iteration_id:
        found = iteration_get_for_project(project, iteration_id)
        if not found.is_completed:
            raise ValidationError(
                "The iteration is not trained.", code=AzureCode.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
            )
        return found
    latest = completed.order_by("-trained_at").first()
    if latest is None:
        raise ValidationError(
            "The project has no trained iteration yet; train one first.",
            code=AzureCode.BAD_REQUEST_NO_VALID_ITERATION,
        )
    return latest


def completed_iterations(project: Project) -> QuerySet[Iteration]:
    """The project's trained iterations, newest first: what suggestions may come from."""
    return Iteration.objects.filter(project=project, status=Iteration.Status.COMPLETED).order_by(
        "-trained_at"
    )


def prediction_get_for_project(
    project: Project, prediction_id: uuid.UUID | str
) -> StoredPrediction:
    found = StoredPrediction.objects.filter(project=project, pk=prediction_id).first()
    if found is None:
        raise Http404("No such stored prediction.")
    return found


def prediction_list(
    project: Project,
    *,
    iteration_id: uuid.UUID | str | None = None,
    application: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    newest_first: bool = True,
) -> QuerySet[StoredPrediction]:
    found = StoredPrediction.objects.filter(project=project).select_related("iteration")
    if iteration_id:
        found = found.filter(iteration_id=iteration_id)
    if application:
        found = found.filter(application=application)
    if start:
        found = found.filter(created_at__gte=start)
    if end:
        found = found.filter(created_at__lte=end)
    return found.order_by("-created_at" if newest_first else "created_at", "id")


def _matches(prediction: StoredPrediction, ranges: Sequence[TagRange]) -> bool:
    by_tag = {p["tagId"]: p["probability"] for p in prediction.predictions}
    return all(r.tag_id in by_tag and r.low <= by_tag[r.tag_id] <= r.high for r in ranges)


def prediction_page(
    found: QuerySet[StoredPrediction],
    ranges: Sequence[TagRange],
    *,
    size: int,
    after: Key | None = None,
    before: Key | None = None,
    newest_first: bool = True,
) -> KeysetPage[StoredPrediction]:
    """A page of `found` (prediction_list's order) from a position, as the portal's image
    pages go. Tag ranges test the JSON in Python: portable across databases, and read on only
    until the page is full."""
    return keyset_page(
        found,
        size=size,
        after=after,
        before=before,
        newest_first=newest_first,
        keep=(lambda prediction: _matches(prediction, ranges)) if ranges else None,
    )


# --- A detection's boxes drawn over its photo (portal/_boxes.html) ---------------------------

# Quick Test and Predictions hide the weaker boxes below this probability at first (a detector
# answers up to 64 boxes down to 1 %); their slider shows them.
BOX_THRESHOLD = 0.5


def drawn_boxes(
    predictions: Sequence[Any], threshold: float = BOX_THRESHOLD
) -> list[dict[str, Any]]:
    """A detection's boxes, most probable first, for portal/_boxes.html: from Quick Test's
    answer (TagProbability) or a stored prediction's JSON; those below `threshold` hidden."""
    boxes = []
    for p in predictions:
        if isinstance(p, dict):
            box, name, probability = p.get("boundingBox"), p.get("tagName"), p["probability"]
        else:
            box, name, probability = p.bounding_box, p.tag_name, p.probability
        if not box:
            continue
        drawn: dict[str, Any] = {k: float(box[k]) for k in ("left", "top", "width", "height")}
        probability = float(probability)
        kind = {"kind": "found", "hidden": probability < threshold}
        boxes.append(drawn | {"tag_name": name, "probability": probability} | kind)
    return sorted(boxes, key=lambda b: -b["probability"])


def photo_boxes(predictions: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
    """A detection's boxes and where its threshold slider starts (whole percents): at
    BOX_THRESHOLD, or lower when even the model's best box is weaker, so that the best box
    always shows; the boxes below it come hidden."""
    best = max((b["probability"] for b in drawn_boxes(predictions, 0.0)), default=1.0)
    start = min(round(BOX_THRESHOLD * 100), int(best * 100))
    return drawn_boxes(predictions, start / 100), start
