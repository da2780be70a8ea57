"""Publishing an iteration to a prediction resource, and taking it back."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.codes import AzureCode
from projects.models import Resource
from training.models import Iteration


def prediction_resource_for(*, owner: Any, prediction_id: str) -> Resource:
    """One of the owner's prediction resources, by id or by an Azure resource path ending in
    its name ("/subscriptions/…/providers/Microsoft.CognitiveServices/accounts/NAME")."""
    value = (prediction_id or "").strip().rstrip("/")
    resources = Resource.objects.filter(owner=owner, kind=Resource.Kind.PREDICTION)
    try:
        found = resources.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        found = resources.filter(name__iexact=value.rsplit("/", 1)[-1]).first()
    if found is None:
        raise ValidationError(
            "predictionId must be one of your prediction resources: its id, or an Azure "
            "resource path ending in its name.",
            code=AzureCode.BAD_REQUEST_INVALID_PUBLISH_TARGET,
        )
    return found


@transaction.atomic
def iteration_publish(
    *,
    iteration: Iteration,
    publish_name: str,
    prediction_resource: Resource,
    overwrite: bool = False,
) -> Iteration:
    iteration.refresh_from_db()
    if not iteration.is_completed:
        raise ValidationError(
            "Only a completed iteration can be published.",
            code=AzureCode.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
        )
    name = " ".join((publish_name or "").split())
    if not name:
        raise ValidationError(
            "Give the published iteration a name.", code=AzureCode.BAD_REQUEST_INVALID_PUBLISH_NAME
        )
    # The name is a path segment of the prediction URL, and Django decodes %2F before routing:
    # a name with a slash could be published but never called.
    if "/" in name or "\x00" in name or len(name) > 200:
        raise ValidationError(
            "A published name can't contain / (it is part of the prediction URL) or a NUL "
            "character, and is at most 200 characters.",
            code=AzureCode.BAD_REQUEST_INVALID_PUBLISH_NAME,
        )
    if (
        prediction_resource.kind != Resource.Kind.PREDICTION
        or prediction_resource.owner_id != iteration.project.owner_id
    ):
        raise ValidationError(
            "Choose one of your prediction resources.",
            code=AzureCode.BAD_REQUEST_INVALID_PUBLISH_TARGET,
        )
    clash = (
        Iteration.objects.filter(project=iteration.project_id, publish_name=name)
        .exclude(pk=iteration.pk)
        .first()
    )
    if clash is not None:
        if not overwrite:
            raise ValidationError(
                f"{clash.name} is already published as {name!r}.",
                code=AzureCode.BAD_REQUEST_PUBLISH_NAME_NOT_UNIQUE,
            )
        iteration_unpublish(iteration=clash)
    iteration.publish_name = name
    iteration.prediction_resource = prediction_resource
    iteration.published_at = timezone.now()
    iteration.save(update_fields=["publish_name", "prediction_resource", "published_at"])
    return iteration


def iteration_unpublish(*, iteration: Iteration) -> Iteration:
    iteration.publish_name = ""
    iteration.prediction_resource = None
    iteration.published_at = None
    iteration.save(update_fields=["publish_name", "prediction_resource", "published_at"])
    return iteration
