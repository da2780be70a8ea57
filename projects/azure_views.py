"""The portal's "Import from Azure Custom Vision" pages: endpoint and key → a worker lists the
account's projects with their image counts (the page polls) → pick → a job with a progress bar
and a summary."""

from __future__ import annotations

import csv
import itertools
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.http import AuthedRequest
from projects import selectors
from projects.forms import AzureProjectsForm, AzureSourceForm
from projects.models import AzureImport, AzureListing
from projects.services import azure_listing

# The user's current listing (its id; the row holds the projects and the encrypted key).
SESSION_KEY = "cv_azure_listing"


@login_required
@require_http_methods(["GET", "POST"])
def azure_import_page(request: AuthedRequest) -> HttpResponse:
    step = request.POST.get("step") if request.method == "POST" else None
    if step == "list":
        return _list(request)
    listing = _current_listing(request)
    picker = None
    status = 200
    if step == "import":
        picker, status, job = _import(request, listing)
        if job is not None:
            request.session.pop(SESSION_KEY, None)
            return redirect("projects:azure_import_job", job.id)
    form = AzureSourceForm(initial={"endpoint": listing.endpoint} if listing else None)
    return _page(request, form, listing, picker, status)


def _import(
    request: AuthedRequest, listing: AzureListing | None
) -> tuple[AzureProjectsForm | None, int, AzureImport | None]:
    """Start the import the picker asks for: (the picker, the page's status, the job)."""
    if listing is None or listing.status != AzureListing.Status.COMPLETED:
        messages.error(request, "Not started: list the account's projects first.")
        return None, 400, None
    picker = AzureProjectsForm(request.POST, listed=listing.projects)
    if not picker.is_valid():
        return picker, 400, None
    shown = picker.cleaned_data["listing"]
    if shown is not None and shown != listing.id:
        messages.error(
            request,
            "Not started: the projects listed changed since that page was shown (another "
            "endpoint or key was listed). Pick again from the projects below.",
        )
        # Nothing ticked: the user looks at this account's projects before importing any.
        return AzureProjectsForm(initial={"projects": []}, listed=listing.projects), 409, None
    try:
        job = azure_listing.azure_import_start_from_listing(
            owner=request.user,
            listing_id=listing.id,
            project_ids=picker.cleaned_data["projects"],
            remove_missing=picker.cleaned_data["remove_missing"],
        )
    except (ValidationError, ValueError) as exc:
        messages.error(request, "Not started: " + "; ".join(_messages(exc)))
        return picker, 409, None
    return picker, 302, job


def _list(request: AuthedRequest) -> HttpResponse:
    # A new endpoint or key: the last listing is forgotten whatever happens next, so a failed
    # listing never leaves another endpoint's projects ready to import.
    request.session.pop(SESSION_KEY, None)
    form = AzureSourceForm(request.POST)
    if form.is_valid():
        try:
            listing = azure_listing.azure_listing_start(
                owner=request.user,
                endpoint=form.cleaned_data["endpoint"],
                key=form.cleaned_data["key"],
            )
        except ValidationError as exc:
            form.add_error("endpoint", exc)
        else:
            request.session[SESSION_KEY] = str(listing.id)
            return redirect("projects:azure_import")
    return _page(request, form, None, None, 400)


def _current_listing(request: AuthedRequest) -> AzureListing | None:
    """The user's listing, while it runs or is ready to pick from. A failed one is shown once
    and forgotten."""
    listing_id = request.session.get(SESSION_KEY)
    listing = (
        AzureListing.objects.filter(pk=listing_id, owner=request.user).first()
        if listing_id
        else None
    )
    if listing is None or listing.status == AzureListing.Status.FAILED:
        request.session.pop(SESSION_KEY, None)
    return listing


def _page(
    request: AuthedRequest,
    form: AzureSourceForm,
    listing: AzureListing | None,
    picker: AzureProjectsForm | None,
    status: int,
) -> HttpResponse:
    if listing is not None and listing.status == AzureListing.Status.COMPLETED and not picker:
        picker = AzureProjectsForm(listed=listing.projects)
    return render(
        request,
        "projects/azure_import.html",
        {
            "form": form,
            "listing": listing,
            "picker": picker,
            "picked": _picked(request, listing, picker),
            "jobs": AzureImport.objects.filter(owner=request.user)[:10],
        },
        status=status,
    )


def _picked(
    request: AuthedRequest, listing: AzureListing | None, picker: AzureProjectsForm | None
) -> set[str]:
    """The projects ticked on the page: all of a fresh listing's, else those the user sent."""
    if listing is None or picker is None:
        return set()
    if picker.is_bound:
        return set(request.POST.getlist("projects"))
    if "projects" in picker.initial:
        return set(picker.initial["projects"])
    return {str(p["id"]) for p in listing.projects}


@login_required
@require_GET
def azure_listing_state(request: AuthedRequest, listing_id: uuid.UUID) -> JsonResponse:
    """What the Import page polls while a worker lists the projects."""
    listings = AzureListing.objects.filter(owner_id=request.user.pk)
    listing = selectors.one_or_404(listings, listing_id, "No such listing.")
    return JsonResponse({"status": listing.status, "active": listing.active})


def _messages(exc: Exception) -> list[str]:
    return list(exc.messages) if isinstance(exc, ValidationError) else [str(exc)]


def _job(request: AuthedRequest, job_id: uuid.UUID) -> AzureImport:
    jobs = AzureImport.objects.filter(owner_id=request.user.pk)
    return selectors.one_or_404(jobs, job_id, "No such import.")


@login_required
@require_GET
def azure_import_job(request: AuthedRequest, job_id: uuid.UUID) -> HttpResponse:
    job = _job(request, job_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(job.progress())
    ids = selectors.azure_id_changes(job) if not job.is_active else None
    return render(
        request, "projects/azure_import_job.html", {"job": job, "ids": ids, **job.progress()}
    )


def _cell(text: str) -> str:
    # A name from the source opened in a spreadsheet must stay text, not run as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    """A file-like object whose writes come back: csv.writer rows, streamed."""

    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def azure_import_ids(request: AuthedRequest, job_id: uuid.UUID) -> StreamingHttpResponse:
    """The import's old → new id map as CSV: every project, tag and image it brought, with the
    id it has at the source and here."""
    job = _job(request, job_id)
    writer = csv.writer(_Echo())
    rows = (
        writer.writerow(
            [row.kind, _cell(row.name), row.source_id, row.local_id, "yes" if row.kept else "no"]
        )
        for row in selectors.azure_id_map(job)
    )
    header = writer.writerow(["kind", "name", "azure_id", "id_here", "kept"])
    response = StreamingHttpResponse(
        itertools.chain([header], rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="azure-import-{job.id}-ids.csv"'
    return response
