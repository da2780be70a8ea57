"""Iterations: one training run of a project, with what it saw and what it measured."""

from __future__ import annotations

from django.db import models

from projects.domains import DOMAIN_CHOICES, OBJECT_DETECTION, domain_get
from projects.models import Image, NamedModel, Project, UUIDModel


class Iteration(NamedModel):
    class Status(models.TextChoices):
        QUEUED = "Queued"
        TRAINING = "Training"
        COMPLETED = "Completed"
        FAILED = "Failed"
        CANCELLED = "Cancelled"

    class TrainingType(models.TextChoices):
        REGULAR = "Regular", "Quick training"
        ADVANCED = "Advanced", "Advanced training"

    ACTIVE = (Status.QUEUED, Status.TRAINING)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="iterations")
    name = models.CharField(max_length=200)
    number = models.PositiveIntegerField(default=1, help_text="N of the default name")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    training_type = models.CharField(
        max_length=16, choices=TrainingType.choices, default=TrainingType.REGULAR
    )
    reserved_budget_hours = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=200, blank=True)
    # What the project was when training started: later edits don't change an iteration.
    domain_id = models.UUIDField(choices=DOMAIN_CHOICES)
    classification_type = models.CharField(
        max_length=16, choices=Project.ClassificationType.choices
    )
    tags = models.JSONField(default=list, help_text="[{id, name, type}] in model output order")
    fingerprint = models.CharField(max_length=64, help_text="Hash of the training data")
    backbone = models.CharField(max_length=64, blank=True)
    weights_source = models.CharField(max_length=300, blank=True)
    device = models.CharField(max_length=32, blank=True)
    metrics = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    model_file = models.FileField(max_length=255, blank=True)
    # Published: reachable by the prediction endpoint under this name, with this resource's keys.
    publish_name = models.CharField(max_length=200, blank=True)
    prediction_resource = models.ForeignKey(
        "projects.Resource",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="published_iterations",
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "publish_name"],
                condition=~models.Q(publish_name=""),
                name="uniq_publish_name_per_project",
            )
        ]

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_completed(self) -> bool:
        return self.status == self.Status.COMPLETED

    @property
    def is_published(self) -> bool:
        return bool(self.publish_name)

    @property
    def is_detection(self) -> bool:
        """Trained as an object detector: its domain's type when it was queued."""
        return domain_get(self.domain_id).type == OBJECT_DETECTION

    @property
    def advanced_choice(self) -> str:
        """What an Advanced training ended with, in plain words: "fine-tuned" or "kept the
        quick model" (the engine's `details["kept"]`); "" for any other iteration."""
        if self.training_type != self.TrainingType.ADVANCED:
            return ""
        kept = str((self.details or {}).get("kept", ""))
        return {"finetuned": "fine-tuned", "frozen": "kept the quick model"}.get(kept, "")

    @property
    def advanced_reason(self) -> str:
        """Why, as the engine wrote it ("Kept quick training's model: the budget ran out…"),
        without its opening words, which `advanced_choice` says."""
        why = str((self.details or {}).get("why", "")) if self.advanced_choice else ""
        return why.split(": ", 1)[-1]


class IterationImage(models.Model):
    """One image an iteration trained on, its tags then, and its out-of-fold prediction."""

    iteration = models.ForeignKey(Iteration, on_delete=models.CASCADE, related_name="images")
    # RESTRICT, not PROTECT: deleting the whole project removes both sides together.
    image = models.ForeignKey(Image, on_delete=models.RESTRICT, related_name="iteration_images")
    tag_ids = models.JSONField(default=list)
    fold = models.SmallIntegerField(null=True, blank=True)
    probabilities = models.JSONField(null=True, blank=True, help_text="Out-of-fold, tag order")
    # Object detection: the image's boxes when the iteration was queued, as
    # [[tag index, left, top, width, height], ...] (tag index into Iteration.tags), and the
    # out-of-fold detections after non-maximum suppression, as
    # [[tag index, probability, left, top, width, height], ...]; None when not estimated.
    regions = models.JSONField(null=True, blank=True)
    detections = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["iteration", "image"], name="uniq_iteration_image")
        ]

    def __str__(self) -> str:
        return f"{self.iteration_id}/{self.image_id}"


class Export(UUIDModel):
    """A trained iteration packed for use elsewhere (Azure's ExportIteration), one per
    platform and flavor; exporting again replaces the file."""

    class Status(models.TextChoices):
        EXPORTING = "Exporting"
        DONE = "Done"
        FAILED = "Failed"

    iteration = models.ForeignKey(Iteration, on_delete=models.CASCADE, related_name="exports")
    platform = models.CharField(max_length=32)
    flavor = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.EXPORTING)
    file = models.FileField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The model format version the file was built from: a newer one offers a re-export.
    format_version = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["platform", "flavor"]
        constraints = [
            models.UniqueConstraint(
                fields=["iteration", "platform", "flavor"], name="uniq_export_per_flavor"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform}{'/' + self.flavor if self.flavor else ''} of {self.iteration_id}"
