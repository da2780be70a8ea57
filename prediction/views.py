"""Quick Test and the Predictions tab: images sent to the prediction endpoint, and moving them
into the training images."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.http import AuthedRequest, render_form, serve_stored_file
from core.redirects import safe_next
from prediction import selectors, services
from prediction.forms import PredictionFilterForm, QuickTestForm
from projects import services as project_services
from projects.forms import ImageTagsForm, portal_regions
from projects.models import Project
from projects.region_views import editor_body, regions_json, tags_json
from projects.selectors import (
    cursor_parse,
    image_get_for_project,
    project_get_for_user,
    tag_list,
)
from training.models import Iteration

PREDICTIONS_PER_PAGE = 48


@login_required
@require_http_methods(["GET", "POST"])
def quick_test(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    form = QuickTestForm(
        request.POST or None,
        request.FILES or None,
        project=project,
        initial={"iteration": request.GET.get("iteration")},
    )
    result, preview, start = None, "", 0
    boxes: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # A detector's Quick Test detects (Azure's portal does too): boxes over the photo.
        detection = data["iteration"].is_detection
        predict = services.prediction_detect if detection else services.prediction_classify
        try:
            result = predict(
                iteration=data["iteration"],
                data=data["image"].read() if data["image"] else None,
                url=data["url"] or "",
                store=data["store"],
                application="Quick Test",
                max_bytes=settings.CV_MAX_IMAGE_BYTES,
                preview=True,
                keep_now=True,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            preview = "data:image/jpeg;base64," + base64.b64encode(result.thumbnail).decode()
            if detection:
                boxes, start = selectors.photo_boxes(result.predictions)
    return render_form(
        request,
        "prediction/quick_test.html",
        {
            "project": project,
            "form": form,
            "result": result,
            "preview": preview,
            "boxes": boxes,
            "box_threshold": start,
            "has_iterations": form.fields["iteration"].queryset.exists(),  # type: ignore[attr-defined]
            "tab": "quicktest",
        },
    )


@login_required
@require_GET
def predictions(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    form = PredictionFilterForm(request.GET or None, project=project)
    filters: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    found = selectors.prediction_list(
        project, iteration_id=filters["iteration"].id if filters.get("iteration") else None
    )
    ranges = []
    tag = filters.get("tag")
    if tag is not None:
        low, high = filters.get("minimum"), filters.get("maximum")
        ranges.append(
            selectors.TagRange(
                str(tag.id),
                (low if low is not None else 0) / 100,
                (high if high is not None else 100) / 100,
            )
        )
    page = selectors.prediction_page(
        found,
        ranges,
        size=PREDICTIONS_PER_PAGE,
        after=cursor_parse(request.GET.get("after")),
        before=cursor_parse(request.GET.get("before")),
    )
    query = request.GET.copy()
    for position in ("after", "before"):
        query.pop(position, None)
    return render_form(
        request,
        "prediction/predictions.html",
        {
            "project": project,
            "form": form,
            "items": [_item(p, tag, project.is_detection) for p in page.items],
            "box_threshold": round(selectors.BOX_THRESHOLD * 100),
            "page": page,
            "filter_query": query.urlencode(),
            "tab": "predictions",
        },
    )


def _item(prediction: Any, tag: Any, detection: bool) -> dict[str, Any]:
    """A grid tile: the tag filtered on (with its probability) or the model's top answer, and
    a detection's boxes (those of the tag filtered on)."""
    shown = prediction.predictions[0] if prediction.predictions else None
    found = prediction.predictions
    if tag is not None:
        shown = next((p for p in prediction.predictions if p["tagId"] == str(tag.id)), shown)
        found = [p for p in found if p["tagId"] == str(tag.id)]
    boxes = selectors.drawn_boxes(found) if detection else []
    return {"prediction": prediction, "shown": shown, "boxes": boxes}


@login_required
@require_http_methods(["GET", "POST"])
def prediction_detail(
    request: AuthedRequest, project_id: uuid.UUID, prediction_id: uuid.UUID
) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    stored = selectors.prediction_get_for_project(project, prediction_id)
    back = safe_next(request, reverse("prediction:list", args=[project.id]))
    # Pre-ticked: what the model said at 50 % or more, as Custom Vision's portal does.
    likely = [p["tagId"] for p in stored.predictions if p["probability"] >= 0.5]
    form = ImageTagsForm(request.POST or None, project=project, initial={"tags": likely})
    if request.method == "POST" and form.is_valid():
        message = _promote(project, stored, form)
        if message is None:
            messages.success(request, "The image was moved into the training images.")
            return redirect(back)
        form.add_error(None, message)
    context = {"project": project, "stored": stored, "form": form, "back": back}
    if project.is_detection:
        context |= _correction_context(project, stored)
    return render_form(
        request, "prediction/prediction_detail.html", context | {"tab": "predictions"}
    )


def _promote(project: Project, stored: Any, form: ImageTagsForm) -> str | None:
    """Move the stored prediction's image into the training images with the ticked tags and
    the typed New tag (created when new); the refusal's message, or None. One transaction:
    a refused move leaves no new tag behind."""
    with transaction.atomic():
        try:
            tags = project_services.tags_with_typed(
                project=project,
                chosen=form.cleaned_data["tags"],
                typed=form.cleaned_data["new_tag"],
                one_only=project.is_multiclass,
            )
        except ValidationError as exc:
            return " ".join(exc.messages)
        [result] = services.predictions_to_images(
            project=project, entries=[(stored.id, [t.id for t in tags])]
        )
        if result.status.ok:
            return None
        transaction.set_rollback(True)
        return result.message


def _correction_context(project: Any, stored: Any) -> dict[str, Any]:
    """A stored detection's boxes drawn, and the region editor that corrects them: it starts
    from the boxes the slider shows at first, and saves into the training images."""
    boxes, start = selectors.photo_boxes(stored.predictions)
    tags = tags_json(tag_list(project=project))
    live = {t["id"] for t in tags}
    regions = [
        {k: p["boundingBox"][k] for k in ("left", "top", "width", "height")}
        | {"tag_id": p["tagId"] if p["tagId"] in live else None, "tag_name": p["tagName"]}
        for p in stored.predictions
        if p.get("boundingBox") and p["probability"] >= start / 100
    ]
    return {
        "boxes": boxes,
        "box_threshold": start,
        "regions": regions,
        "tags": tags,
        "save_url": reverse("prediction:save_regions", args=[project.id, stored.id]),
        "image_url": reverse("prediction:file", args=[project.id, stored.id]),
    }


@login_required
@require_POST
def prediction_save_regions(
    request: AuthedRequest, project_id: uuid.UUID, prediction_id: uuid.UUID
) -> JsonResponse:
    """The region editor's "Save to training images" (JSON, as every editor save URL)."""
    project = project_get_for_user(request.user, project_id)
    stored = selectors.prediction_get_for_project(project, prediction_id)
    try:
        entries = portal_regions(editor_body(request.body))
        image = services.prediction_regions_save(
            project=project, prediction_id=stored.id, entries=entries
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    messages.success(request, "The image was saved to the training images with its boxes.")
    return JsonResponse(
        {
            "regions": regions_json(image.regions.select_related("tag")),
            "tags": tags_json(tag_list(project=project)),
            "redirect": reverse("projects:image", args=[project.id, image.id]),
        }
    )


@login_required
@require_POST
def prediction_delete(
    request: AuthedRequest, project_id: uuid.UUID, prediction_id: uuid.UUID
) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    stored = selectors.prediction_get_for_project(project, prediction_id)
    services.predictions_delete(project=project, ids=[stored.id])
    messages.success(request, "The prediction was deleted.")
    return redirect(safe_next(request, reverse("prediction:list", args=[project.id])))


@login_required
@require_GET
def prediction_file(
    request: AuthedRequest, project_id: uuid.UUID, prediction_id: uuid.UUID, size: str
) -> FileResponse:
    project = project_get_for_user(request.user, project_id)
    stored = selectors.prediction_get_for_project(project, prediction_id)
    if size == "thumbnail":
        return serve_stored_file(services.prediction_thumbnail_name(stored))
    return serve_stored_file(str(stored.file.name))


@login_required
@require_http_methods(["GET", "POST"])
def suggested(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    """Suggested tags: the latest iteration over the untagged images, most uncertain first
    (the ones a person's look helps most), filtered by suggested tag, confirmed in bulk."""
    project = project_get_for_user(request.user, project_id)
    try:
        iteration = selectors.quick_test_iteration(project, request.GET.get("iteration") or None)
    except ValidationError:
        iteration = None
    if project.is_detection:
        return _suggested_objects(request, project, iteration)
    if request.method == "POST":
        pairs = []
        for value in request.POST.getlist("confirm"):
            image_id, _sep, tag_id = value.partition(":")
            try:
                pairs.append((uuid.UUID(image_id), uuid.UUID(tag_id)))
            except ValueError:
                continue
        try:
            changed = services.suggestions_confirm(
                project=project, pairs=pairs, iteration=iteration
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Tagged {changed:,} image{'s' if changed != 1 else ''}.")
        return redirect(request.get_full_path())
    tag_id = request.GET.get("tag") or ""
    rows, pending = [], 0
    if iteration is not None:
        found, pending = services.suggested_untagged(
            project=project, iteration=iteration, tag_ids=[tag_id] if tag_id else [], threshold=0.5
        )
        rows = [
            {"suggestion": s, "top": _suggested(s.predictions, tag_id), "image": s.image}
            for s in found[:200]
        ]
    return render(
        request,
        "prediction/suggested.html",
        {
            "project": project,
            "iteration": iteration,
            "rows": rows,
            "tags": iteration.tags if iteration else [],
            "tag_id": tag_id,
            "pending": pending,
            "tab": "images",
        },
    )


def _suggested(predictions: list[dict[str, Any]], tag_id: str) -> dict[str, Any]:
    """The suggestion a tile offers: the tag filtered on (in a Multilabel project it need not be
    the model's top answer, and confirming must give the tag the user filtered for), else the top.
    """
    return next((p for p in predictions if p["tagId"] == tag_id), predictions[0])


SUGGESTED_OBJECTS_SHOWN = 200


def _suggested_objects(
    request: AuthedRequest, project: Project, iteration: Iteration | None
) -> HttpResponse:
    """Suggested objects: a detector's boxes over the untagged images as drafts, the most
    uncertain images first; Accept makes the drafts regions, Discard drops them, per image
    (a tile's button) or for the ticked images; "Correct" opens the image in the editor."""
    if request.method == "POST":
        one = request.POST.get("one", "")
        action, _sep, picked = one.partition(":")
        ids = [picked] if one else request.POST.getlist("image")
        action = action if one else request.POST.get("action", "")
        if iteration is None or action not in ("accept", "discard"):
            messages.error(request, "Choose Accept or Discard, for a trained iteration's drafts.")
        else:
            _suggested_apply(request, project, iteration, action, _uuids(ids))
        return redirect(request.get_full_path())
    rows, pending = [], 0
    if iteration is not None:
        found, pending = services.suggested_objects(project=project, iteration=iteration)
        rows = [{"suggestion": s, "drafts": d} for s, d in found[:SUGGESTED_OBJECTS_SHOWN]]
    return render(
        request,
        "prediction/suggested.html",
        {
            "project": project,
            "iteration": iteration,
            "iterations": selectors.completed_iterations(project),
            "rows": rows,
            "pending": pending,
            "back": request.get_full_path(),
            "tab": "images",
        },
    )


def _uuids(values: list[str]) -> list[uuid.UUID]:
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids


def _suggested_apply(
    request: AuthedRequest,
    project: Project,
    iteration: Iteration,
    action: str,
    image_ids: list[uuid.UUID],
) -> None:
    if not image_ids:
        messages.error(request, "Select at least one image.")
        return
    if action == "accept":
        n = services.suggestions_accept(project=project, iteration=iteration, image_ids=image_ids)
        messages.success(request, f"Accepted the suggested objects of {n:,} image{_s(n)}.")
    else:
        n = services.suggestions_discard(project=project, iteration=iteration, image_ids=image_ids)
        messages.success(request, f"Discarded the suggested objects of {n:,} image{_s(n)}.")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


@login_required
@require_GET
def image_suggestion(
    request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID
) -> JsonResponse:
    """An image's drafts from an iteration (?iteration=, else the latest trained), for the
    image page's editor: {"drafts": [{tag_id, tag_name, probability, left, top, width,
    height}]}."""
    project = project_get_for_user(request.user, project_id)
    image = image_get_for_project(project, image_id)
    if not project.is_detection:
        return JsonResponse(
            {"error": "Suggested objects are for Object Detection projects."}, status=400
        )
    try:
        iteration = selectors.quick_test_iteration(project, request.GET.get("iteration") or None)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    drafts = services.image_suggestion_drafts(iteration=iteration, image=image)
    keys = ("tag_id", "tag_name", "probability", "left", "top", "width", "height")
    return JsonResponse({"drafts": [{k: d[k] for k in keys} for d in drafts]})
