from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("projects/<uuid:project_id>/train/", views.train, name="train"),
    path("projects/<uuid:project_id>/performance/", views.performance, name="performance_latest"),
    path(
        "projects/<uuid:project_id>/performance/<uuid:iteration_id>/",
        views.performance,
        name="performance",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/status/",
        views.status,
        name="status",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/cancel/",
        views.cancel,
        name="cancel",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/rename/",
        views.rename,
        name="rename",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/delete/",
        views.delete,
        name="delete",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/publish/",
        views.publish,
        name="publish",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/export/",
        views.export,
        name="export",
    ),
    path(
        "projects/<uuid:project_id>/iterations/<uuid:iteration_id>/unpublish/",
        views.unpublish,
        name="unpublish",
    ),
    path(
        "projects/<uuid:project_id>/performance/<uuid:iteration_id>/confusion/"
        "<uuid:true_tag_id>/<uuid:predicted_tag_id>/",
        views.confusion_cell,
        name="confusion_cell",
    ),
    path(
        "projects/<uuid:project_id>/performance/<uuid:iteration_id>/tags/<uuid:tag_id>/"
        "<slug:kind>/",
        views.tag_errors,
        name="tag_errors",
    ),
]
