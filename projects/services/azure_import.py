"""Moving an Azure Custom Vision account here: projects, tags and images, through Azure's own
Training API (`projects.azure.client`).

A job (`AzureImport`) runs in a Celery worker, or in the `importazure` command's own process
with `--inline`. It is resumable and idempotent: each source project is linked to the local
project it went into (`AzureImportedProject`, with its tags' map), each source image to the
image it became (`AzureImportedImage`), and ingestion itself refuses a second copy of the same
content. Running it again continues where it stopped and syncs (`_Sync`): images here take the
source's current tags, boxes and metadata, new tags and images arrive, and what the source
removed is counted, and removed here only when the job asks. One image that fails is listed
with its reason; the job goes on.

Ids: projects, tags and images keep the source's (Azure's GUIDs) wherever no row here has it,
so clients that stored them keep working; one taken (by anyone: which owner is never looked
at) gets a new id, and the job page's old → new map (`selectors.azure_id_map`) says so.

Where it may reach: the endpoint (a base URL) and image links follow the URL fetcher's
public-address rule unless the operator allows a network, or the operator's own command named
the host (`source_for`); the key goes to the endpoint's origin only. Fairness: one import per
user at a time (held by the database), CV_IMPORT_TIME_LIMIT_SECONDS per job, and paging that
stops past the counts a source reported.

What comes across: name, description, classification type, domain (Azure's GUIDs are this
server's, classification and object detection alike), tags with type and description, every
tagged and untagged image at its original resolution with its tags, metadata and, in an
object-detection project, every box (`regions`). Nothing is converted silently: a project
whose domain this server lacks comes across in the General domain of its type, and one of a
type this server lacks is left out, each said in the summary. Iterations can't be copied
(their models stay in Azure): their names and dates are listed in the summary.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired, TypedDict, Unpack
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from core import jobs
from core.urlfetch import Network, parse_networks, refusal_without_lookup
from projects.azure import secrets
from projects.azure.client import (
    RETRIES,
    AzureTrainingSource,
    PagingOverrun,
    SourceError,
    SourceImage,
    TimeLimitReached,
    chunks,
    endpoint_base,
)
from projects.domains import (
    CLASSIFICATION,
    DOMAINS_BY_ID,
    GENERAL,
    GENERAL_DETECTION,
    OBJECT_DETECTION,
    Domain,
)
from projects.metadata import metadata_clean
from projects.models import (
    AzureImport,
    AzureImportedImage,
    AzureImportedProject,
    Image,
    ImageTag,
    Project,
    Region,
    Resource,
    Tag,
)
from projects.services.images import ImageUpload, images_create_each, images_delete
from projects.services.jobs import AZURE_IMPORT
from projects.services.projects import project_create
from projects.services.regions import RegionBox, box_checked, boxes_of, regions_replace
from projects.services.resources import default_resource_name, resources_create_both
from projects.services.tags import tag_create, tag_delete

logger = logging.getLogger(__name__)

CHUNK = 32  # images downloaded and ingested together: bounds memory to 32 originals
PARALLEL_DOWNLOADS = 8
FAILURES_KEPT = 500  # listed in the summary; the count covers them all
MAX_TOTAL = 2**31 - 1  # images_total is an integer column
ACTIVE = (AzureImport.Status.QUEUED, AzureImport.Status.RUNNING)
ALREADY_RUNNING = (
    "You already have an import from Azure queued or running: one runs at a time for each "
    "user. Wait for it to end (its page shows the progress), then start the next one."
)
UNEXPECTED = (
    "An unexpected error stopped the import (the server's log has the details). Start it "
    "again: it continues where it stopped."
)


# --- Where imports may come from ------------------------------------------------------------


def source_for(
    endpoint: str,
    key: str,
    *,
    trust_endpoint_host: bool = False,
    deadline: float | None = None,
    retries: int | None = None,
) -> AzureTrainingSource:
    """A client for the account.

    Addresses follow the fetcher's rules: public only, except the networks the operator lists
    in CV_AZURE_IMPORT_ALLOW. `trust_endpoint_host` is for the operator's
    own `importazure` command, which may name a private or loopback host (a second instance on
    the same network): that host's addresses are then allowed too. The key goes to the
    endpoint's origin only, whatever is allowed."""
    if not key.strip():
        raise ValidationError("Give the Azure resource's training key.")
    try:
        base = endpoint_base(endpoint)
        allow = _allowed() + (_host_networks(base) if trust_endpoint_host else [])
        return AzureTrainingSource(
            base,
            key,
            allow=allow,
            timeout=float(settings.CV_URL_FETCH_TIMEOUT_SECONDS) * 3,
            max_image_bytes=settings.CV_MAX_IMAGE_BYTES,
            deadline=deadline,
            retries=RETRIES if retries is None else retries,
        )
    except SourceError as exc:
        raise ValidationError(exc.message) from None


def _allowed() -> list[Network]:
    # Not CV_URL_FETCH_ALLOW: trusting a network for images users link to is not trusting it
    # for imports, which send a key and fetch pages of links the remote chooses.
    return parse_networks(settings.CV_AZURE_IMPORT_ALLOW)


def _host_networks(base: str) -> list[Network]:
    parts = urlsplit(base)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise ValidationError(f"The endpoint's host {parts.hostname!r} can't be found.") from None
    return parse_networks(sorted({str(info[4][0]).split("%", 1)[0] for info in infos}))


def endpoint_check(endpoint: str, *, trust_endpoint_host: bool = False) -> str:
    """The endpoint's base URL, or ValidationError: its shape, and, for the portal, an address
    that is refused without asking DNS (a name is checked on every address it resolves to
    when the worker fetches)."""
    try:
        base = endpoint_base(endpoint)
    except SourceError as exc:
        raise ValidationError(exc.message) from None
    if not trust_endpoint_host and refusal_without_lookup(base, _allowed()):
        raise ValidationError(
            "The endpoint is not a public address: imports come only from public addresses "
            "unless this server's operator allows the network (CV_AZURE_IMPORT_ALLOW)."
        )
    return base


# The domain a project of each type gets when the source's own domain is not one of ours.
GENERAL_OF_TYPE = {CLASSIFICATION: GENERAL, OBJECT_DETECTION: GENERAL_DETECTION}
TYPE_WORDS = {CLASSIFICATION: "classification", OBJECT_DETECTION: "object detection"}

DomainLookup = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class SourceKind:
    """How a source project comes across: its classification type and domain here, or not at
    all (`domain` None). `note` is what the summary must say about it."""

    classification_type: str
    domain: Domain | None
    note: str = ""

    @property
    def label(self) -> str:
        """The listing's Type column."""
        if self.domain is None:
            return "Not supported"
        if self.domain.type == OBJECT_DETECTION:
            return "Object detection"
        return self.classification_type


def source_project_kind(project: dict[str, Any], lookup: DomainLookup | None = None) -> SourceKind:
    """A source project's classification type and domain as this server knows them. Azure's
    domain ids are this server's, for both project types. A domain that isn't is looked up at
    the source (`lookup`, GetDomain): of a type this server has, the project comes in that
    type's General domain; of any other type, or one the source can't name, it is left out.
    Either way `note` says so: a project is never converted silently."""
    settings_ = project.get("settings")
    settings_ = settings_ if isinstance(settings_, dict) else {}
    classification = settings_.get("classificationType")
    if classification not in Project.ClassificationType.values:
        classification = Project.ClassificationType.MULTICLASS
    raw = str(settings_.get("domainId") or "")[:100]
    try:
        domain_id: uuid.UUID | None = uuid.UUID(raw)
    except ValueError:
        domain_id = None
    domain = DOMAINS_BY_ID.get(domain_id) if domain_id else None
    if domain is not None:
        return SourceKind(str(classification), domain)
    found = lookup(raw) if lookup is not None and domain_id is not None else None
    type_ = str(found.get("type") or "")[:100] if found else ""
    general = GENERAL_OF_TYPE.get(type_)
    if general is None:
        what = f"project type {type_!r}" if type_ else f"domain {raw or '(none given)'}"
        return SourceKind(
            str(classification),
            None,
            f"not imported: its {what} is not one this server has (it has classification "
            "and object detection, in Azure's domains).",
        )
    name = str(found.get("name") or raw)[:100] if found else raw
    return SourceKind(
        str(classification),
        general,
        f"its {TYPE_WORDS[type_]} domain {name!r} is not one this server has: it came across "
        f"in the {general.name} {TYPE_WORDS[type_]} domain (change it in the project's "
        "Settings).",
    )


# --- Starting -------------------------------------------------------------------------------


class ImportArguments(TypedDict):
    """What `azure_import_create` is given, which `azure_import_start` passes on."""

    owner: User
    endpoint: str
    key: str
    project_ids: NotRequired[Sequence[str]]
    trust_endpoint_host: NotRequired[bool]
    remove_missing: NotRequired[bool]


def azure_import_start(**arguments: Unpack[ImportArguments]) -> AzureImport:
    """Queue an import of the account's projects (all of them when `project_ids` is empty)."""
    job = azure_import_create(**arguments)
    transaction.on_commit(lambda: _enqueue(job))
    return job


def azure_import_create(
    *,
    owner: User,
    endpoint: str,
    key: str,
    project_ids: Sequence[str] = (),
    trust_endpoint_host: bool = False,
    remove_missing: bool = False,
) -> AzureImport:
    """The job, not queued: `azure_import_start` queues it, `importazure --inline` runs it.

    One import per user at a time (the database holds it, against two requests at once): one
    account's hours of downloads must not take every import worker from everyone else.
    `trust_endpoint_host` is the operator's command's (see `source_for`). `remove_missing`:
    images an earlier import brought that the source no longer has are removed here too."""
    base = endpoint_check(endpoint, trust_endpoint_host=trust_endpoint_host)
    source_for(base, key)  # the key's shape
    jobs.sweep(AZURE_IMPORT, among=AzureImport.objects.filter(owner=owner))
    if AzureImport.objects.filter(owner=owner, status__in=ACTIVE).exists():
        raise ValidationError(ALREADY_RUNNING, code="import_running")
    try:
        with transaction.atomic():
            return AzureImport.objects.create(
                owner=owner,
                endpoint=base,
                trust_endpoint_host=trust_endpoint_host,
                key_encrypted=secrets.encrypt(key.strip()),
                project_ids=[str(p) for p in project_ids],
                remove_missing=remove_missing,
                phase="Waiting for a worker",
            )
    except IntegrityError:
        raise ValidationError(ALREADY_RUNNING, code="import_running") from None


def _enqueue(job: AzureImport) -> None:
    from projects.tasks import import_azure

    jobs.enqueue(AZURE_IMPORT, job.pk, import_azure)


# --- Running -------------------------------------------------------------------------------


@dataclass
class _Summary:
    """What an ended job's `summary` keeps (the job page and `importazure` read it)."""

    projects: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # left out, and why
    failures: list[dict[str, str]] = field(default_factory=list)  # the first FAILURES_KEPT
    failure_count: int = 0
    notes: list[str] = field(default_factory=list)


class _Run:
    """One job's state while it runs: progress written to its row, failures and notes
    collected."""

    def __init__(self, job: AzureImport, source: AzureTrainingSource) -> None:
        self.job, self.source = job, source
        self.done = 0
        self.summary = _Summary()

    def progress(self, phase: str) -> None:
        jobs.beat(AZURE_IMPORT, self.job.pk, phase=phase[:300], images_done=self.done)

    def fail_image(self, project: str, image_id: str, reason: str) -> None:
        self.summary.failure_count += 1
        if len(self.summary.failures) < FAILURES_KEPT:
            self.summary.failures.append({"project": project, "image": image_id, "reason": reason})


def azure_import_run(
    *, job_id: uuid.UUID | str, on_progress: Callable[[AzureImport], None] | None = None
) -> AzureImport:
    """Run a queued job to its end (Completed or Failed, never left Running by an error).

    Within CV_IMPORT_TIME_LIMIT_SECONDS: past it the job is Failed, saying it can be resumed,
    and the worker is free for someone else's import."""
    # Queued, or Running with a worker that stopped reporting (AZURE_IMPORT.reclaim_after),
    # and with its key: a job that ended has forgotten it.
    claimed = jobs.claim(AZURE_IMPORT, job_id, only_if=~Q(key_encrypted=""))
    job = AzureImport.objects.get(pk=job_id)
    if not claimed:
        return job  # finished, or another worker has it
    limit = settings.CV_IMPORT_TIME_LIMIT_SECONDS
    run: _Run | None = None
    try:
        key = secrets.decrypt(job.key_encrypted)
        source = source_for(
            job.endpoint,
            key,
            trust_endpoint_host=job.trust_endpoint_host,
            deadline=time.monotonic() + limit,
        )
        run = _Run(job, source)
        _run(run, on_progress)
    except TimeLimitReached:
        error = (
            f"The import stopped at its time limit ({_duration(limit)}), so that other imports "
            "get their turn. Start it again: it continues where it stopped."
        )
        _finish(job.id, AzureImport.Status.FAILED, error=error, run=run)
    except SourceError as exc:
        _finish(job.id, AzureImport.Status.FAILED, error=exc.message, run=run)
    except (ValidationError, ValueError) as exc:  # our own words (endpoint, ids, stored key)
        _finish(job.id, AzureImport.Status.FAILED, error="; ".join(_messages(exc)), run=run)
    except Exception:
        # Its text may quote what the remote sent: the log has it, the user our words.
        logger.exception("Azure import %s failed", job.id)
        _finish(job.id, AzureImport.Status.FAILED, error=UNEXPECTED, run=run)
    else:
        _finish(job.id, AzureImport.Status.COMPLETED, run=run)
    return AzureImport.objects.get(pk=job_id)


def _duration(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _messages(exc: Exception) -> list[str]:
    return list(exc.messages) if isinstance(exc, ValidationError) else [str(exc)]


def _finish(job_id: uuid.UUID, status: str, *, error: str = "", run: _Run | None = None) -> None:
    # The key is needed no longer: forget it (a resumed run is a new job, with the key).
    fields: dict[str, Any] = {"key_encrypted": ""}
    if run is not None:
        fields |= {"summary": asdict(run.summary), "images_done": run.done}
    jobs.finish(AZURE_IMPORT, job_id, status, error=error, **fields)


def _run(run: _Run, on_progress: Callable[[AzureImport], None] | None) -> None:
    source, job = run.source, run.job
    run.progress("Reading the account's projects")
    projects = source.projects()
    wanted = set(job.project_ids)
    if wanted:
        missing = wanted - {str(p["id"]) for p in projects}
        if missing:
            raise ValidationError(f"The account has no project with id {sorted(missing)[0]}.")
        projects = [p for p in projects if str(p["id"]) in wanted]
    plan = []
    for project in projects:
        tagged, untagged = source.image_counts(str(project["id"]))
        plan.append((project, tagged, untagged))
    total = min(sum(t + u for _p, t, u in plan), MAX_TOTAL)
    AzureImport.objects.filter(pk=job.pk).update(images_total=total)

    def report(phase: str) -> None:
        run.progress(phase)
        if on_progress is not None:
            on_progress(AzureImport.objects.get(pk=job.pk))

    for project, tagged, untagged in plan:
        _import_project(run, project, tagged, untagged, report)


def _free_id(model: type[Project] | type[Tag], source_id: str) -> uuid.UUID | None:
    """The source's id, to keep, when it is a UUID no row of `model` has (anyone's: ids are
    global); None gives a new one. Which owner holds a taken id is never looked at or said."""
    kept = _uuid(source_id)
    if kept is None or model.objects.filter(pk=kept).exists():
        return None
    return kept


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)[:100])
    except ValueError:
        return None


def _local_project(run: _Run, source_project: dict[str, Any]) -> AzureImportedProject | None:
    """The local project a source project goes into (made on its first run, with the source's
    id where it is free here), or None when it can't come across (the summary says why)."""
    job, name = run.job, str(source_project.get("name", ""))
    link = AzureImportedProject.objects.filter(
        owner=job.owner, endpoint=job.endpoint, source_project_id=str(source_project["id"])
    ).first()
    if link is not None:
        return link
    kind = source_project_kind(source_project, run.source.domain)
    if kind.domain is None:
        run.summary.skipped.append(
            {"source_id": str(source_project["id"]), "name": name, "reason": kind.note}
        )
        return None
    if kind.note:
        run.summary.notes.append(f"{name}: {kind.note}")
    with transaction.atomic():
        project = project_create(
            owner=job.owner,
            resource=_training_resource(job.owner),
            name=str(source_project.get("name") or "Imported project")[:200],
            description=str(source_project.get("description") or ""),
            classification_type=kind.classification_type,
            domain_id=kind.domain.id,
            id=_free_id(Project, str(source_project["id"])),
        )
        return AzureImportedProject.objects.create(
            owner=job.owner,
            endpoint=job.endpoint,
            source_project_id=str(source_project["id"]),
            project=project,
        )


def _training_resource(owner: User) -> Resource:
    found = Resource.objects.filter(owner=owner, kind=Resource.Kind.TRAINING).order_by("name")
    if found.exists():
        return found[0]
    # Keys are not shown here; Resources regenerates one when the user wants the API.
    return resources_create_both(owner=owner, name=default_resource_name(owner))[0][0]


def _tags(link: AzureImportedProject, source_tags: list[dict[str, Any]]) -> dict[str, str]:
    """Source tag id → local tag id, creating what is missing with the source's id where it is
    free here. A tag an earlier run brought is found by its id (a tag renamed at the source
    is renamed here, when the name is free); a tag made here, by its name."""
    project = link.project
    local = {t.id: t for t in Tag.objects.filter(project=project)}
    existing = {t.name.lower(): t for t in local.values()}
    negative = next((t for t in existing.values() if t.type == Tag.Type.NEGATIVE), None)
    mapping: dict[str, str] = dict(link.tag_map)
    for item in source_tags:
        name = str(item.get("name") or "").strip()
        description = str(item.get("description") or "")
        type_ = Tag.Type.NEGATIVE if item.get("type") == "Negative" else Tag.Type.REGULAR
        known = _uuid(mapping.get(str(item["id"]), ""))
        tag = local.get(known) if known else None
        if tag is not None:
            _tag_follow(tag, name, description, existing)
        else:
            tag = existing.get(name.lower())
        if tag is None and type_ == Tag.Type.NEGATIVE and negative is not None:
            tag = negative
        if tag is None:
            tag = tag_create(
                project=project,
                name=name,
                description=description,
                type=type_,
                id=_free_id(Tag, str(item["id"])),
            )
            existing[tag.name.lower()] = local[tag.id] = tag
        mapping[str(item["id"])] = str(tag.id)
    AzureImportedProject.objects.filter(pk=link.pk).update(tag_map=mapping)
    return mapping


def _tag_follow(tag: Tag, name: str, description: str, existing: dict[str, Tag]) -> None:
    """A tag brought earlier takes the source's current name (unless another tag here has it)
    and description."""
    fields: dict[str, str] = {}
    if name and name != tag.name and existing.get(name.lower(), tag) == tag:
        existing.pop(tag.name.lower(), None)
        fields["name"] = existing_name = name[:256]
        existing[existing_name.lower()] = tag
    if description != tag.description:
        fields["description"] = description
    if fields:
        Tag.objects.filter(pk=tag.pk).update(**fields)
        for key, value in fields.items():
            setattr(tag, key, value)


def _import_project(
    run: _Run,
    source_project: dict[str, Any],
    tagged: int,
    untagged: int,
    report: Callable[[str], None],
) -> None:
    name, source_id = str(source_project.get("name", "")), str(source_project["id"])
    report(f"{name}: project and tags")
    link = _local_project(run, source_project)
    if link is None:
        run.done += tagged + untagged  # nothing of it comes: the bar moves past it
        return
    source_tags = run.source.tags(source_id)
    mapping = _tags(link, source_tags)
    sync = _Sync(run, link, name, mapping)
    for is_tagged, expected in ((True, tagged), (False, untagged)):
        try:
            for page in run.source.images(source_id, tagged=is_tagged, expected=expected):
                sync.page(page)
                report(f"{name}: images ({run.done:,} of {run.job.images_total or '?'})")
        except PagingOverrun as exc:
            sync.complete = False  # not every image was seen: none counts as removed
            run.summary.notes.append(f"{name}: {exc.message}")
    sync.removed_in_source()
    sync.tags_removed_in_source({str(t["id"]) for t in source_tags})
    run.summary.projects.append(
        {
            "source_id": source_id,
            "name": name,
            "project_id": str(link.project_id),
            "id_kept": str(link.project_id) == source_id.lower(),
            "source_images": {"tagged": tagged, "untagged": untagged},
            **sync.counts,
            "iterations": [
                {
                    "name": str(i.get("name", "")),
                    "status": str(i.get("status", "")),
                    "trained": i.get("trainedAt"),
                    "published_as": i.get("publishName"),
                }
                for i in _iterations(run.source, source_id)
            ],
        }
    )


def _iterations(source: AzureTrainingSource, project_id: str) -> list[dict[str, Any]]:
    try:
        return source.iterations(project_id)
    except SourceError:
        return []  # a summary line, not a reason to fail the import


def _boxes(image: SourceImage, mapping: dict[str, str]) -> list[RegionBox] | str:
    """The image's boxes with local tag ids, or why they can't come (the image then fails
    with that reason rather than arriving without a box)."""
    boxes: list[RegionBox] = []
    for tag_id, *box in image.regions:
        if tag_id not in mapping:
            return "A region's tag is not among the project's tags at the source."
        try:
            boxes.append((mapping[tag_id], *box_checked(*box)))
        except ValidationError as exc:
            return " ".join(exc.messages)
    return boxes


def _download(
    source: AzureTrainingSource,
    image: SourceImage,
    boxes: list[RegionBox] | str,
    image_id: uuid.UUID | None,
) -> ImageUpload:
    name = f"{image.id}.jpg"
    if isinstance(boxes, str):
        return ImageUpload(name=name, source_error=boxes)
    if not image.uri:
        return ImageUpload(name=name, source_error="The source gave no link to the image.")
    try:
        data = source.image_bytes(image.uri)
    except TimeLimitReached:
        raise  # the job's, not this image's
    except SourceError as exc:
        return ImageUpload(name=name, source_error=exc.message)
    return ImageUpload(name=name, data=data, metadata=image.metadata, regions=boxes, id=image_id)


class _Sync:
    """One project's images: those here already (linked by their source id) take the source's
    current tags, boxes and metadata; new ones are downloaded (keeping the source's id where it
    is free here); those the source no longer has are counted, and removed here only when the
    job asks (`AzureImport.remove_missing`) and every source image was seen."""

    def __init__(
        self, run: _Run, link: AzureImportedProject, name: str, mapping: dict[str, str]
    ) -> None:
        self.run, self.link, self.name, self.mapping = run, link, name, mapping
        self.project = link.project
        self.tags = {t.id: t for t in Tag.objects.filter(project=self.project)}
        self.seen: set[str] = set()
        self.complete = True
        self.counts = dict.fromkeys(
            ("added", "updated", "unchanged", "removed_in_source", "removed_here", "failed"), 0
        )
        self.counts["regions"] = 0

    def page(self, page: list[SourceImage]) -> None:
        self.seen.update(i.id for i in page)
        linked = dict(
            AzureImportedImage.objects.filter(
                imported_project=self.link,
                source_image_id__in=[i.id for i in page],
                image__isnull=False,
                image__removed_at__isnull=True,
            ).values_list("source_image_id", "image_id")
        )
        here = [i for i in page if i.id in linked]
        if here:
            self._sync(here, linked)
        for chunk in chunks([i for i in page if i.id not in linked], CHUNK):
            self._import_chunk(chunk)

    # --- images here already --------------------------------------------------------------

    def _sync(self, images: list[SourceImage], linked: dict[str, uuid.UUID]) -> None:
        ids = [linked[i.id] for i in images]
        local = {i.id: i for i in Image.objects.filter(pk__in=ids)}
        tags_now: dict[uuid.UUID, set[uuid.UUID]] = {i: set() for i in ids}
        for image_id, tag_id in ImageTag.objects.filter(image_id__in=ids).values_list(
            "image_id", "tag_id"
        ):
            tags_now[image_id].add(tag_id)
        boxes_now = _region_keys(ids) if self.project.is_detection else {}
        for source in images:
            image = local[linked[source.id]]
            try:
                changed = self._sync_one(source, image, tags_now[image.id], boxes_now)
            except ValidationError as exc:
                self.counts["failed"] += 1
                self.run.fail_image(self.name, source.id, " ".join(exc.messages))
                continue
            self.counts["updated" if changed else "unchanged"] += 1
        self.run.done += len(images)

    def _sync_one(
        self,
        source: SourceImage,
        image: Image,
        tags_now: set[uuid.UUID],
        boxes_now: dict[uuid.UUID, Counter[tuple[object, ...]]],
    ) -> bool:
        metadata = metadata_clean(source.metadata)
        changed = False
        with transaction.atomic():
            if metadata != image.metadata:
                Image.objects.filter(pk=image.pk).update(metadata=metadata)
                changed = True
            if self.project.is_detection:
                boxes = _boxes(source, self.mapping)
                if isinstance(boxes, str):
                    raise ValidationError(boxes)
                wanted = Counter(_key(uuid.UUID(str(t)), box) for t, *box in boxes)
                if wanted != boxes_now.get(image.id, Counter()):
                    regions_replace(image=image, boxes=boxes_of(boxes, self.tags))
                    changed = True
            else:
                wanted_tags = {
                    uuid.UUID(self.mapping[t]) for t in source.tag_ids if t in self.mapping
                }
                if wanted_tags != tags_now:
                    ImageTag.objects.filter(image=image).exclude(tag_id__in=wanted_tags).delete()
                    ImageTag.objects.bulk_create(
                        [ImageTag(image=image, tag_id=t) for t in wanted_tags - tags_now]
                    )
                    Image.objects.filter(pk=image.pk).update(tagged=bool(wanted_tags))
                    changed = True
        return changed

    # --- new images -----------------------------------------------------------------------

    def _import_chunk(self, chunk: list[SourceImage]) -> None:
        run, mapping = self.run, self.mapping
        boxes = [_boxes(i, mapping) if self.project.is_detection else [] for i in chunk]
        wanted = {i.id: _uuid(i.id) for i in chunk}
        taken = set(
            Image.objects.filter(pk__in=[u for u in wanted.values() if u]).values_list(
                "pk", flat=True
            )
        )
        ids = [None if wanted[i.id] in taken else wanted[i.id] for i in chunk]
        with ThreadPoolExecutor(max_workers=PARALLEL_DOWNLOADS) as pool:
            uploads = list(
                pool.map(lambda i, b, u: _download(run.source, i, b, u), chunk, boxes, ids)
            )
        entries = [
            (upload, [mapping[t] for t in image.tag_ids if t in mapping])
            for upload, image in zip(uploads, chunk, strict=True)
        ]
        results = images_create_each(
            project=self.project, entries=entries, source=Image.Source.AZURE
        )
        brought = []
        for image, upload, result in zip(chunk, uploads, results, strict=True):
            if result.status.ok and result.image is not None:
                brought.append(
                    AzureImportedImage(
                        imported_project=self.link, source_image_id=image.id, image=result.image
                    )
                )
                # A duplicate of an image here (a run that stopped between storing an image
                # and noting it) is that image, unchanged.
                self.counts["added" if result.status == "OK" else "unchanged"] += 1
                self.counts["regions"] += len(upload.regions)
            else:
                self.counts["failed"] += 1
                run.fail_image(self.name, image.id, f"{result.status.value}: {result.message}")
        AzureImportedImage.objects.bulk_create(
            brought,
            update_conflicts=True,
            unique_fields=["imported_project", "source_image_id"],
            update_fields=["image"],
        )
        run.done += len(chunk)

    # --- images the source no longer has --------------------------------------------------

    def removed_in_source(self) -> None:
        links = AzureImportedImage.objects.filter(
            imported_project=self.link, image__isnull=False, image__removed_at__isnull=True
        ).values_list("pk", "source_image_id", "image_id")
        # Compared here, not in SQL: `seen` may hold more ids than a query may carry.
        gone = {
            source_id: (pk, image_id)
            for pk, source_id, image_id in links.iterator(chunk_size=2000)
            if source_id not in self.seen
        }
        if gone:
            gone = self._confirmed_gone(gone)
        self.counts["removed_in_source"] = len(gone)
        if not gone or not self.run.job.remove_missing:
            return
        if not self.complete:
            self.run.summary.notes.append(
                f"{self.name}: images removed in Azure were not removed here, because not "
                "every image of the project could be read."
            )
            return
        with transaction.atomic():
            removed = images_delete(
                project=self.project, image_ids=[image_id for _pk, image_id in gone.values()]
            )
            AzureImportedImage.objects.filter(pk__in=[pk for pk, _i in gone.values()]).delete()
        self.counts["removed_here"] = removed

    def tags_removed_in_source(self, source_ids: set[str]) -> None:
        """Tags an earlier import brought that the source no longer has: counted, and deleted
        here with the images' when the job asks (their images here lost them in the sync)."""
        gone = {s: t for s, t in self.mapping.items() if s not in source_ids}
        still = {t for s, t in self.mapping.items() if s in source_ids}
        tags = Tag.objects.filter(
            project=self.project, id__in=[t for t in gone.values() if t not in still]
        )
        self.counts["tags_removed_in_source"] = len(gone)
        if not gone or not self.run.job.remove_missing or not self.complete:
            return
        for tag in tags:
            tag_delete(tag=tag)
        kept = {s: t for s, t in self.mapping.items() if s in source_ids}
        AzureImportedProject.objects.filter(pk=self.link.pk).update(tag_map=kept)

    def _confirmed_gone(self, gone: dict[str, tuple[int, Any]]) -> dict[str, tuple[int, Any]]:
        """Those of `gone` the source says it has not: an image re-tagged while its lists were
        read can slip between the tagged and the untagged pages, and must not be removed."""
        try:
            still = self.run.source.images_by_ids(str(self.link.source_project_id), list(gone))
        except TimeLimitReached:
            raise
        except SourceError:
            self.complete = False  # unconfirmed: counted, never removed
            return gone
        for image in still:
            gone.pop(image.id, None)
        return gone


def _key(tag_id: uuid.UUID, box: Sequence[float]) -> tuple[object, ...]:
    # Equal to a millionth of the image, as the regions service compares boxes.
    return (tag_id, *(round(v, 6) for v in box))


def _region_keys(image_ids: list[uuid.UUID]) -> dict[uuid.UUID, Counter[tuple[object, ...]]]:
    found: dict[uuid.UUID, Counter[tuple[object, ...]]] = {}
    rows = Region.objects.filter(image_id__in=image_ids).values_list(
        "image_id", "tag_id", "left", "top", "width", "height"
    )
    for image_id, tag_id, *box in rows:
        found.setdefault(image_id, Counter())[_key(tag_id, box)] += 1
    return found


def azure_imports_fail_stale() -> int:
    """Running jobs whose worker stopped reporting: Failed, with the way to go on."""
    return jobs.sweep(AZURE_IMPORT)
