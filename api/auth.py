"""Custom Vision's key headers, checked against the hashed resource keys."""

from __future__ import annotations

from django.http import HttpRequest

from projects.models import Resource
from projects.services.resources import key_hash, key_matches

TRAINING = Resource.Kind.TRAINING
PREDICTION = Resource.Kind.PREDICTION

HEADERS: dict[str, tuple[str, ...]] = {
    TRAINING: ("Training-Key", "Ocp-Apim-Subscription-Key"),
    PREDICTION: ("Prediction-Key", "Ocp-Apim-Subscription-Key"),
}


def request_key_digest(request: HttpRequest, kind: str) -> str | None:
    """The hash of the key the request carries for this kind of resource, if any."""
    for header in HEADERS[kind]:
        key = request.headers.get(header, "").strip()
        if key:
            return key_hash(key)
    return None


def resource_for_digest(digest: str, kind: str) -> Resource | None:
    # No ORDER BY (a key matches one resource): every API call makes this query. A key dies
    # with its owner's account: deactivated in the admin, every key answers 401 at once.
    found = (
        Resource.objects.select_related("owner")
        .filter(key_matches(digest), kind=kind, owner__is_active=True)
        .order_by()[:1]
    )
    return next(iter(found), None)


def resource_for_request(request: HttpRequest, kind: str) -> Resource | None:
    """The resource of this kind whose Key 1 or Key 2 the request carries, if any."""
    digest = request_key_digest(request, kind)
    return None if digest is None else resource_for_digest(digest, kind)
