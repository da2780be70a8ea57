"""Images sent to the prediction endpoint (not /nostore), with what the model said."""

from __future__ import annotations

import uuid

from django.db import models

from projects.models import Project
from training.models import Iteration


class StoredPrediction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="predictions")
    iteration = models.ForeignKey(
        Iteration, null=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255)
    content_hash = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    application = models.CharField(max_length=200, blank=True)
    predictions = models.JSONField(
        default=list, help_text="[{tagId, tagName, tagType, probability}]"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Prediction {self.id}"
