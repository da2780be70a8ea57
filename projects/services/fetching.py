"""Images fetched from user-given URLs, through the SSRF-safe fetcher and this site's limits."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.exceptions import ValidationError

from core.codes import AzureCode
from core.urlfetch import FetchError, fetch, parse_networks
from projects.services.images import ImageUpload

_PARALLEL_FETCHES = 8  # a batch of 64 slow URLs should not take 64 timeouts


def url_fetch(url: str, *, max_bytes: int | None = None) -> bytes:
    """The bytes at `url`, or FetchError saying why not (refused address, too big, timeout…)."""
    return fetch(
        url,
        max_bytes=max_bytes or settings.CV_MAX_IMAGE_BYTES,
        timeout=settings.CV_URL_FETCH_TIMEOUT_SECONDS,
        allow=parse_networks(settings.CV_URL_FETCH_ALLOW),
    ).data


def _upload(url: str) -> ImageUpload:
    try:
        return ImageUpload(name=url, data=url_fetch(url))
    except FetchError as exc:
        return ImageUpload(name=url, source_error=exc.message)


def uploads_from_urls(urls: Sequence[str]) -> list[ImageUpload]:
    """One upload per URL, in order: its bytes, or the reason it could not be fetched."""
    if len(urls) <= 1:
        return [_upload(u) for u in urls]
    with ThreadPoolExecutor(max_workers=min(_PARALLEL_FETCHES, len(urls))) as pool:
        return list(pool.map(_upload, urls))


def url_image(url: str, *, max_bytes: int | None = None) -> bytes:
    """url_fetch for a single image whose failure fails the request (classify / quick test)."""
    try:
        return url_fetch(url, max_bytes=max_bytes)
    except FetchError as exc:
        raise ValidationError(exc.message, code=AzureCode.BAD_REQUEST_IMAGE_URL) from None
