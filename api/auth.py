"""Custom Vision's key headers, checked against the hashed resource keys."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest

from projects.models import Resource
from projects.services.resources import key_hash

HEADERS: dict[str, tuple[str, ...]] = {
    Resource.Kind.TRAINING: ("Training-Key", "Ocp-Apim-Subscription-Key"),
    Resource.Kind.PREDICTION: ("Prediction-Key", "Ocp-Apim-Subscription-Key"),
}


def resource_for_request(request: HttpRequest, kind: str) -> Resource | None:
    """The resource of this kind whose Key 1 or Key 2 the request carries, if any."""
    for header in HEADERS[kind]:
        key = request.headers.get(header, "").strip()
        if key:
            digest = key_hash(key)
            # No ORDER BY (a key matches one resource): every API call makes this query.
            found = (
                Resource.objects.select_related("owner")
                .filter(Q(key1_hash=digest) | Q(key2_hash=digest), kind=kind)
                .order_by()[:1]
            )
            return next(iter(found), None)
    return None
