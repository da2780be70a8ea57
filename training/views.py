"""Train, follow progress, read performance, manage iterations."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import storage
from core.http import AuthedRequest
from core.text import counted
from projects import new_keys
from projects import services as project_services
from projects.models import Project, Resource
from projects.selectors import project_get_for_user
from training import exporting, selectors, services
from training.forms import PublishForm, RenameForm, TrainForm
from training.models import Export, Iteration

# The Performance page shows this many of the images the model got wrong, so it stays light
# with thousands of images; the confusion matrix's cells (or the error counts) lead to the rest.
MISTAKES_SHOWN = 48
ERROR_KINDS = {
    "false-positives": "Predicted {} but not tagged so",
    "false-negatives": "Tagged {} but not predicted",
}


@login_required
@require_http_methods(["GET", "POST"])
def train(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    form = TrainForm(request.POST or None, project=project)
    unavailable = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            iteration = services.iteration_train_start(
                project=project,
                training_type=data["training_type"],
                reserved_budget_hours=data["reserved_budget_hours"] or 0,
                force=data["force"],
                selected_tag_ids=data["tags"] or None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.TrainingUnavailable as exc:
            form.add_error(None, str(exc))
            unavailable = True
        else:
            return _back_to(iteration)
    return render(
        request,
        "training/train.html",
        {
            "project": project,
            "form": form,
            "tab": "train",
        },
        status=503 if unavailable else 400 if form.errors else 200,
    )


@login_required
@require_GET
def performance(
    request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID | None = None
) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    iterations = list(selectors.iteration_list(project=project))
    if iteration_id is None and iterations:
        return redirect("training:performance", project.id, iterations[0].id)
    iteration = selectors.iteration_get_for_project(project, iteration_id) if iteration_id else None
    context = {"project": project, "iterations": iterations, "iteration": iteration}
    if iteration is not None:
        context |= {
            "numbers": selectors.iteration_performance(iteration),
            "kept_images": services.removed_images_kept(iteration),
            "publish_form": PublishForm(
                owner=request.user,
                initial={"publish_name": "".join(iteration.name.split())},
                # Free: New Project's "-Prediction" twin usually has the plain name already.
                suggested_name=project_services.free_resource_name(
                    request.user, f"{project.resource.name}-Prediction"[:60]
                ),
            ),
            "prediction_urls": selectors.prediction_urls(
                iteration=iteration, base_url=request.build_absolute_uri("/")
            ),
            "exports": _exports_shown(iteration),
            "export_choices": [
                (f"{p}|{f}", label, exporting.export_help(p, f, h, detection=project.is_detection))
                for p, f, label, h in EXPORT_CHOICES
            ],
        }
    if iteration is not None and iteration.metrics and iteration.is_detection:
        context |= _detection_context(request, iteration)
    elif iteration is not None and iteration.metrics:
        outcomes = selectors.iteration_outcomes(iteration)
        wrong = selectors.mistakes(outcomes)
        context |= {
            "threshold_table": selectors.iteration_threshold_table(iteration),
            "curves": selectors.pr_curves(iteration),
            "confusion": selectors.confusion_matrix(iteration, outcomes),
            "tag_errors": selectors.tag_errors(iteration, outcomes),
            "mistakes": wrong[:MISTAKES_SHOWN],
            "mistake_count": len(wrong),
        }
    return render(request, "training/performance.html", context | {"tab": "performance"})


def _percent_param(request: HttpRequest, name: str, default: float) -> int:
    """A slider's value from the query (whole percents, 0–100; the no-JS form sends it)."""
    try:
        value = int(request.GET.get(name, ""))
    except ValueError:
        return round(default * 100)
    return min(100, max(0, value))


def _detection_context(request: HttpRequest, iteration: Iteration) -> dict[str, Any]:
    """A detector's Performance figures at the sliders' positions (Azure's portal opens at
    50 % and 30 %), what the browser recomputes them from, and its images drawn."""
    threshold = _percent_param(request, "threshold", selectors.PORTAL_THRESHOLD)
    overlap = _percent_param(request, "overlap", selectors.PORTAL_OVERLAP)
    numbers = selectors.iteration_detection_performance(iteration, threshold / 100, overlap / 100)
    if numbers is None:
        return {}
    data = selectors.detection_page_data(iteration)
    for tag, count in zip(numbers["tags"], selectors.detection_box_counts(data), strict=True):
        tag["box_count"] = count
    drawn = selectors.detection_mistakes(iteration, threshold / 100, overlap / 100)
    return {
        "numbers": numbers,
        "threshold_percent": threshold,
        "overlap_percent": overlap,
        "detection_data": data,
        # The images with the most mistakes here; the sliders show or hide these.
        "drawn": drawn[:MISTAKES_SHOWN],
        "mistake_count": sum(1 for d in drawn if d.count),
        "image_count": len(drawn),
    }


@login_required
@require_GET
def status(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> JsonResponse:
    iteration = _iteration(request, project_id, iteration_id)
    return JsonResponse(
        {
            "status": iteration.status,
            "progress": iteration.progress,
            "phase": iteration.phase,
            "error": iteration.error,
        }
    )


@login_required
@require_POST
def cancel(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, project_id, iteration_id)
    services.iteration_cancel(iteration=iteration)
    messages.info(request, f"{iteration.name}: training cancelled.")
    return _back_to(iteration)


@login_required
@require_POST
def rename(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, project_id, iteration_id)
    form = RenameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Give the iteration a name.")
        services.iteration_rename(iteration=iteration, name=form.cleaned_data["name"])
    except ValidationError as exc:
        return _refused(request, iteration, exc)
    return _back_to(iteration)


@login_required
@require_POST
def delete(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, project_id, iteration_id)
    try:
        purged = services.iteration_delete(iteration=iteration)
    except ValidationError as exc:
        return _refused(request, iteration, exc)
    extra = f" and {counted(purged, 'image')} only it still kept" if purged else ""
    messages.success(request, f"Deleted {iteration.name}{extra}.")
    return redirect("training:performance_latest", iteration.project_id)


@login_required
@require_POST
def publish(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, project_id, iteration_id)
    form = PublishForm(request.POST, owner=request.user)
    created = []
    try:
        if not form.is_valid():
            raise ValidationError([e for errors in form.errors.values() for e in errors])
        with transaction.atomic():
            target = form.cleaned_data["prediction_resource"]
            if target is None:  # made in place, as Azure's publish dialog offers
                created = [
                    project_services.resource_create(
                        owner=request.user,
                        name=form.cleaned_data["new_resource_name"],
                        kind=Resource.Kind.PREDICTION,
                    )
                ]
                target = created[0][0]
            services.iteration_publish(
                iteration=iteration,
                publish_name=form.cleaned_data["publish_name"],
                prediction_resource=target,
            )
    except ValidationError as exc:
        return _refused(request, iteration, exc, "Not published: ")
    new_keys.remember(request, created)
    messages.success(request, f"Published {iteration.name} as {iteration.publish_name!r}.")
    return _back_to(iteration)


# What the Export dialog offers: (platform, flavor, label, help), Azure's names.
EXPORT_CHOICES = [
    ("ONNX", "", "ONNX", "Windows ML, ONNX Runtime on any OS, Microsoft's sample scripts."),
    ("ONNX", "OnnxFloat16", "ONNX (float16)", "Half the size, for GPUs and NPUs."),
    ("DockerFile", "Linux", "Dockerfile (Linux)", "A container serving /image and /url."),
    ("DockerFile", "ARM", "Dockerfile (ARM)", "The same container built on ARM boards."),
]
_EXPORT_LABELS = {(p, f): label for p, f, label, _ in EXPORT_CHOICES}


def _exports_shown(iteration: Iteration) -> list[dict[str, Any]]:
    return [
        {
            "export": e,
            "label": _EXPORT_LABELS.get((e.platform, e.flavor), f"{e.platform} {e.flavor}"),
            "download": exporting.download_path(e) if e.status == Export.Status.DONE else None,
        }
        for e in exporting.export_list(iteration=iteration)
    ]


@login_required
@require_POST
def export(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, project_id, iteration_id)
    platform, _, flavor = request.POST.get("target", "").partition("|")
    try:
        exporting.export_start(iteration=iteration, platform=platform, flavor=flavor)
    except ValidationError as exc:
        return _refused(request, iteration, exc, "Not exported: ")
    label = _EXPORT_LABELS.get((platform, flavor), platform)
    messages.success(
        request, f"Exporting {iteration.name} to {label}: its download appears under Exports."
    )
    return redirect(
        reverse("training:performance", args=[iteration.project_id, iteration.id]) + "#exports"
    )


@require_GET
def export_download(request: HttpRequest, token: str, name: str) -> HttpResponseBase:
    """A signed, expiring link to an export's zip (Azure's downloadUri): no sign-in, no key,
    as a link handed to a device or a build script must work."""
    try:
        found = exporting.export_for_link(token)
    except ValidationError as exc:
        status = 404 if exc.code == "invalid" else 410
        return HttpResponse(exc.messages[0], status=status, content_type="text/plain")
    return FileResponse(
        storage.open_file(str(found.file.name)),
        as_attachment=True,
        filename=exporting.download_name(found),
        content_type="application/zip",
    )


@login_required
@require_POST
def unpublish(
    request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> HttpResponse:
    iteration = _iteration(request, project_id, iteration_id)
    if iteration.is_published:
        services.iteration_unpublish(iteration=iteration)
        messages.success(request, f"Unpublished {iteration.name}: its prediction URL is gone.")
    else:
        messages.info(request, f"{iteration.name} is not published.")
    return _back_to(iteration)


@login_required
@require_GET
def confusion_cell(
    request: AuthedRequest,
    project_id: uuid.UUID,
    iteration_id: uuid.UUID,
    true_tag_id: uuid.UUID,
    predicted_tag_id: uuid.UUID,
) -> HttpResponse:
    """The images behind one cell of a multiclass confusion matrix."""
    iteration = _completed_iteration(request, project_id, iteration_id)
    if iteration.classification_type != Project.ClassificationType.MULTICLASS:
        raise Http404("A multilabel iteration has no confusion matrix.")
    true_tag = selectors.iteration_tag_or_404(iteration, true_tag_id)
    predicted_tag = selectors.iteration_tag_or_404(iteration, predicted_tag_id)
    outcomes = selectors.outcomes_in_cell(
        selectors.iteration_outcomes(iteration),
        true_tag_id=true_tag["id"],
        predicted_tag_id=predicted_tag["id"],
    )
    return _images_page(
        request,
        iteration,
        outcomes,
        title=f"Tagged {true_tag['name']}, predicted {predicted_tag['name']}",
    )


@login_required
@require_GET
def tag_errors(
    request: AuthedRequest,
    project_id: uuid.UUID,
    iteration_id: uuid.UUID,
    tag_id: uuid.UUID,
    kind: str,
) -> HttpResponse:
    """The false positives or the false negatives of one tag."""
    iteration = _completed_iteration(request, project_id, iteration_id)
    if kind not in ERROR_KINDS:
        raise Http404("Ask for false-positives or false-negatives.")
    tag = selectors.iteration_tag_or_404(iteration, tag_id)
    outcomes = selectors.outcomes_with_error(
        selectors.iteration_outcomes(iteration),
        tag_id=tag["id"],
        false_positive=kind == "false-positives",
    )
    return _images_page(request, iteration, outcomes, title=ERROR_KINDS[kind].format(tag["name"]))


def _iteration(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> Iteration:
    """The iteration of one of the user's projects; 404 for anyone else's."""
    return selectors.iteration_get_for_user(request.user, project_id, iteration_id)


def _back_to(iteration: Iteration) -> HttpResponse:
    return redirect("training:performance", iteration.project_id, iteration.id)


def _refused(
    request: AuthedRequest, iteration: Iteration, exc: ValidationError, prefix: str = ""
) -> HttpResponse:
    """Back to the iteration's Performance page, saying why the action was not done."""
    messages.error(request, prefix + " ".join(exc.messages))
    return _back_to(iteration)


def _completed_iteration(
    request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Iteration:
    iteration = _iteration(request, project_id, iteration_id)
    if not iteration.is_completed:
        raise Http404("The iteration has not finished training.")
    return iteration


def _images_page(
    request: AuthedRequest,
    iteration: Iteration,
    outcomes: list[selectors.ImageOutcome],
    *,
    title: str,
) -> HttpResponse:
    page = Paginator(outcomes, 60).get_page(request.GET.get("page"))
    return render(
        request,
        "training/iteration_images.html",
        {
            "project": iteration.project,
            "iteration": iteration,
            "title": title,
            "page": page,
            "tab": "performance",
        },
    )
