from django.urls import path

from projects import azure_views, sample_views, transfer_views, views

app_name = "projects"

urlpatterns = [
    path("projects/", views.project_list, name="list"),
    path("projects/new/", views.project_create, name="create"),
    path("projects/import/", transfer_views.project_import, name="import"),
    path(
        "projects/import/<uuid:job_id>/",
        transfer_views.archive_import_job,
        name="archive_import_job",
    ),
    path("projects/sample/", sample_views.sample_load, name="sample"),
    path("import/azure/", azure_views.azure_import_page, name="azure_import"),
    path("import/azure/<uuid:job_id>/", azure_views.azure_import_job, name="azure_import_job"),
    path(
        "import/azure/listings/<uuid:listing_id>/",
        azure_views.azure_listing_state,
        name="azure_listing_state",
    ),
    path("projects/<uuid:project_id>/export/", transfer_views.project_export, name="export"),
    path("projects/<uuid:project_id>/", views.project_detail, name="detail"),
    path("projects/<uuid:project_id>/settings/", views.project_settings, name="settings"),
    path("projects/<uuid:project_id>/delete/", views.project_delete, name="delete"),
    path("projects/<uuid:project_id>/images/", views.training_images, name="images"),
    path("projects/<uuid:project_id>/images/upload/", views.images_upload, name="upload"),
    path("projects/<uuid:project_id>/images/bulk/", views.images_bulk, name="bulk"),
    path("projects/<uuid:project_id>/images/<uuid:image_id>/", views.image_detail, name="image"),
    path(
        "projects/<uuid:project_id>/images/<uuid:image_id>/file/",
        views.image_file,
        name="image_file",
    ),
    path(
        "projects/<uuid:project_id>/images/<uuid:image_id>/thumbnail/",
        views.image_thumbnail,
        name="image_thumbnail",
    ),
    path("projects/<uuid:project_id>/tags/", views.tags, name="tags"),
    path("projects/<uuid:project_id>/tags/<uuid:tag_id>/", views.tag_edit, name="tag_edit"),
    path(
        "projects/<uuid:project_id>/tags/<uuid:tag_id>/delete/", views.tag_delete, name="tag_delete"
    ),
    path("resources/", views.resources, name="resources"),
    path(
        "resources/<uuid:resource_id>/regenerate/<int:which>/",
        views.resource_regenerate,
        name="resource_regenerate",
    ),
]
