"""Every write to resources, projects, tags and images goes through these functions.

The portal, the admin, management commands and (later) the Custom Vision API call the same
services, so each rule exists once.
"""

from projects.services.image_tags import ImageTagsResult, image_tags_create, image_tags_delete
from projects.services.images import (
    ImageCreateResult,
    ImageUpload,
    MetadataResult,
    batch_size_check,
    image_tags_set,
    images_create,
    images_create_each,
    images_delete,
    images_metadata_update,
    images_purge_removed,
    images_tags_add,
    images_tags_remove,
)
from projects.services.projects import project_create, project_delete, project_update
from projects.services.regions import (
    RegionBatch,
    RegionBox,
    RegionEntry,
    regions_create,
    regions_delete,
    regions_replace,
    regions_save,
)
from projects.services.resources import (
    ResourceKeys,
    default_resource_name,
    free_resource_name,
    resource_create,
    resource_delete,
    resource_regenerate_key,
    resources_create_both,
)
from projects.services.sample import sample_project_load
from projects.services.tags import (
    tag_create,
    tag_delete,
    tag_update,
    tags_get_or_create,
    tags_with_typed,
)

__all__ = [
    "ImageCreateResult",
    "ImageTagsResult",
    "ImageUpload",
    "MetadataResult",
    "RegionBatch",
    "RegionBox",
    "RegionEntry",
    "ResourceKeys",
    "batch_size_check",
    "default_resource_name",
    "free_resource_name",
    "image_tags_create",
    "image_tags_delete",
    "image_tags_set",
    "images_create",
    "images_create_each",
    "images_delete",
    "images_metadata_update",
    "images_purge_removed",
    "images_tags_add",
    "images_tags_remove",
    "project_create",
    "project_delete",
    "project_update",
    "regions_create",
    "regions_delete",
    "regions_replace",
    "regions_save",
    "resource_create",
    "resource_delete",
    "resource_regenerate_key",
    "resources_create_both",
    "sample_project_load",
    "tag_create",
    "tag_delete",
    "tag_update",
    "tags_get_or_create",
    "tags_with_typed",
]
