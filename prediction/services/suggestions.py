"""Suggested tags for untagged images (the Training Images tab's Suggested view, the API's
SuggestTagsAndRegions and QuerySuggestedImages). An object-detection iteration suggests
regions: its boxes, each a tag, a probability and a `boundingBox` as Detect answers them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from core import storage
from engine.imaging import ImageRejected, decode_for_model
from prediction.models import Suggestion
from prediction.services.classify import TagProbability, located, prediction_entry_json, ranked
from prediction.services.predictors import detector_for, predictor_for
from prediction.services.stored import kept_boxes, region_tags
from projects.models import Image, Project, Tag
from projects.selectors import active_images
from projects.services.images import (
    images_tags_add,
    stored_image_rules,
)
from projects.services.regions import regions_add
from training.models import Iteration

logger = logging.getLogger(__name__)


def _uncertainty(iteration: Iteration, predictions: list[TagProbability]) -> float:
    """How unsure the model is: multiclass, 1 − the margin between its two best tags;
    multilabel and object detection, the tag (or box) whose probability is nearest 50 %; a
    detector that found nothing, 1."""
    probabilities = [p.probability for p in predictions]  # best first
    if not probabilities:
        return 1.0
    if (
        iteration.classification_type == Project.ClassificationType.MULTICLASS
        and not iteration.is_detection
    ):
        second = probabilities[1] if len(probabilities) > 1 else 0.0
        return round(1.0 - (probabilities[0] - second), 6)
    return round(max(1.0 - abs(2.0 * p - 1.0) for p in probabilities), 6)


def suggestions_for(
    *, iteration: Iteration, images: Sequence[Image], limit: int | None = None
) -> list[Suggestion]:
    """The iteration's suggestion for each image, computing (and keeping) the missing ones:
    all of them, or at most `limit` in this call (the rest are left out until a later call, so
    one request never runs the model over thousands of images)."""
    have = {s.image_id: s for s in Suggestion.objects.filter(iteration=iteration, image__in=images)}
    budget = limit
    for image in images:
        if image.id in have:
            continue
        if budget is not None:
            if budget <= 0:
                continue
            budget -= 1
        predictions = _predictions(iteration, storage.read(str(image.file.name)))
        if predictions is None:
            logger.warning("Image %s is over today's decoding limit: no suggestion", image.id)
            continue
        have[image.id], _ = Suggestion.objects.get_or_create(
            iteration=iteration, image=image, defaults=_suggestion_fields(iteration, predictions)
        )
    return [have[i.id] for i in images if i.id in have]


def _suggestion_fields(iteration: Iteration, predictions: list[TagProbability]) -> dict[str, Any]:
    # A detector may find nothing: the row still says the image was looked at, its top tag
    # (a column that can't be empty) the first at probability 0.
    top_tag = predictions[0].tag_id if predictions else iteration.tags[0]["id"]
    return {
        "predictions": [prediction_entry_json(p) for p in predictions],
        "uncertainty": _uncertainty(iteration, predictions),
        "top_tag_id": top_tag,
        "top_probability": predictions[0].probability if predictions else 0.0,
    }


def _predictions(iteration: Iteration, data: bytes) -> list[TagProbability] | None:
    """The model's answer for a stored image, most probable first: the tags, or a detector's
    boxes. Decoded within the process's decoding budget (and freed when this returns, before
    the next is decoded); None when today's limits refuse it (it was stored under larger
    ones)."""
    model = detector_for(iteration) if iteration.is_detection else predictor_for(iteration)
    try:
        image = decode_for_model(data, stored_image_rules(), model.image_size)
    except ImageRejected:
        return None
    if iteration.is_detection:
        return located(iteration, detector_for(iteration).detect_image(image))
    return ranked(iteration, predictor_for(iteration).predict_image(image))


def _probability(suggestion: Suggestion, tag_id: str) -> float:
    return next((p["probability"] for p in suggestion.predictions if p["tagId"] == tag_id), 0.0)


def suggested_untagged(
    *,
    project: Project,
    iteration: Iteration,
    tag_ids: Sequence[str] = (),
    threshold: float = 0.0,
    most_uncertain_first: bool = True,
) -> tuple[list[Suggestion], int]:
    """Untagged images with what the iteration suggests, sorted by uncertainty (with `tag_ids`,
    only those suggesting one of them at `threshold` or above), and how many untagged images
    are still to be scored by a later call."""
    untagged = _untagged(project)
    found = suggestions_for(
        iteration=iteration, images=untagged, limit=settings.CV_SUGGESTIONS_PER_REQUEST
    )
    pending = len(untagged) - len(found)
    if tag_ids:
        found = [s for s in found if any(_probability(s, t) >= threshold for t in tag_ids)]
    return sorted(found, key=lambda s: s.uncertainty, reverse=most_uncertain_first), pending


def _untagged(project: Project) -> list[Image]:
    return list(active_images(project).filter(tagged=False).order_by("created_at"))


def suggested_counts(
    *, project: Project, iteration: Iteration, tag_ids: Sequence[str], threshold: float
) -> dict[str, int]:
    """Per tag, how many untagged images the iteration suggests it for at `threshold`."""
    found, _pending = suggested_untagged(project=project, iteration=iteration)
    return {t: sum(1 for s in found if _probability(s, t) >= threshold) for t in tag_ids}


def suggestions_confirm(
    *,
    project: Project,
    pairs: Sequence[tuple[uuid.UUID, uuid.UUID]],
    iteration: Iteration | None = None,
) -> int:
    """Tag each (image, suggested tag) pair: the Untagged view's "Confirm". Returns how many
    images were tagged; one call per tag, through the usual tagging rules. In an
    object-detection project an image is tagged by regions: the boxes of that tag that
    `iteration` suggested for it (`kept_boxes`)."""
    by_tag: dict[uuid.UUID, list[uuid.UUID]] = {}
    for image_id, tag_id in pairs:
        by_tag.setdefault(tag_id, []).append(image_id)
    tags = {t.id: t for t in Tag.objects.filter(project=project, id__in=by_tag)}
    if len(tags) != len(by_tag):
        raise ValidationError("A suggested tag is not in this project.")
    if project.is_detection:
        return _confirm_regions(project, iteration, by_tag, tags)
    changed = 0
    with transaction.atomic():
        for tag_id, image_ids in by_tag.items():
            changed += images_tags_add(project=project, image_ids=image_ids, tags=[tags[tag_id]])
    return changed


def _confirm_regions(
    project: Project,
    iteration: Iteration | None,
    by_tag: dict[uuid.UUID, list[uuid.UUID]],
    tags: dict[uuid.UUID, Tag],
) -> int:
    if iteration is None:
        raise ValidationError("Choose the iteration whose suggested regions to confirm.")
    wanted = {i for ids in by_tag.values() for i in ids}
    images = {i.id: i for i in active_images(project).filter(id__in=wanted)}
    found = Suggestion.objects.filter(iteration=iteration, image_id__in=images)
    suggestions = {s.image_id: s for s in found}
    live = region_tags(project)
    changed: set[uuid.UUID] = set()
    with transaction.atomic():
        for tag_id, image_ids in by_tag.items():
            for image_id in image_ids:
                suggestion = suggestions.get(image_id)
                if suggestion is None:
                    continue
                boxes = kept_boxes(suggestion.predictions, tag_ids=[tag_id], live=live)
                located_boxes = [(tags[tag_id], *box[1:]) for box in boxes]
                if regions_add(image=images[image_id], boxes=located_boxes):
                    changed.add(image_id)
    return len(changed)


# --- Suggested objects (a detection project's Suggested view) ---------------------------------


def suggestion_drafts(suggestion: Suggestion, *, live: set[str]) -> list[dict[str, Any]]:
    """The boxes of a detector's suggestion offered as drafts, in the editor's shape
    ({tag_id, tag_name, probability, left, top, width, height}): the ones Accept would make
    regions (`kept_boxes`: sure enough, of a tag the project still has, a region's shape)."""
    drafts = []
    for prediction in suggestion.predictions:
        for tag_id, left, top, width, height in kept_boxes([prediction], live=live):
            drafts.append(
                {
                    "tag_id": tag_id,
                    "tag_name": prediction.get("tagName", ""),
                    "probability": prediction.get("probability", 0.0),
                    "left": left,
                    "top": top,
                    "width": width,
                    "height": height,
                    "kind": "draft",
                }
            )
    return drafts


def image_suggestion_drafts(*, iteration: Iteration, image: Image) -> list[dict[str, Any]]:
    """One image's drafts from `iteration` (scored now if it never was): the image page's
    editor shows them when opened from Suggested objects' "Correct"."""
    found = suggestions_for(iteration=iteration, images=[image])
    return suggestion_drafts(found[0], live=region_tags(image.project)) if found else []


def suggested_objects(
    *, project: Project, iteration: Iteration
) -> tuple[list[tuple[Suggestion, list[dict[str, Any]]]], int]:
    """Untagged images with the detector's drafts, most uncertain first, leaving out those
    whose drafts were discarded; and how many untagged images are still to be scored."""
    found, pending = suggested_untagged(project=project, iteration=iteration)
    live = region_tags(project)
    return [(s, suggestion_drafts(s, live=live)) for s in found if not s.discarded], pending


def suggestions_accept(
    *, project: Project, iteration: Iteration, image_ids: Sequence[uuid.UUID]
) -> int:
    """Suggested objects' Accept: each still-untagged image gets its drafts as regions (and
    so their tags). Returns how many images were tagged; one with no draft is left as it is."""
    images = active_images(project).filter(id__in=image_ids, tagged=False)
    suggestions = {
        s.image_id: s for s in Suggestion.objects.filter(iteration=iteration, image__in=images)
    }
    live = region_tags(project)
    tags = {str(t.id): t for t in Tag.objects.filter(project=project, id__in=live)}
    changed = 0
    with transaction.atomic():
        for image in images:
            suggestion = suggestions.get(image.id)
            if suggestion is None:
                continue
            boxes = [
                (tags[str(b[0])], *b[1:]) for b in kept_boxes(suggestion.predictions, live=live)
            ]
            if boxes and regions_add(image=image, boxes=boxes):
                changed += 1
    return changed


def suggestions_discard(
    *, project: Project, iteration: Iteration, image_ids: Sequence[uuid.UUID]
) -> int:
    """Suggested objects' Discard: the images leave the list with their drafts unused."""
    return Suggestion.objects.filter(
        iteration=iteration, image__project=project, image_id__in=image_ids
    ).update(discarded=True)
