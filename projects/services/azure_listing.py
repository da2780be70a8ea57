"""The Import page's first step: an Azure account's projects with their image counts, listed
by a worker (`AzureListing`).

The remote may be slow, silent or hostile, so the listing never runs inside a web request: it
runs on the imports queue within CV_AZURE_LISTING_TIMEOUT_SECONDS in all, and the page polls
it. It is the user's own: only they see it, and an import starts from it only for them, with
its endpoint and key (kept encrypted on the row until then). A new listing forgets the last.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import jobs
from projects.azure import secrets
from projects.azure.client import AzureTrainingSource, SourceError, TimeLimitReached
from projects.models import AzureImport, AzureListing
from projects.services.azure_import import (
    DomainLookup,
    azure_import_start,
    endpoint_check,
    source_for,
    source_project_kind,
)
from projects.services.jobs import AZURE_LISTING

logger = logging.getLogger(__name__)

RETRIES = 2  # a listing has seconds, not hours: fewer, shorter waits
KEPT = timedelta(hours=2)  # a listing nobody imported from is forgotten (key and all)
MAX_PROJECTS = 1000  # Azure allows 100 per resource (S0)


def azure_listing_start(*, owner: User, endpoint: str, key: str) -> AzureListing:
    """Queue a listing of the account's projects with their image counts. The listing talks
    to a remote that may be slow or silent, so a worker does it within its own time budget;
    the page polls. The user's earlier listings are forgotten (a new endpoint or key)."""
    base = endpoint_check(endpoint)
    source_for(base, key)  # the key's shape
    try:
        with transaction.atomic():
            AzureListing.objects.filter(owner=owner).delete()
            listing = AzureListing.objects.create(
                owner=owner, endpoint=base, key_encrypted=secrets.encrypt(key.strip())
            )
    except IntegrityError:  # the same user's other request, at the same moment
        raise ValidationError("A listing is already starting: wait a moment.") from None
    transaction.on_commit(lambda: _enqueue_listing(listing))
    return listing


def _enqueue_listing(listing: AzureListing) -> None:
    from projects.tasks import list_azure

    jobs.enqueue(AZURE_LISTING, listing.id, list_azure)


def azure_listing_run(*, listing_id: uuid.UUID | str) -> AzureListing | None:
    """List a queued listing's projects (what the imports worker does). None when the user
    has forgotten it meanwhile."""
    claimed = jobs.claim(AZURE_LISTING, listing_id)
    listing = AzureListing.objects.filter(pk=listing_id).first()
    if not claimed or listing is None:
        return listing
    budget = settings.CV_AZURE_LISTING_TIMEOUT_SECONDS
    try:
        source = source_for(
            listing.endpoint,
            secrets.decrypt(listing.key_encrypted),
            deadline=time.monotonic() + budget,
            retries=RETRIES,
        )
        found = _projects_with_counts(source, listing)
    except TimeLimitReached:
        _listing_finish(
            listing.id,
            error=f"Listing the projects took longer than {budget} seconds: the endpoint is "
            "slow or not answering. Try again.",
        )
    except SourceError as exc:
        _listing_finish(listing.id, error=exc.message)
    except (ValidationError, ValueError) as exc:  # our own words (endpoint, stored key)
        _listing_finish(listing.id, error="; ".join(_messages(exc)))
    except Exception:
        logger.exception("Azure listing %s failed", listing.id)
        _listing_finish(listing.id, error="An unexpected error stopped the listing.")
    else:
        if found is not None:
            jobs.finish(AZURE_LISTING, listing.id, AzureListing.Status.COMPLETED, projects=found)
    return AzureListing.objects.filter(pk=listing_id).first()


def _projects_with_counts(
    source: AzureTrainingSource, listing: AzureListing
) -> list[dict[str, Any]] | None:
    projects = source.projects()
    if len(projects) > MAX_PROJECTS:
        raise SourceError(f"The account has more than {MAX_PROJECTS} projects.")
    found = []
    for project in projects:
        # Forgotten (a newer listing, or the sweep)? Stop asking the remote.
        if not jobs.beat(AZURE_LISTING, listing.pk):
            return None
        tagged, untagged = source.image_counts(str(project["id"]))
        found.append(_preview(project, tagged, untagged, source.domain))
    return found


def _listing_finish(listing_id: uuid.UUID, *, error: str) -> None:
    """A failed listing: its error, and the key forgotten."""
    jobs.finish(AZURE_LISTING, listing_id, AzureListing.Status.FAILED, error=error)


def _preview(
    project: dict[str, Any], tagged: int, untagged: int, lookup: DomainLookup
) -> dict[str, Any]:
    kind = source_project_kind(project, lookup)
    return {
        "id": str(project["id"]),
        "name": str(project.get("name", ""))[:200],
        "classification_type": kind.classification_type,
        "type": kind.label,
        "domain": kind.domain.name if kind.domain else "—",
        "note": kind.note,
        "tagged": tagged,
        "untagged": untagged,
    }


def _messages(exc: Exception) -> list[str]:
    return list(exc.messages) if isinstance(exc, ValidationError) else [str(exc)]


def azure_import_start_from_listing(
    *,
    owner: User,
    listing_id: uuid.UUID | str,
    project_ids: Sequence[str],
    remove_missing: bool = False,
) -> AzureImport:
    """Queue an import of projects the user listed: only the owner's own completed listing
    counts, with its endpoint and key; the listing is then forgotten."""
    listing = AzureListing.objects.filter(
        pk=listing_id, owner=owner, status=AzureListing.Status.COMPLETED
    ).first()
    if listing is None or not listing.key_encrypted:
        raise ValidationError("The listing is gone: list the projects again.")
    listed = {str(p["id"]) for p in listing.projects}
    if not project_ids or not set(project_ids) <= listed:
        raise ValidationError("Pick projects from the list.")
    with transaction.atomic():
        job = azure_import_start(
            owner=owner,
            endpoint=listing.endpoint,
            key=secrets.decrypt(listing.key_encrypted),
            project_ids=project_ids,
            remove_missing=remove_missing,
        )
        listing.delete()
    return job


def azure_listings_sweep() -> int:
    """Listings a worker never finished are Failed (their key forgotten); listings nobody
    imported from are deleted after KEPT. Returns how many changed."""
    stuck = jobs.sweep(AZURE_LISTING)
    deleted, _ = AzureListing.objects.filter(created_at__lt=timezone.now() - KEPT).delete()
    return stuck + deleted
