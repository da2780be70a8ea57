"""The Projects page's "Load sample project" button."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.http import AuthedRequest
from projects import new_keys, selectors, services
from projects.models import Resource


@login_required
@require_POST
def sample_load(request: AuthedRequest) -> HttpResponseRedirect:
    created = []
    try:
        with transaction.atomic():
            resource = selectors.resource_list(
                user=request.user, kind=Resource.Kind.TRAINING
            ).first()
            if resource is None:
                # A first-time user's first resources: made here so their keys are shown once,
                # as after New Project, rather than made silently by the loader.
                created = services.resources_create_both(
                    owner=request.user, name=services.default_resource_name(request.user)
                )
                resource = created[0][0]
            project = services.sample_project_load(owner=request.user, resource=resource)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("projects:list")
    new_keys.remember(request, created)
    count = selectors.active_images(project).count()
    messages.success(
        request,
        f"Loaded the sample project {project.name}: {count} tagged photos. Press Train when ready.",
    )
    return redirect(reverse("projects:images", args=[project.id]))
