"""Project export (a zip download from Settings) and import (from the project list)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from portal.http import AuthedRequest
from projects import selectors
from projects.models import Resource
from projects.services import transfer


class ImportForm(forms.Form):
    archive = forms.FileField(label="Project export (.zip)")
    resource = forms.ModelChoiceField(queryset=Resource.objects.none(), empty_label=None)
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave empty to keep the exported name."
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["resource"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Resource.objects.filter(owner=user, kind=Resource.Kind.TRAINING)


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
            report = transfer.project_import(
                owner=request.user,
                resource=data["resource"],
                archive=data["archive"],
                name=data["name"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            duplicates = (
                f" ({report.images_duplicate:,} duplicates kept once)"
                if report.images_duplicate
                else ""
            )
            messages.success(request, f"Imported {report.images_ok:,} images{duplicates}.")
            for name, reason in report.images_failed[:20]:
                messages.warning(request, f"{name}: {reason}")
            return redirect("projects:images", report.project.id)
    return render(
        request, "projects/import.html", {"form": form}, status=400 if form.errors else 200
    )
