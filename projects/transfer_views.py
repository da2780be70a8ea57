"""Project export (a zip download from Settings) and import (from the project list): a small
archive is imported in the request, a large one by a worker, with a page that follows it."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from core.http import AuthedRequest, render_form
from projects import selectors
from projects.forms import resources_offered
from projects.models import ArchiveImport, Resource
from projects.services import archive_import, transfer


class ImportForm(forms.Form):
    archive = forms.FileField(label="Project export (.zip)")
    resource = forms.ModelChoiceField(queryset=Resource.objects.none(), empty_label=None)
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave empty to keep the exported name."
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        resources_offered(self, "resource", user=user, kind=Resource.Kind.TRAINING)


@login_required
@require_GET
def project_export(request: AuthedRequest, project_id: uuid.UUID) -> FileResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    archive = transfer.project_export(project)
    name = f"{slugify(project.name) or 'project'}-export.zip"
    return FileResponse(archive, as_attachment=True, filename=name, content_type="application/zip")


@login_required
@require_http_methods(["GET", "POST"])
def project_import(request: AuthedRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            started = archive_import.archive_import_start(
                owner=request.user,
                resource=data["resource"],
                archive=data["archive"],
                name=data["name"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if isinstance(started, ArchiveImport):
                return redirect("projects:archive_import_job", started.id)
            _report(request, started)
            return redirect("projects:images", started.project.id)
    running = selectors.archive_import_active(request.user)
    return render_form(request, "projects/import.html", {"form": form, "running": running})


def _report(request: AuthedRequest, report: transfer.ImportReport) -> None:
    duplicates = (
        f" ({report.images_duplicate:,} duplicates kept once)" if report.images_duplicate else ""
    )
    messages.success(request, f"Imported {report.images_ok:,} images{duplicates}.")
    for name, reason in report.images_failed[:20]:
        messages.warning(request, f"{name}: {reason}")


@login_required
@require_GET
def archive_import_job(request: AuthedRequest, job_id: uuid.UUID) -> HttpResponse:
    jobs = ArchiveImport.objects.filter(owner_id=request.user.pk)
    job = selectors.one_or_404(jobs, job_id, "No such import.")
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(job.progress())
    return render(request, "projects/archive_import_job.html", {"job": job, **job.progress()})
