"""Keys shown once: right after a resource is created or a key regenerated, the next page the
user sees shows the plain keys with Copy buttons. Only hashes are stored, so this is the one
chance to copy them; a redirect in between (New Project → Training Images) carries them in the
server-side session for exactly one page render."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from projects.models import Resource
from projects.services import ResourceKeys

SESSION_KEY = "cv_new_keys"


def shown_once(created: Iterable[tuple[Resource, ResourceKeys | dict[str, str]]]) -> list[Any]:
    """What the keys card lists: each resource with whichever of its keys are new."""
    shown = []
    for resource, keys in created:
        values = keys if isinstance(keys, dict) else {"key1": keys.key1, "key2": keys.key2}
        shown.append(
            {
                "id": str(resource.id),
                "name": resource.name,
                "kind": resource.get_kind_display(),
                **{k: v for k, v in values.items() if v},
            }
        )
    return shown


def remember(
    request: HttpRequest, created: Iterable[tuple[Resource, ResourceKeys | dict[str, str]]]
) -> None:
    shown = shown_once(created)
    if shown:  # most creates make no resource: leave the session untouched
        request.session[SESSION_KEY] = shown


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the keys to show on this page, then forgotten."""
    session = getattr(request, "session", None)
    if session is None or SESSION_KEY not in session:
        return {}
    return {"new_keys": session.pop(SESSION_KEY)}
