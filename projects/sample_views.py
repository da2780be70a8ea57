"""The empty Projects page's "Load sample project" button."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from projects import selectors, services
from projects.views import AuthedRequest


@login_required
@require_POST
def sample_load(request: AuthedRequest) -> HttpResponseRedirect:
    try:
        project = services.sample_project_load(owner=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("projects:list")
    count = selectors.active_images(project).count()
    messages.success(
        request,
        f"Loaded the sample project {project.name}: {count} tagged photos. Press Train when ready.",
    )
    return redirect(reverse("projects:images", args=[project.id]))
