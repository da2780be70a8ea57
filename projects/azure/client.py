"""Azure Custom Vision's Training API, read-only, for moving an account here.

Plain Python (no Django). Every request goes through the SSRF-safe fetcher (`core.urlfetch`):

- The endpoint is a base URL (`endpoint_base`): scheme, host and optional port, nothing else,
  so a user can't steer requests to a path of their choosing (`http://host/admin?x=#`).
- The `Training-Key` goes to the endpoint's own origin only (scheme, host and port), on the
  first request only: image links elsewhere (Azure's storage, another port) and redirect
  targets never see it. API calls follow no redirects at all.
- Messages are in our words (`SourceError.message`): nothing a remote sent, not even its
  status line, reaches a user.
- 429 and 5xx answers, timeouts and refused connections are retried with exponential backoff,
  within `deadline` (a `time.monotonic()` value) when one is given: a listing or an import has
  a total budget, not only a per-request one.

Calls are the documented v3.3 ones, which Azure and this server both answer:
GetProjects, GetDomain, GetTags, GetTaggedImages / GetUntaggedImages (paged with `take` ≤ 256
and `skip`; an object-detection project's images come with their `regions`), their counts,
GetImagesByIds and GetIterations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from core.urlfetch import FetchError, Network, fetch

API = "customvision/v3.3/training"
PAGE = 256  # the most Azure returns in one page
BY_IDS = 64  # image ids asked for in one GetImagesByIds call (its URL stays short)
MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_COUNT = 10_000_000  # images a project may report (Azure's own limit is 100,000)
RETRIES = 5
ENDPOINT_SHAPE = (
    "The endpoint must be a base URL such as https://<name>.cognitiveservices.azure.com/: "
    "http or https, a host and an optional port, with no path, query, fragment or user name."
)
NOT_CUSTOM_VISION = "The endpoint did not answer like a Custom Vision endpoint."


class SourceError(Exception):
    """The source refused or failed a call for good; `message` says which and why, in our
    words (safe to show)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class TimeLimitReached(SourceError):
    """The caller's total budget (`deadline`) is spent; the caller words the message."""

    def __init__(self) -> None:
        super().__init__("The time allowed for this work is used up.")


class PagingOverrun(SourceError):
    """The source kept sending pages past the count it reported (plus slack)."""


# A box as the source gives it: (its tag id, left, top, width, height), normalised.
SourceRegion = tuple[str, float, float, float, float]


@dataclass(frozen=True)
class SourceImage:
    id: str
    uri: str
    tag_ids: list[str]
    metadata: dict[str, str]
    width: int = 0
    height: int = 0
    regions: list[SourceRegion] = field(default_factory=list)


def endpoint_base(endpoint: str) -> str:
    """`scheme://host[:port]` of an endpoint given as a base URL (a trailing "/" is fine), or
    SourceError. The host comes back lower-case, in ASCII, and the default port is dropped, so
    one endpoint has one spelling (resumed imports find their earlier projects by it)."""
    text = endpoint.strip()
    if (
        not text
        or len(text) > 500
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch in "\\?#@%" for ch in text)
    ):
        raise SourceError(ENDPOINT_SHAPE)
    try:
        parts = urlsplit(text)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    except (ValueError, UnicodeError):
        raise SourceError(ENDPOINT_SHAPE) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
        raise SourceError(ENDPOINT_SHAPE)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (443 if scheme == "https" else 80):
        netloc += f":{port}"
    return f"{scheme}://{netloc}"


@dataclass
class AzureTrainingSource:
    endpoint: str
    key: str
    allow: list[Network] = field(default_factory=list)
    timeout: float = 30.0
    max_image_bytes: int = 6 * 1024 * 1024
    sleep: Callable[[float], None] = time.sleep
    retries: int = RETRIES
    deadline: float | None = None  # time.monotonic() after which every call fails
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.endpoint = endpoint_base(self.endpoint)
        self.key = self.key.strip()
        if not self.key or len(self.key) > 200 or not all(33 <= ord(c) < 127 for c in self.key):
            raise SourceError("The training key must be the resource's Key 1 or Key 2.")

    # --- the calls ------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        return _records(self._json("projects"))

    def domain(self, domain_id: str) -> dict[str, Any] | None:
        """GetDomain: what the source says of a domain (its `name` and `type`), or None when it
        doesn't know it."""
        try:
            data = self._json(f"domains/{_id(domain_id)}")
        except SourceError as exc:
            if exc.status == 404:
                return None
            raise
        return data if isinstance(data, dict) else None

    def tags(self, project_id: str) -> list[dict[str, Any]]:
        return _records(self._json(f"projects/{_id(project_id)}/tags"))

    def iterations(self, project_id: str) -> list[dict[str, Any]]:
        return _records(self._json(f"projects/{_id(project_id)}/iterations"), key=None)

    def image_counts(self, project_id: str) -> tuple[int, int]:
        """(tagged, untagged)."""
        base = f"projects/{_id(project_id)}/images"
        return _count(self._json(f"{base}/tagged/count")), _count(
            self._json(f"{base}/untagged/count")
        )

    def images(
        self, project_id: str, *, tagged: bool, expected: int | None = None, skip: int = 0
    ) -> Iterator[list[SourceImage]]:
        """Pages of images, oldest first so a resumed run meets them in the same order.

        `expected` is the count the source reported: a source that keeps sending pages past
        it (plus a page or a tenth of slack, for images added meanwhile) gets PagingOverrun
        instead of holding a worker for ever."""
        word = "tagged" if tagged else "untagged"
        limit = None if expected is None else expected + max(PAGE, expected // 10)
        while True:
            if limit is not None and skip >= limit:
                raise PagingOverrun(
                    f"The source kept sending {word} images past the {expected:,} it reported; "
                    f"reading stopped after {skip:,}."
                )
            query = {"take": PAGE, "skip": skip, "orderBy": "Oldest"}
            page = _records(self._json(f"projects/{_id(project_id)}/images/{word}", query))
            if not page:
                return
            yield [_image(item) for item in page]
            skip += len(page)
            if len(page) < PAGE:
                return

    def images_by_ids(self, project_id: str, image_ids: list[str]) -> list[SourceImage]:
        """GetImagesByIds: those of `image_ids` the source has (it leaves out the others)."""
        found: list[SourceImage] = []
        for batch in chunks(image_ids, BY_IDS):
            query = {"imageIds": ",".join(batch)}
            page = _records(self._json(f"projects/{_id(project_id)}/images/id", query))
            found += [_image(item) for item in page]
        return found

    def image_bytes(self, uri: str) -> bytes:
        """An image's original file. Only a link on the endpoint's own origin gets the key."""
        return self._get(uri, accept="image/*", max_bytes=self.max_image_bytes, api=False)

    # --- plumbing -------------------------------------------------------------------------

    def _json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        url = f"{self.endpoint}/{API}/{path}"
        if query:
            url += "?" + urlencode(query)
        data = self._get(url, accept="application/json", max_bytes=MAX_JSON_BYTES, api=True)
        try:
            return json.loads(data)
        except ValueError:
            raise SourceError(NOT_CUSTOM_VISION) from None

    def _left(self) -> float:
        """Seconds left of the budget (TimeLimitReached when none are)."""
        if self.deadline is None:
            return float("inf")
        left = self.deadline - self.clock()
        if left <= 0:
            raise TimeLimitReached
        return left

    def _get(self, url: str, *, accept: str, max_bytes: int, api: bool) -> bytes:
        delay = 1.0
        for attempt in range(self.retries + 1):
            try:
                return fetch(
                    url,
                    max_bytes=max_bytes,
                    timeout=min(self.timeout, self._left()),
                    allow=self.allow,
                    headers={"Training-Key": self.key},
                    credentials_origin=self.endpoint,
                    # An API call that redirects would lose its key on the way (and a
                    # redirect is not how a Custom Vision endpoint answers).
                    max_redirects=0 if api else 5,
                    accept=accept,
                    user_agent="custom-vision-importazure/1",
                ).data
            except FetchError as exc:
                if not _retryable(exc):
                    raise SourceError(_explain(exc, api=api), exc.status) from None
                if attempt == self.retries:
                    raise SourceError(
                        f"{_explain(exc, api=api)} (after {self.retries + 1} tries)", exc.status
                    ) from None
            self.sleep(min(delay, self._left()))
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")


def _retryable(exc: FetchError) -> bool:
    if exc.kind == "status":
        return exc.status is not None and (exc.status == 429 or exc.status >= 500)
    return exc.kind in ("timeout", "unreachable")


def _explain(exc: FetchError, *, api: bool) -> str:
    """Our words for a failed call: never the fetcher's text about a remote's answer, and no
    host names taken from a remote's image links."""
    status = exc.status
    if api:
        if status in (401, 403):
            return (
                f"The endpoint refused the training key ({status}): check the key and the endpoint."
            )
        if status == 404:
            return (
                "The endpoint has no such project or route (404): is it a Custom Vision endpoint?"
            )
        words = {
            "refused": "The endpoint is not on a public address, and imports come only from "
            "public addresses unless this server's operator allows the network.",
            "unreachable": "The endpoint could not be reached.",
            "timeout": "The endpoint took too long to answer.",
            "tls": "A secure connection to the endpoint could not be made (its certificate "
            "could not be verified).",
            "redirect": f"The endpoint answered with a redirect (HTTP {status}): give the "
            "endpoint exactly as the Azure portal shows it.",
            "too_large": "The endpoint's answer was too large.",
            "status": f"The endpoint answered HTTP {status}.",
        }
        return words.get(exc.kind, NOT_CUSTOM_VISION)
    words = {
        "refused": "The image link is not an http(s) link to a public address; it was not fetched.",
        "timeout": "The image took too long to download.",
        "too_large": exc.message,  # our words, with our limit
        "status": f"The image link answered HTTP {status}.",
        "redirect": "The image link redirected too many times.",
    }
    return words.get(exc.kind, "The image could not be downloaded.")


def _id(value: str) -> str:
    """An id from the source, as one path segment (it can't climb to another route)."""
    return quote(str(value), safe="")


def _records(data: Any, key: str | None = "id") -> list[dict[str, Any]]:
    """A JSON list of objects (each with `key`), or the source is not Custom Vision."""
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and (key is None or isinstance(item.get(key), str | int))
        for item in data
    ):
        raise SourceError(NOT_CUSTOM_VISION)
    return data


def _count(data: Any) -> int:
    if type(data) is not int or not 0 <= data <= MAX_COUNT:
        raise SourceError(NOT_CUSTOM_VISION)
    return data


def _image(item: dict[str, Any]) -> SourceImage:
    try:
        return SourceImage(
            id=str(item["id"]),
            uri=str(item.get("originalImageUri") or item.get("resizedImageUri") or ""),
            tag_ids=[str(t["tagId"]) for t in item.get("tags") or []],
            metadata={str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
            width=int(item.get("width") or 0),
            height=int(item.get("height") or 0),
            regions=[_region(r) for r in item.get("regions") or []],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SourceError(NOT_CUSTOM_VISION) from None


def _region(item: dict[str, Any]) -> SourceRegion:
    """An ImageRegion (`regionId`, `tagName`, `tagId`, `left`, `top`, `width`, `height`); the
    box is checked where it goes in, with the image."""
    left, top, width, height = (float(item[k]) for k in ("left", "top", "width", "height"))
    return str(item["tagId"]), left, top, width, height


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
