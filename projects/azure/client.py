"""Azure Custom Vision's Training API, read-only, for moving an account here.

Plain Python (no Django): every request goes through the SSRF-safe fetcher (`portal.urlfetch`)
with the account's key in the `Training-Key` header, and only to the endpoint's own host (image
links elsewhere, Azure's storage, get no key). 429 and 5xx answers and timeouts are retried
with exponential backoff, honouring `Retry-After`.

Calls are the documented v3.3 ones, which Azure and this server both answer:
GetProjects, GetTags, GetTaggedImages / GetUntaggedImages (paged with `take` ≤ 256 and `skip`),
their counts, and GetIterations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from portal.urlfetch import FetchError, Network, fetch

API = "customvision/v3.3/training"
PAGE = 256  # the most Azure returns in one page
MAX_JSON_BYTES = 32 * 1024 * 1024
RETRIES = 5


class SourceError(Exception):
    """The source refused or failed a call for good; `message` says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class SourceImage:
    id: str
    uri: str
    tag_ids: list[str]
    metadata: dict[str, str]
    width: int = 0
    height: int = 0


@dataclass
class AzureTrainingSource:
    endpoint: str
    key: str
    allow: list[Network] = field(default_factory=list)
    timeout: float = 30.0
    max_image_bytes: int = 6 * 1024 * 1024
    sleep: Callable[[float], None] = time.sleep
    retries: int = RETRIES

    def __post_init__(self) -> None:
        self.endpoint = self.endpoint.strip().rstrip("/")
        if urlsplit(self.endpoint).scheme not in ("http", "https"):
            raise SourceError("The endpoint must start with https:// (or http://).")

    # --- the calls ------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        return list(self._json("projects"))

    def project(self, project_id: str) -> dict[str, Any]:
        return dict(self._json(f"projects/{project_id}"))

    def tags(self, project_id: str) -> list[dict[str, Any]]:
        return list(self._json(f"projects/{project_id}/tags"))

    def iterations(self, project_id: str) -> list[dict[str, Any]]:
        return list(self._json(f"projects/{project_id}/iterations"))

    def image_counts(self, project_id: str) -> tuple[int, int]:
        """(tagged, untagged)."""
        tagged = int(self._json(f"projects/{project_id}/images/tagged/count"))
        untagged = int(self._json(f"projects/{project_id}/images/untagged/count"))
        return tagged, untagged

    def images(
        self, project_id: str, *, tagged: bool, skip: int = 0
    ) -> Iterator[list[SourceImage]]:
        """Pages of images, oldest first so a resumed run meets them in the same order."""
        word = "tagged" if tagged else "untagged"
        while True:
            query = {"take": PAGE, "skip": skip, "orderBy": "Oldest"}
            page = list(self._json(f"projects/{project_id}/images/{word}", query))
            if not page:
                return
            yield [_image(item) for item in page]
            skip += len(page)
            if len(page) < PAGE:
                return

    def image_bytes(self, uri: str) -> bytes:
        """An image's original file. Only a link on the endpoint's host gets the key."""
        return self._get(uri, accept="image/*", max_bytes=self.max_image_bytes)

    # --- plumbing -------------------------------------------------------------------------

    def _json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        url = f"{self.endpoint}/{API}/{path}"
        if query:
            url += "?" + urlencode(query)
        data = self._get(url, accept="application/json", max_bytes=MAX_JSON_BYTES)
        try:
            return json.loads(data)
        except ValueError:
            raise SourceError(f"{path}: the endpoint did not answer JSON.") from None

    def _get(self, url: str, *, accept: str, max_bytes: int) -> bytes:
        delay = 1.0
        for attempt in range(self.retries + 1):
            try:
                return fetch(
                    url,
                    max_bytes=max_bytes,
                    timeout=self.timeout,
                    allow=self.allow,
                    headers={"Training-Key": self.key},
                    accept=accept,
                    user_agent="custom-vision-importazure/1",
                ).data
            except FetchError as exc:
                status = getattr(exc, "status", None)
                retryable = status is None or status == 429 or status >= 500
                if exc.refused or status in (401, 403, 404) or not retryable:
                    raise SourceError(_explain(exc, status), status) from None
                if attempt == self.retries:
                    raise SourceError(
                        f"{_explain(exc, status)} (after {self.retries + 1} tries)", status
                    ) from None
            self.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")


def _explain(exc: FetchError, status: int | None) -> str:
    if status == 401:
        return "The endpoint refused the training key (401): check the key and the endpoint."
    if status == 404:
        return "The endpoint has no such project or route (404)."
    return exc.message


def _image(item: dict[str, Any]) -> SourceImage:
    return SourceImage(
        id=str(item["id"]),
        uri=str(item.get("originalImageUri") or item.get("resizedImageUri") or ""),
        tag_ids=[str(t["tagId"]) for t in item.get("tags") or []],
        metadata={str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
        width=int(item.get("width") or 0),
        height=int(item.get("height") or 0),
    )


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
