"""The portal's "Import from Azure Custom Vision" pages: endpoint and key → the account's
projects with their image counts → pick → a job with a progress bar and a summary."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from portal.http import AuthedRequest
from projects.azure import secrets
from projects.forms import AzureProjectsForm, AzureSourceForm
from projects.models import AzureImport
from projects.services import azure_import

# The account being imported while the user picks its projects: the endpoint, the listing and
# the key (encrypted, as on the job).
SESSION_KEY = "cv_azure_source"


@login_required
@require_http_methods(["GET", "POST"])
def azure_import_page(request: AuthedRequest) -> HttpResponse:
    source = request.session.get(SESSION_KEY)
    step = request.POST.get("step") if request.method == "POST" else None
    form = AzureSourceForm(request.POST if step == "list" else None)
    picker = None
    if step == "list" and form.is_valid():
        endpoint, key = form.cleaned_data["endpoint"], form.cleaned_data["key"]
        try:
            listed = azure_import.azure_projects_list(endpoint=endpoint, key=key)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            source = {"endpoint": endpoint, "key": secrets.encrypt(key), "projects": listed}
            request.session[SESSION_KEY] = source
    elif step == "import" and source:
        picker = AzureProjectsForm(request.POST, listed=source["projects"])
        if picker.is_valid():
            try:
                job = azure_import.azure_import_start(
                    owner=request.user,
                    endpoint=source["endpoint"],
                    key=secrets.decrypt(source["key"]),
                    project_ids=picker.cleaned_data["projects"],
                )
            except (ValidationError, ValueError) as exc:
                messages.error(request, "Not started: " + "; ".join(_messages(exc)))
            else:
                del request.session[SESSION_KEY]
                return redirect("projects:azure_import_job", job.id)
    if source and picker is None:
        picker = AzureProjectsForm(listed=source["projects"])
    return render(
        request,
        "projects/azure_import.html",
        {
            "form": form,
            "source": source,
            "picker": picker,
            "jobs": AzureImport.objects.filter(owner=request.user)[:10],
        },
        status=400 if form.errors or (picker is not None and picker.errors) else 200,
    )


def _messages(exc: Exception) -> list[str]:
    return list(exc.messages) if isinstance(exc, ValidationError) else [str(exc)]


def _job(request: AuthedRequest, job_id: uuid.UUID) -> AzureImport:
    job = AzureImport.objects.filter(pk=job_id, owner=request.user).first()
    if job is None:
        raise Http404("No such import.")
    return job


@login_required
@require_GET
def azure_import_job(request: AuthedRequest, job_id: uuid.UUID) -> HttpResponse:
    job = _job(request, job_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(job.progress())
    return render(request, "projects/azure_import_job.html", {"job": job, **job.progress()})
