from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from training.models import Iteration


@admin.register(Iteration)
class IterationAdmin(admin.ModelAdmin[Iteration]):
    list_display = [
        "name",
        "project",
        "status",
        "training_type",
        "backbone",
        "progress",
        "training_seconds",
        "created_at",
    ]
    list_filter = ["status", "training_type", "backbone", "created_at"]
    search_fields = ["name", "id", "project__name", "task_id", "worker"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    exclude = ["metrics"]  # thousands of numbers; the Performance tab shows them
    readonly_fields = [f.name for f in Iteration._meta.fields if f.name not in ("name",)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # iterations come from training, through the Train service
