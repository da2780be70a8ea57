"""Train, follow progress, read performance, manage iterations."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects.selectors import project_get_for_user
from projects.views import AuthedRequest
from training import selectors, services
from training.forms import RenameForm, TrainForm


@login_required
@require_http_methods(["GET", "POST"])
def train(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    form = TrainForm(request.POST or None, project=project)
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
        else:
            return redirect("training:performance", project.id, iteration.id)
    return render(
        request,
        "training/train.html",
        {
            "project": project,
            "form": form,
            "tab": "performance",
        },
        status=400 if form.errors else 200,
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
    return render(
        request,
        "training/performance.html",
        {
            "project": project,
            "iterations": iterations,
            "iteration": iteration,
            "numbers": selectors.iteration_performance(iteration) if iteration else None,
            "kept_images": services.removed_images_kept(iteration) if iteration else 0,
            "tab": "performance",
        },
    )


@login_required
@require_GET
def status(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> JsonResponse:
    project = project_get_for_user(request.user, project_id)
    iteration = selectors.iteration_get_for_project(project, iteration_id)
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
    project = project_get_for_user(request.user, project_id)
    iteration = selectors.iteration_get_for_project(project, iteration_id)
    services.iteration_cancel(iteration=iteration)
    messages.info(request, f"{iteration.name}: training cancelled.")
    return redirect("training:performance", project.id, iteration.id)


@login_required
@require_POST
def rename(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    iteration = selectors.iteration_get_for_project(project, iteration_id)
    form = RenameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Give the iteration a name.")
        services.iteration_rename(iteration=iteration, name=form.cleaned_data["name"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("training:performance", project.id, iteration.id)


@login_required
@require_POST
def delete(request: AuthedRequest, project_id: uuid.UUID, iteration_id: uuid.UUID) -> HttpResponse:
    project = project_get_for_user(request.user, project_id)
    iteration = selectors.iteration_get_for_project(project, iteration_id)
    try:
        purged = services.iteration_delete(iteration=iteration)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("training:performance", project.id, iteration.id)
    extra = f" and {purged} image(s) only it still kept" if purged else ""
    messages.success(request, f"Deleted {iteration.name}{extra}.")
    return redirect("training:performance_latest", project.id)
