"""Resources, projects, tags and images.

Ids are UUIDs because Custom Vision's are GUIDs and clients written for it pass them around.
Business rules live in `services/`; models only describe data and its integrity constraints.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from projects.domains import DOMAIN_CHOICES, GENERAL


class Resource(models.Model):
    """A training or prediction resource, like an Azure Custom Vision resource, with two keys.

    Keys are stored only as SHA-256 hashes: they are 128-bit random tokens, so a fast hash is
    enough and lets a request be matched by an indexed lookup.
    """

    class Kind(models.TextChoices):
        TRAINING = "training", "Training"
        PREDICTION = "prediction", "Prediction"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
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


class Project(models.Model):
    class ClassificationType(models.TextChoices):
        MULTICLASS = "Multiclass", "Multiclass (single tag per image)"
        MULTILABEL = "Multilabel", "Multilabel (multiple tags per image)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
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

    def __str__(self) -> str:
        return self.name

    @property
    def is_multiclass(self) -> bool:
        return self.classification_type == self.ClassificationType.MULTICLASS


class Tag(models.Model):
    class Type(models.TextChoices):
        REGULAR = "Regular", "Regular"
        NEGATIVE = "Negative", "Negative"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
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

    def __str__(self) -> str:
        return self.name

    @property
    def is_negative(self) -> bool:
        return self.type == self.Type.NEGATIVE


class Image(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        URL = "url", "URL"
        PREDICTION = "prediction", "Prediction"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
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
    tags = models.ManyToManyField(Tag, through="ImageTag", related_name="images")

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="uniq_image_content_per_project"
            )
        ]

    def __str__(self) -> str:
        return self.original_name or str(self.id)


class ImageTag(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="image_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="image_tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "tag"], name="uniq_image_tag")]

    def __str__(self) -> str:
        return f"{self.image_id} → {self.tag_id}"
