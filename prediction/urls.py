from django.urls import path

from prediction import views

app_name = "prediction"

P = "projects/<uuid:project_id>"

urlpatterns = [
    path(f"{P}/quicktest/", views.quick_test, name="quick_test"),
    path(f"{P}/predictions/", views.predictions, name="list"),
    path(f"{P}/images/suggested/", views.suggested, name="suggested"),
    path(
        f"{P}/images/<uuid:image_id>/suggested/",
        views.image_suggestion,
        name="image_suggestion",
    ),
    path(f"{P}/predictions/<uuid:prediction_id>/", views.prediction_detail, name="detail"),
    path(f"{P}/predictions/<uuid:prediction_id>/delete/", views.prediction_delete, name="delete"),
    path(
        f"{P}/predictions/<uuid:prediction_id>/regions/",
        views.prediction_save_regions,
        name="save_regions",
    ),
    path(
        f"{P}/predictions/<uuid:prediction_id>/original/",
        views.prediction_file,
        {"size": "original"},
        name="file",
    ),
    path(
        f"{P}/predictions/<uuid:prediction_id>/thumbnail/",
        views.prediction_file,
        {"size": "thumbnail"},
        name="thumbnail",
    ),
]
