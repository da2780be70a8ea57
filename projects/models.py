"""Resources, projects, tags and images.

Ids are UUIDs because Custom Vision's are GUIDs and clients written for it pass them around.
Business rules live in `services/`; models only describe data and its integrity constraints.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from projects.domains import DOMAIN_CHOICES, DOMAINS_BY_ID, GENERAL, OBJECT_DETECTION, Domain


class UUIDModel(models.Model):
    """A row whose id is a random UUID: Custom Vision's ids are GUIDs, and clients written
    for it pass them around."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class NamedModel(UUIDModel):
    """A UUID row people know by its `name`."""

    name: str  # each model declares the field, with its own length

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class Resource(UUIDModel):
    """A training or prediction resource, like an Azure Custom Vision resource, with two keys.

    Keys are stored only as SHA-256 hashes: they are 128-bit random tokens, so a fast hash is
    enough and lets a request be matched by an indexed lookup.
    """

    class Kind(models.TextChoices):
        TRAINING = "training", "Training"
        PREDICTION = "prediction", "Prediction"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cv_resources"
    )
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key1_hash = models.CharField(max_length=64, db_index=True, editable=False)
    key2_hash = models.CharField(max_length=64, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="uniq_resource_name_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Project(NamedModel):
    class ClassificationType(models.TextChoices):
        MULTICLASS = "Multiclass", "Multiclass (single tag per image)"
        MULTILABEL = "Multilabel", "Multilabel (multiple tags per image)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cv_projects"
    )
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    classification_type = models.CharField(
        max_length=16, choices=ClassificationType.choices, default=ClassificationType.MULTICLASS
    )
    domain_id = models.UUIDField(choices=DOMAIN_CHOICES, default=GENERAL.id)
    # Custom Vision's settings.targetExportPlatforms: what the trained model must export to.
    target_export_platforms = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-modified_at"]

    @property
    def is_multiclass(self) -> bool:
        """One tag per image. Never so in object detection: an image's tags are its regions',
        as many as it has boxes of (Azure's classificationType is null there)."""
        return (
            self.classification_type == self.ClassificationType.MULTICLASS and not self.is_detection
        )

    @property
    def domain(self) -> Domain:
        return DOMAINS_BY_ID[self.domain_id]

    @property
    def is_detection(self) -> bool:
        """An object-detection project: its type is its domain's (as in Azure)."""
        return self.domain.type == OBJECT_DETECTION


class Tag(NamedModel):
    class Type(models.TextChoices):
        REGULAR = "Regular"
        NEGATIVE = "Negative"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.REGULAR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = [Lower("name")]
        constraints = [
            models.UniqueConstraint(Lower("name"), "project", name="uniq_tag_name_ci_per_project"),
            # Custom Vision has one Negative tag per project.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(type="Negative"),
                name="one_negative_tag_per_project",
            ),
        ]

    @property
    def is_negative(self) -> bool:
        return self.type == self.Type.NEGATIVE


class Image(UUIDModel):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        URL = "url", "URL"
        PREDICTION = "prediction", "Prediction"
        AZURE = "azure", "Imported from Azure"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the uploaded bytes")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=8, help_text="Format of the uploaded file")
    byte_size = models.PositiveIntegerField(help_text="Size of the uploaded file")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    original_name = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Custom Vision image metadata: string pairs"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set when the image is removed from the project while an iteration still references it:
    # the iteration keeps what it was trained on; the image goes when its last iteration does.
    removed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Whether it carries a tag: kept by the services that tag and untag
    # (services.images.images_tagged_refresh), so the Tagged / Untagged filters and counts read
    # one index instead of probing ImageTag once per image (bench/scale.py).
    tagged = models.BooleanField(default=False)
    tags = models.ManyToManyField(Tag, through="ImageTag", related_name="images")

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="uniq_image_content_per_project"
            )
        ]
        indexes = [
            # Every listing: a project's live images newest first, read in index order (no
            # sort). `tagged` last makes it cover the Tagged / Untagged filters too, so counts
            # and a deep page's start (image_page) never read the table's rows.
            models.Index(
                fields=["project", "removed_at", "-created_at", "id", "tagged"],
                name="image_project_live_newest",
            ),
            # A live image's (project, tagged) and nothing else, so PostgreSQL keeps each key
            # once with a list of rows behind it and an index-only scan of a project's Tagged
            # or Untagged images reads about 1/20 of the listing index's pages. The unfiltered
            # counts no longer read it: they read `ImageCount`, below.
            models.Index(
                fields=["project", "tagged"],
                name="image_project_live_tagged",
                condition=models.Q(removed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.original_name or str(self.id)


class ImageCount(models.Model):
    """A project's live and tagged images, counted by the database itself.

    Triggers on `projects_image` (migration 0010, for PostgreSQL and SQLite) add and subtract
    as rows are inserted, updated or deleted, in the statement that changes them, so the figures
    are exact and commit or roll back with the rows: no ORM path, bulk `update()`, `delete()` or
    raw SQL can leave them behind, and the All / Tagged / Untagged counts read one row whatever
    the project's size (bench/scale.py). The cost: writers that change one project's live or
    tagged images take its row's lock, so they queue on each other until commit. No row means
    no image yet. Nothing in Python writes here.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    live = models.IntegerField(default=0)
    tagged = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.live} images, {self.tagged} tagged"


class ImageTag(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="image_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="image_tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "tag"], name="uniq_image_tag")]
        # The tag filters and per-tag counts start from the tag (the constraint's index starts
        # from the image).
        indexes = [models.Index(fields=["tag", "image"], name="imagetag_tag_image")]

    def __str__(self) -> str:
        return f"{self.image_id} → {self.tag_id}"


class ImportJob(UUIDModel):
    """What every import job has: a status a worker moves on, progress the job page polls,
    a summary, and a heartbeat by which a sweep tells a dead worker's job."""

    class Status(models.TextChoices):
        QUEUED = "Queued"
        RUNNING = "Running"
        COMPLETED = "Completed"
        FAILED = "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=300, blank=True)
    images_total = models.PositiveIntegerField(default=0)
    images_done = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        return round(100 * self.images_done / self.images_total) if self.images_total else 0

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    def progress(self) -> dict[str, object]:
        """The state the job page polls for (the same shape for every kind of import)."""
        return {
            "status": self.status,
            "phase": self.phase,
            "percent": self.percent,
            "done": self.images_done,
            "total": self.images_total,
            "active": self.is_active,
        }


def one_active_per_owner(name: str) -> models.UniqueConstraint:
    """One import per user at a time, held by the database against two requests at once."""
    return models.UniqueConstraint(
        fields=["owner"], condition=models.Q(status__in=["Queued", "Running"]), name=name
    )


class AzureImport(ImportJob):
    """One run of "move my Azure Custom Vision account here" (importazure / the Import page).

    The account's training key is kept encrypted (`projects.azure.secrets`) only while the job
    waits and runs, then wiped.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="azure_imports"
    )
    endpoint = models.URLField(max_length=500)
    # Set by the operator's `importazure` command only: the endpoint's host may then be a
    # private or loopback address. The portal's imports follow the public-address rule.
    trust_endpoint_host = models.BooleanField(default=False)
    key_encrypted = models.TextField(blank=True)
    project_ids = models.JSONField(default=list, help_text="Source project ids; [] = all")
    # Asked for on the Import page: images an earlier import brought that the source no longer
    # has are removed here too. Off by default: a re-import never deletes unasked.
    remove_missing = models.BooleanField(default=False)

    class Meta(ImportJob.Meta):
        constraints = [one_active_per_owner("one_active_azure_import_per_owner")]

    def __str__(self) -> str:
        return f"Import from {self.endpoint} ({self.status})"


class ArchiveImport(ImportJob):
    """One project export archive being imported by a worker (Projects → Import project, for
    archives too large to import inside the request). The archive waits in storage
    (`storage.import_archive_key`) until the job ends; a user runs one at a time."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="archive_imports"
    )
    # The job fails with a message if its resource goes; it must not keep the resource alive.
    resource = models.ForeignKey(Resource, on_delete=models.SET_NULL, null=True, related_name="+")
    name = models.CharField(max_length=200, blank=True, help_text="The name asked for, if any")
    project_name = models.CharField(max_length=200, help_text="The name the project will have")
    archive = models.CharField(max_length=255, blank=True, help_text="Stored name; '' once done")
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(ImportJob.Meta):
        constraints = [one_active_per_owner("one_active_archive_import_per_owner")]

    def __str__(self) -> str:
        return f"Import of {self.project_name} ({self.status})"


class AzureListing(UUIDModel):
    """An Azure account's projects with their image counts, listed by a worker for the Import
    page (the remote may be slow: never inside a web request).

    Only its owner sees it or imports from it. The training key stays encrypted on the row
    until the import starts (the row is then deleted) or the listing fails (wiped); a listing
    nobody imports from is deleted by the sweep."""

    class Status(models.TextChoices):
        QUEUED = "Queued"
        RUNNING = "Running"
        COMPLETED = "Completed"
        FAILED = "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="azure_listings"
    )
    endpoint = models.URLField(max_length=500)
    key_encrypted = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    projects = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(status__in=["Queued", "Running"]),
                name="one_active_azure_listing_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"Projects at {self.endpoint} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class AzureImportedProject(models.Model):
    """Which local project a source project went into, so a second run continues it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.URLField(max_length=500)
    source_project_id = models.CharField(max_length=64)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="azure_sources")
    # Source tag id -> local tag id.
    tag_map = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "endpoint", "source_project_id"], name="uniq_azure_source_project"
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} project {self.source_project_id} → {self.project_id}"


class AzureImportedImage(models.Model):
    """A source image already brought across, and the image it became here: a re-import
    syncs that image's tags, boxes and metadata with the source's instead of downloading it.
    `image` is null once the image is deleted here (the next import brings it back)."""

    imported_project = models.ForeignKey(
        AzureImportedProject, on_delete=models.CASCADE, related_name="images"
    )
    source_image_id = models.CharField(max_length=64)
    image = models.ForeignKey(
        Image, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["imported_project", "source_image_id"], name="uniq_azure_source_image"
            )
        ]

    def __str__(self) -> str:
        return self.source_image_id


class Region(UUIDModel):
    """A tagged box on an image of an object-detection project, normalised to the image
    (0..1, origin top-left), as Azure's `left`, `top`, `width`, `height`.

    Regions are the source of an object-detection image's tags: the services that write them
    keep `ImageTag` (one row per tag with at least one region) and `Image.tagged` in step, so
    the tag filters, counts and iteration snapshots built for classification read the same
    index for both project types.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="regions")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="regions")
    left = models.FloatField()
    top = models.FloatField()
    width = models.FloatField()
    height = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["image", "created_at"], name="region_image_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(left__gte=0, top__gte=0, width__gt=0, height__gt=0)
                & models.Q(left__lte=1, top__lte=1, width__lte=1, height__lte=1),
                name="region_inside_image",
            )
        ]

    def __str__(self) -> str:
        box = ", ".join(f"{v:.3f}" for v in (self.left, self.top, self.width, self.height))
        return f"{self.tag_id} at ({box})"
