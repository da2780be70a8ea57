"""Where a `next` parameter may send the user: only this site's own pages.

Every view that follows or links to a user-given `next` goes through `safe_next`, so a crafted
link can neither send someone elsewhere after they save (open redirect) nor put a
`javascript:` URL behind a Back button (reflected XSS).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The request's `next` (form field, else query) when it is a page of this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
