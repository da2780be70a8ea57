"""Images sent to the prediction endpoint (not /nostore), with what the model said."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from projects.models import Image, Project, UUIDModel
from training.models import Iteration


class StoredPrediction(UUIDModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="predictions")
    iteration = models.ForeignKey(
        Iteration, null=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    file = models.FileField(max_length=255)
    # Made when first looked at (prediction_thumbnail_name), not by the prediction endpoint.
    thumbnail = models.FileField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    application = models.CharField(max_length=200, blank=True)
    predictions = models.JSONField(
        default=list, help_text="[{tagId, tagName, tagType, probability}]"
    )
    # The request's time, set by whoever writes the row (possibly a moment later).
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Prediction {self.id}"


class Suggestion(models.Model):
    """What an iteration's model says about an untagged image (Suggested tags), computed once
    per iteration and image so the Untagged view can sort and filter by it."""

    iteration = models.ForeignKey(Iteration, on_delete=models.CASCADE, related_name="suggestions")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="suggestions")
    predictions = models.JSONField(help_text="[{tagId, tagName, tagType, probability}], best first")
    uncertainty = models.FloatField(help_text="1 = the model cannot tell; 0 = certain")
    top_tag_id = models.UUIDField()
    top_probability = models.FloatField()
    # Suggested objects' "Discard": the drafts were wrong; the image leaves that list (it stays
    # untagged, for a person to draw its boxes) until another iteration suggests again.
    discarded = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["iteration", "image"], name="uniq_suggestion")
        ]
        indexes = [models.Index(fields=["iteration", "uncertainty"])]

    def __str__(self) -> str:
        return f"{self.iteration_id}/{self.image_id}"
