from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.http import serve_stored_file
from projects import services
from projects.models import Image, ImageTag, Project, Resource, Tag

DEACTIVATION_HELP = (
    "Unticked, the user can't sign in, and every key of their resources stops working at once "
    "(API calls answer 401 Unauthorized); ticked again, the same keys work again."
)


class UserAdmin(DjangoUserAdmin):
    """Django's user admin, saying what deactivating a user does to their keys."""

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if "is_active" in form.base_fields:
            form.base_fields["is_active"].help_text = DEACTIVATION_HELP
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            count = Resource.objects.filter(owner=obj).count()
            messages.warning(
                request,
                f"{obj.get_username()} is deactivated: they can't sign in, and the keys of "
                f"their {count} resource{'s' if count != 1 else ''} now answer 401.",
            )


admin.site.unregister(User)
admin.site.register(User, UserAdmin)


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin[Resource]):
    list_display = ["name", "kind", "owner", "id", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "id", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    # Only hashes are stored, and even those are never shown.
    fields = ["name", "kind", "owner"]
    actions = ["regenerate_key1", "regenerate_key2"]

    def get_readonly_fields(self, request: HttpRequest, obj: Resource | None = None) -> list[str]:
        return ["kind", "owner"] if obj else []

    def save_model(self, request: HttpRequest, obj: Resource, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created, keys = services.resource_create(owner=obj.owner, name=obj.name, kind=obj.kind)
        obj.pk, obj.key1_hash, obj.key2_hash = created.pk, created.key1_hash, created.key2_hash
        obj._state.adding = False
        messages.warning(
            request,
            f"Keys for {created.name} — copy them now, they are not shown again. "
            f"Key 1: {keys.key1}  Key 2: {keys.key2}",
        )

    def _regenerate(self, request: HttpRequest, queryset: QuerySet[Resource], which: int) -> None:
        for resource in queryset:
            key = services.resource_regenerate_key(resource=resource, which=which)  # type: ignore[arg-type]
            messages.warning(request, f"New Key {which} for {resource.name}: {key} (shown once)")

    @admin.action(description="Regenerate Key 1 (shown once)")
    def regenerate_key1(self, request: HttpRequest, queryset: QuerySet[Resource]) -> None:
        self._regenerate(request, queryset, 1)

    @admin.action(description="Regenerate Key 2 (shown once)")
    def regenerate_key2(self, request: HttpRequest, queryset: QuerySet[Resource]) -> None:
        self._regenerate(request, queryset, 2)


Counted = TypeVar("Counted", Project, Tag)


class _ImageCountAdmin(admin.ModelAdmin[Counted]):
    """An Images column, counted in the list's own query rather than once per row."""

    images_relation: str  # what each row's images are reached by

    def get_queryset(self, request: HttpRequest) -> QuerySet[Counted]:
        return super().get_queryset(request).annotate(_image_count=Count(self.images_relation))

    @admin.display(description="Images", ordering="_image_count")
    def image_count(self, obj: Counted) -> int:
        return obj._image_count  # type: ignore[attr-defined]


@admin.register(Project)
class ProjectAdmin(_ImageCountAdmin[Project]):
    images_relation = "images"
    list_display = [
        "name",
        "owner",
        "classification_type",
        "domain_id",
        "image_count",
        "modified_at",
    ]
    list_filter = ["classification_type", "domain_id", "created_at"]
    search_fields = ["name", "description", "id", "owner__username"]
    list_select_related = ["owner", "resource"]
    raw_id_fields = ["owner", "resource"]
    readonly_fields = ["id", "created_at", "modified_at"]


@admin.register(Tag)
class TagAdmin(_ImageCountAdmin[Tag]):
    images_relation = "image_tags"
    list_display = ["name", "project", "type", "image_count", "created_at"]
    list_filter = ["type"]
    search_fields = ["name", "project__name", "id"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]


class ImageTagInline(admin.TabularInline[ImageTag, Image]):
    model = ImageTag
    raw_id_fields = ["tag"]
    extra = 0


# What ingestion measured of an image's file: listed, and never edited by hand.
_MEASURED = ["width", "height", "format"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin[Image]):
    list_display = ["preview", "original_name", "project", *_MEASURED, "source", "created_at"]
    list_filter = ["format", "source", "created_at"]
    search_fields = ["original_name", "content_hash", "id", "project__name"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    readonly_fields = [
        "preview",
        "content_hash",
        *_MEASURED,
        "byte_size",
        "file",
        "thumbnail",
        "created_at",
    ]
    inlines = [ImageTagInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # images come in through ingestion, which checks and normalises them

    @admin.display(description="Preview")
    def preview(self, obj: Image) -> str:
        url = reverse("admin:projects_image_thumbnail", args=[obj.pk])
        return format_html('<img src="{}" alt="" style="height:64px;border-radius:4px">', url)

    def get_urls(self) -> list[URLPattern]:
        thumb = path(
            "<uuid:image_id>/thumbnail/",
            self.admin_site.admin_view(self.thumbnail_view),
            name="projects_image_thumbnail",
        )
        return [thumb, *super().get_urls()]

    def thumbnail_view(self, request: HttpRequest, image_id: uuid.UUID) -> Any:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        return serve_stored_file(get_object_or_404(Image, pk=image_id).thumbnail.name)
