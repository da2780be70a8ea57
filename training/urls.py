from django.urls import URLPattern, URLResolver, include, path

from training import views

app_name = "training"

# Below projects/<project_id>/iterations/<iteration_id>/: what the Performance tab does to one.
iteration_urls: list[URLPattern | URLResolver] = [
    path("status/", views.status, name="status"),
    path("cancel/", views.cancel, name="cancel"),
    path("rename/", views.rename, name="rename"),
    path("delete/", views.delete, name="delete"),
    path("publish/", views.publish, name="publish"),
    path("unpublish/", views.unpublish, name="unpublish"),
    path("export/", views.export, name="export"),
]

# Below projects/<project_id>/performance/<iteration_id>/: one iteration's figures and the
# images behind them.
performance_urls: list[URLPattern | URLResolver] = [
    path("", views.performance, name="performance"),
    path(
        "confusion/<uuid:true_tag_id>/<uuid:predicted_tag_id>/",
        views.confusion_cell,
        name="confusion_cell",
    ),
    path("tags/<uuid:tag_id>/<slug:kind>/", views.tag_errors, name="tag_errors"),
]

project_urls: list[URLPattern | URLResolver] = [
    path("train/", views.train, name="train"),
    path("performance/", views.performance, name="performance_latest"),
    path("performance/<uuid:iteration_id>/", include(performance_urls)),
    path("iterations/<uuid:iteration_id>/", include(iteration_urls)),
]

urlpatterns = [path("projects/<uuid:project_id>/", include(project_urls))]
