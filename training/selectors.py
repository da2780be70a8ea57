from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.db.models import JSONField, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from engine.detection_metrics import evaluate, image_matches
from engine.thresholds import (
    DEFAULT_THRESHOLD,
    at_threshold,
    is_predicted,
    threshold_index,
)
from projects.models import Image, Project, Tag
from projects.selectors import ImageFilter, UserLike, project_get_for_user
from training.models import Iteration, IterationImage


def iteration_get_for_project(project: Project, iteration_id: uuid.UUID | str) -> Iteration:
    iteration = Iteration.objects.filter(pk=iteration_id, project=project).first()
    if iteration is None:
        raise Http404("No such iteration.")
    return iteration


def iteration_get_for_user(
    user: UserLike, project_id: uuid.UUID | str, iteration_id: uuid.UUID | str
) -> Iteration:
    """The iteration of one of the user's projects (404 for anyone else's), its `project`
    the one `project_get_for_user` found: every page and API call about an iteration starts here."""
    project = project_get_for_user(user, project_id)
    iteration = iteration_get_for_project(project, iteration_id)
    iteration.project = project
    return iteration


def iteration_list(*, project: Project) -> QuerySet[Iteration]:
    return Iteration.objects.filter(project=project).defer("metrics", "traceback")


# --- What an iteration saw (the API's iterationId on tags and images) ------------------------


@dataclass(frozen=True)
class SeenTag:
    id: str
    name: str
    type: str
    description: str
    image_count: int


def iteration_tag_list(iteration: Iteration) -> list[SeenTag]:
    """The tags the iteration trained on, with the names and image counts it saw."""
    counts: Counter[str] = Counter()
    for tag_ids in IterationImage.objects.filter(iteration=iteration).values_list(
        "tag_ids", flat=True
    ):
        counts.update(tag_ids)
    descriptions = dict(
        Tag.objects.filter(id__in=[t["id"] for t in iteration.tags]).values_list(
            "id", "description"
        )
    )
    return [
        SeenTag(
            id=t["id"],
            name=t["name"],
            type=t["type"],
            description=descriptions.get(uuid.UUID(t["id"]), ""),
            image_count=counts[t["id"]],
        )
        for t in iteration.tags
    ]


def iteration_image_list(
    *, iteration: Iteration, state: str, tag_ids: list[uuid.UUID] | None, where: Q | None
) -> QuerySet[Image]:
    """The images the iteration trained on, newest first, each with `seen_tag_ids` and
    `seen_regions`: its tags and regions then (it may since have been retagged, or removed
    from the project)."""
    seen = IterationImage.objects.filter(iteration=iteration)
    if state == ImageFilter.TAGGED:
        seen = seen.exclude(tag_ids=[])
    elif state == ImageFilter.UNTAGGED:
        seen = seen.filter(tag_ids=[])
    if tag_ids:
        # tag_ids is a JSON list of id strings; a text match of a UUID can't hit another id,
        # and this lookup reads the same on PostgreSQL and SQLite.
        any_tag = Q()
        for tag_id in tag_ids:
            any_tag |= Q(tag_ids__icontains=str(tag_id))
        seen = seen.filter(any_tag)
    images = Image.objects.filter(id__in=seen.values("image_id"))
    if where is not None:
        images = images.filter(where)
    then = IterationImage.objects.filter(iteration=iteration, image=OuterRef("pk"))
    return images.annotate(
        seen_tag_ids=Subquery(then.values("tag_ids")[:1], output_field=JSONField()),
        seen_regions=Subquery(then.values("regions")[:1], output_field=JSONField()),
    ).order_by("-created_at", "id")


def iteration_performance(iteration: Iteration, threshold: float = 0.5) -> dict[str, Any] | None:
    """Overall and per-tag precision, recall and AP at `threshold`, tags named (a detector's
    at the API's default overlap: `iteration_detection_performance`)."""
    if iteration.is_detection:
        return iteration_detection_performance(iteration, threshold)
    if not iteration.metrics:
        return None
    numbers = at_threshold(iteration.metrics, threshold)
    for index, (tag, row) in enumerate(zip(iteration.tags, numbers["tags"], strict=True)):
        row.update(
            id=tag["id"], name=tag["name"], type=tag["type"], index=index, scored=is_scored(tag)
        )
    # The API keeps every tag's row, as the SDK's perTagPerformance lists them; the page shows
    # the unscored ones apart.
    numbers["unscored"] = [row for row in numbers["tags"] if not row["scored"]]
    numbers["threshold"] = threshold
    return numbers


def is_scored(tag: dict[str, Any]) -> bool:
    """Whether an iteration's tag is scored as a class. Custom Vision's Negative tag marks
    images that show none of the others: it trains, but the overall precision, recall and AP
    leave it out (`engine.metrics.evaluate`'s `unscored`)."""
    return tag["type"] != Tag.Type.NEGATIVE


# --- Performance page: the threshold table, what each image was predicted as -----------------

# Multilabel images count a tag as predicted at this probability; the Performance page's
# confusion counts and mistakes use it (the slider recomputes only precision and recall).
PREDICTION_THRESHOLD = DEFAULT_THRESHOLD


def iteration_threshold_table(iteration: Iteration) -> dict[str, Any] | None:
    """Precision and recall at every threshold 0.00 … 1.00, overall and per tag, for the
    page's slider to read (embedded with json_script): nothing else, to keep the page small."""
    if not iteration.metrics:
        return None
    metrics = iteration.metrics
    overall = metrics["overall"]
    return {
        "thresholds": metrics["thresholds"],
        "overall": {
            key: overall[key] for key in ("precision", "recall", "precision_std", "recall_std")
        },
        "tags": [{"precision": t["precision"], "recall": t["recall"]} for t in metrics["tags"]],
    }


@dataclass
class ImageOutcome:
    """One image of an iteration: its true tags and what its out-of-fold model predicted."""

    image: Image
    true_tags: list[dict[str, Any]]
    predicted: list[tuple[dict[str, Any], float]]  # (tag, probability), most probable first
    top: tuple[dict[str, Any], float]  # the most probable tag, predicted or not
    scored: list[tuple[dict[str, Any], float]]  # every tag, most probable first

    @property
    def true_ids(self) -> set[str]:
        return {t["id"] for t in self.true_tags}

    @property
    def predicted_ids(self) -> set[str]:
        return {t["id"] for t, _ in self.predicted}

    @property
    def is_wrong(self) -> bool:
        return self.true_ids != self.predicted_ids

    @property
    def confidence(self) -> float:
        """How sure the model was: the probability of its top tag."""
        return self.top[1]


def iteration_outcomes(iteration: Iteration) -> list[ImageOutcome]:
    """Every scored image of the iteration with its true and predicted tags.

    Multiclass predicts the most probable tag (argmax), as Custom Vision's portal does;
    multilabel every tag at or above PREDICTION_THRESHOLD. Images removed from the project
    since are included: the iteration was measured on them.
    """
    tags = iteration.tags
    by_id = {t["id"]: t for t in tags}
    multiclass = iteration.classification_type == Project.ClassificationType.MULTICLASS
    rows = (
        iteration.images.filter(probabilities__isnull=False)
        .select_related("image")
        .order_by("image__created_at", "image_id")
    )
    outcomes = []
    for row in rows:
        probabilities = row.probabilities
        assert probabilities is not None  # filtered above
        scored = sorted(
            ((tag, float(p)) for tag, p in zip(tags, probabilities, strict=True)),
            key=lambda pair: -pair[1],
        )
        predicted = (
            scored[:1]
            if multiclass
            else [s for s in scored if is_predicted(s[1], PREDICTION_THRESHOLD)]
        )
        outcomes.append(
            ImageOutcome(
                image=row.image,
                true_tags=[by_id[t] for t in row.tag_ids if t in by_id],
                predicted=predicted,
                top=scored[0],
                scored=scored,
            )
        )
    return outcomes


@dataclass
class ConfusionMatrix:
    """Rows: true tag; columns: predicted tag; cells: how many images."""

    tags: list[dict[str, Any]]
    rows: list[tuple[dict[str, Any], list[tuple[dict[str, Any], int]]]]


def confusion_matrix(iteration: Iteration, outcomes: list[ImageOutcome]) -> ConfusionMatrix | None:
    """Multiclass only: a multilabel image can be in several rows and columns at once."""
    if iteration.classification_type != Project.ClassificationType.MULTICLASS:
        return None
    counts: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        for true_id in outcome.true_ids:
            for predicted_id in outcome.predicted_ids:
                counts[true_id, predicted_id] = counts.get((true_id, predicted_id), 0) + 1
    tags = iteration.tags
    return ConfusionMatrix(
        tags=tags,
        rows=[(t, [(p, counts.get((t["id"], p["id"]), 0)) for p in tags]) for t in tags],
    )


def tag_errors(iteration: Iteration, outcomes: list[ImageOutcome]) -> list[dict[str, Any]]:
    """Per tag: images predicted with it but not tagged so (false positives) and tagged so
    but not predicted with it (false negatives)."""
    rows = []
    for tag in iteration.tags:
        rows.append(
            {
                "tag": tag,
                "false_positives": sum(
                    tag["id"] in o.predicted_ids and tag["id"] not in o.true_ids for o in outcomes
                ),
                "false_negatives": sum(
                    tag["id"] in o.true_ids and tag["id"] not in o.predicted_ids for o in outcomes
                ),
            }
        )
    return rows


def mistakes(outcomes: list[ImageOutcome]) -> list[ImageOutcome]:
    """The images the model got wrong, the most confidently wrong first."""
    return sorted((o for o in outcomes if o.is_wrong), key=lambda o: -o.confidence)


def iteration_tag_or_404(iteration: Iteration, tag_id: uuid.UUID | str) -> dict[str, Any]:
    """One of the tags the iteration trained on (it may since have been renamed or deleted)."""
    for tag in iteration.tags:
        if tag["id"] == str(tag_id):
            return tag
    raise Http404("The iteration has no such tag.")


def outcomes_in_cell(
    outcomes: list[ImageOutcome], *, true_tag_id: str, predicted_tag_id: str
) -> list[ImageOutcome]:
    return [
        o for o in outcomes if true_tag_id in o.true_ids and predicted_tag_id in o.predicted_ids
    ]


def outcomes_with_error(
    outcomes: list[ImageOutcome], *, tag_id: str, false_positive: bool
) -> list[ImageOutcome]:
    if false_positive:
        return [o for o in outcomes if tag_id in o.predicted_ids and tag_id not in o.true_ids]
    return [o for o in outcomes if tag_id in o.true_ids and tag_id not in o.predicted_ids]


def prediction_urls(*, iteration: Iteration, base_url: str) -> dict[str, str] | None:
    """Where a published iteration answers, as Custom Vision's portal shows it."""
    if not iteration.is_published:
        return None
    root = (
        f"{base_url.rstrip('/')}/customvision/v3.0/Prediction/{iteration.project_id}"
        f"/{'detect' if iteration.is_detection else 'classify'}/iterations/"
        f"{quote(iteration.publish_name, safe='')}"
    )
    return {"image": f"{root}/image", "url": f"{root}/url"}


def pr_curves(iteration: Iteration) -> list[dict[str, Any]]:
    """Per tag, its (recall, precision) at each threshold where both are defined, from the
    lowest threshold (high recall) to the highest: a precision–recall curve."""
    if not iteration.metrics:
        return []
    curves = []
    opening = threshold_index(PREDICTION_THRESHOLD)  # the page opens there
    for index, (tag, block) in enumerate(
        zip(iteration.tags, iteration.metrics["tags"], strict=True)
    ):
        if not is_scored(tag):
            continue
        points: list[tuple[float, float]] = []
        for p, r in zip(block["precision"], block["recall"], strict=True):
            if p is not None and r is not None and (not points or points[-1] != (r, p)):
                points.append((r, p))
        if points:
            # Where nothing is predicted precision is undefined; end the curve at recall 0,
            # precision 1, as scikit-learn's precision_recall_curve does, so it reads as one.
            points.append((0.0, 1.0))
        p, r = block["precision"][opening], block["recall"][opening]
        curves.append(
            {
                "tag": tag,
                "index": index,  # the tag's row in the threshold table
                "points": points,
                "marker": (r, p) if p is not None and r is not None else None,
                "average_precision": block["average_precision"],
            }
        )
    return curves


# --- Object detection: figures from the stored out-of-fold detections ------------------------

# GetIterationPerformance's overlapThreshold when the caller gives none: Azure's API answers at
# 0.5 then (Microsoft's answer on Q&A 219570; its portal opens at 0.3).
DEFAULT_OVERLAP = 0.5


def _detection_rows(iteration: Iteration) -> list[IterationImage]:
    return list(
        iteration.images.filter(detections__isnull=False)
        .select_related("image")
        .order_by("image__created_at", "image_id")
    )


def _evaluated(rows: list[IterationImage], tag_count: int, threshold: float, overlap: float) -> Any:
    truth = [[_as_box(r) for r in row.regions or []] for row in rows]
    predicted = [[_as_detection(d) for d in row.detections or []] for row in rows]
    return evaluate(truth, predicted, tag_count, threshold=threshold, overlap=overlap)


def _as_box(region: list[float]) -> tuple[int, float, float, float, float]:
    return (int(region[0]), *(float(v) for v in region[1:5]))  # type: ignore[return-value]


def _as_detection(found: list[float]) -> tuple[int, float, float, float, float, float]:
    return (int(found[0]), *(float(v) for v in found[1:6]))  # type: ignore[return-value]


def _spread(values: list[float | None]) -> float:
    """The standard deviation across folds (population, as classification's), 0 for one."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return 0.0
    mean = sum(known) / len(known)
    return float((sum((v - mean) ** 2 for v in known) / len(known)) ** 0.5)


def iteration_detection_performance(
    iteration: Iteration, threshold: float = 0.5, overlap: float = DEFAULT_OVERLAP
) -> dict[str, Any] | None:
    """Per-tag precision, recall and AP and overall precision, recall and mAP at any
    probability `threshold` and IoU `overlap`, from the out-of-fold detections training kept
    (models that never saw the image); deviations are across the folds."""
    rows = _detection_rows(iteration)
    if not rows:
        return None
    count = len(iteration.tags)
    whole = _evaluated(rows, count, threshold, overlap)
    folds: dict[int, list[IterationImage]] = {}
    for row in rows:
        folds.setdefault(row.fold if row.fold is not None else 0, []).append(row)
    parts = [_evaluated(f, count, threshold, overlap) for f in folds.values()]
    tags = []
    for t, (tag, figures) in enumerate(zip(iteration.tags, whole.per_tag, strict=True)):
        tags.append(
            {
                "id": tag["id"],
                "name": tag["name"],
                "type": tag["type"],
                "precision": figures.precision,
                "recall": figures.recall,
                "average_precision": figures.average_precision,
                "precision_std": _spread([p.per_tag[t].precision for p in parts]),
                "recall_std": _spread([p.per_tag[t].recall for p in parts]),
            }
        )
    overall = {
        "precision": whole.precision,
        "recall": whole.recall,
        "average_precision": whole.mean_average_precision,
        "precision_std": _spread([p.precision for p in parts]),
        "recall_std": _spread([p.recall for p in parts]),
    }
    return {"tags": tags, "overall": overall, "threshold": threshold, "overlap": overlap}


@dataclass
class DetectionOutcome:
    """One image of a detection iteration: its boxes then and its out-of-fold detections."""

    image: Image
    true_tags: list[dict[str, Any]]
    regions: list[tuple[dict[str, Any], tuple[float, float, float, float]]]
    detections: list[tuple[dict[str, Any], float, tuple[float, float, float, float]]]

    @property
    def true_ids(self) -> set[str]:
        return {t["id"] for t in self.true_tags}


def iteration_detection_outcomes(iteration: Iteration) -> list[DetectionOutcome]:
    """Every estimated image of a detection iteration, oldest first, with its true boxes and
    its detections (most probable first), tags as the iteration saw them."""
    tags = iteration.tags
    by_id = {t["id"]: t for t in tags}
    outcomes = []
    for row in _detection_rows(iteration):
        regions = [(tags[int(r[0])], _ltwh(r[1:5])) for r in row.regions or []]
        found = sorted(row.detections or [], key=lambda d: -float(d[1]))
        outcomes.append(
            DetectionOutcome(
                image=row.image,
                true_tags=[by_id[t] for t in row.tag_ids if t in by_id],
                regions=regions,
                detections=[(tags[int(d[0])], float(d[1]), _ltwh(d[2:6])) for d in found],
            )
        )
    return outcomes


def _ltwh(values: list[float]) -> tuple[float, float, float, float]:
    left, top, width, height = (float(v) for v in values)
    return (left, top, width, height)


# --- The Performance page of a detector: sliders recompute in the browser --------------------

# The Performance page opens at these, as Azure's portal does (its API answers at 0.5 overlap).
PORTAL_THRESHOLD = 0.5
PORTAL_OVERLAP = 0.3


def detection_page_data(iteration: Iteration) -> dict[str, Any]:
    """What the page's sliders recompute from (static/training/detection_performance.js), in
    the order `iteration_detection_performance` reads it, values as stored: so the browser's
    figures are the server's at every slider position, ties ranked alike."""
    rows = _detection_rows(iteration)
    return {
        "tags": [{"id": t["id"], "name": t["name"]} for t in iteration.tags],
        "images": [
            {"fold": r.fold, "regions": r.regions or [], "detections": r.detections or []}
            for r in rows
        ],
    }


def detection_box_counts(data: dict[str, Any]) -> list[int]:
    """How many boxes of each tag the estimated images had (`detection_page_data`)."""
    counts = [0] * len(data["tags"])
    for image in data["images"]:
        for region in image["regions"]:
            counts[int(region[0])] += 1
    return counts


@dataclass
class DetectionMistakes:
    """One estimated image drawn as the figures count it: `boxes` for portal/_boxes.html, its
    truth boxes (stored order) then its detections (most probable first); `index` is its
    place in `detection_page_data`'s images."""

    image: Image
    index: int
    boxes: list[dict[str, Any]]
    missed: int
    false: int

    @property
    def count(self) -> int:
        return self.missed + self.false


def detection_mistakes(
    iteration: Iteration, threshold: float, overlap: float
) -> list[DetectionMistakes]:
    """Every estimated image, those with the most missed or false boxes first: truth boxes
    found ("region") or missed, detections at or above `threshold` that hit one ("found") or
    not ("false"); weaker ones come along hidden, for the page's sliders to show."""
    tags = iteration.tags
    drawn = []
    for index, row in enumerate(_detection_rows(iteration)):
        truth = [_as_box(r) for r in row.regions or []]
        found = sorted((_as_detection(d) for d in row.detections or []), key=lambda d: -d[1])
        matched, hits = image_matches(truth, found, threshold=threshold, overlap=overlap)
        boxes = [
            _drawn(box[1:], tags[box[0]]["name"], "region" if ok else "missed")
            for box, ok in zip(truth, matched, strict=True)
        ]
        for d, hit in zip(found, hits, strict=True):
            kind = "found" if hit else "false"
            boxes.append(_drawn(d[2:], tags[d[0]]["name"], kind, d[1], d[1] < threshold))
        missed = matched.count(False)
        false = sum(1 for d, hit in zip(found, hits, strict=True) if d[1] >= threshold and not hit)
        drawn.append(DetectionMistakes(row.image, index, boxes, missed, false))
    return sorted(drawn, key=lambda m: -m.count)


def _drawn(
    box: tuple[float, ...],
    tag_name: str,
    kind: str,
    probability: float | None = None,
    hidden: bool = False,
) -> dict[str, Any]:
    left, top, width, height = box
    drawn = {"left": left, "top": top, "width": width, "height": height}
    return drawn | {
        "tag_name": tag_name,
        "kind": kind,
        "probability": probability,
        "hidden": hidden,
    }
