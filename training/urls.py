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
]
