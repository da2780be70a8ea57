"""The portal's project pages as a tree: each prefix written once, its pages below it."""

from django.urls import URLPattern, URLResolver, include, path

from projects import azure_views, region_views, sample_views, transfer_views, views

app_name = "projects"

image_urls: list[URLPattern | URLResolver] = [  # projects/<project_id>/images/<image_id>/
    path("", views.image_detail, name="image"),
    path("file/", views.image_file, name="image_file"),
    path("thumbnail/", views.image_thumbnail, name="image_thumbnail"),
    path("delete/", views.image_delete, name="image_delete"),
    path("regions/", region_views.image_regions, name="image_regions"),
    path("proposals/", region_views.image_proposals, name="image_proposals"),
]

images_urls: list[
    URLPattern | URLResolver
] = [  # projects/<project_id>/images/: the Training Images tab
    path("", views.training_images, name="images"),
    path("upload/", views.images_upload, name="upload"),
    path("bulk/", views.images_bulk, name="bulk"),
    path("<uuid:image_id>/", include(image_urls)),
]

tag_urls: list[URLPattern | URLResolver] = [  # projects/<project_id>/tags/
    path("", views.tags, name="tags"),
    path("<uuid:tag_id>/", views.tag_edit, name="tag_edit"),
    path("<uuid:tag_id>/delete/", views.tag_delete, name="tag_delete"),
]

project_urls: list[URLPattern | URLResolver] = [  # projects/<project_id>/
    path("", views.project_detail, name="detail"),
    path("images/", include(images_urls)),
    path("tags/", include(tag_urls)),
    path("settings/", views.project_settings, name="settings"),
    path("export/", transfer_views.project_export, name="export"),
    path("delete/", views.project_delete, name="delete"),
]

azure_urls: list[
    URLPattern | URLResolver
] = [  # import/azure/: projects copied from a Custom Vision account
    path("", azure_views.azure_import_page, name="azure_import"),
    path("<uuid:job_id>/", azure_views.azure_import_job, name="azure_import_job"),
    path("<uuid:job_id>/ids.csv", azure_views.azure_import_ids, name="azure_import_ids"),
    path(
        "listings/<uuid:listing_id>/", azure_views.azure_listing_state, name="azure_listing_state"
    ),
]

urlpatterns = [
    path("projects/", views.project_list, name="list"),
    path("projects/new/", views.project_create, name="create"),
    path("projects/sample/", sample_views.sample_load, name="sample"),
    path("projects/import/", transfer_views.project_import, name="import"),
    path(
        "projects/import/<uuid:job_id>/",
        transfer_views.archive_import_job,
        name="archive_import_job",
    ),
    path("projects/<uuid:project_id>/", include(project_urls)),
    path("import/azure/", include(azure_urls)),
    path("resources/", views.resources, name="resources"),
    path(
        "resources/<uuid:resource_id>/regenerate/<int:which>/",
        views.resource_regenerate,
        name="resource_regenerate",
    ),
]
