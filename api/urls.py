from django.urls import path, register_converter

from api import images_views as i
from api import prediction_views as p
from api import training_views as t


class VersionConverter:
    """The API versions Custom Vision clients call: v3.0 … v3.4-preview."""

    regex = r"v3\.[0-4](?:-preview)?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class PredictionWord:
    regex = "[Pp]rediction"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(VersionConverter, "cvversion")
register_converter(PredictionWord, "predictionword")

training = "customvision/<cvversion:version>/training"
iteration = f"{training}/projects/<uuid:project_id>/iterations/<uuid:iteration_id>"
# Prediction is v3.0 and v3.1 (the SDK says "prediction"; REST samples say "Prediction").
prediction = "customvision/<cvversion:version>/<predictionword:_word>"
classify = f"{prediction}/<uuid:project_id>/classify/iterations/<str:publish_name>"

urlpatterns = [
    path(f"{training}/domains", t.domains),
    path(f"{training}/domains/<uuid:domain_id>", t.domain),
    path(f"{training}/projects", t.projects),
    path(f"{training}/projects/<uuid:project_id>", t.project),
    path(f"{training}/projects/<uuid:project_id>/tags", t.tags),
    path(f"{training}/projects/<uuid:project_id>/tags/<uuid:tag_id>", t.tag),
    path(f"{training}/projects/<uuid:project_id>/images", i.images),
    path(f"{training}/projects/<uuid:project_id>/images/files", i.images_files),
    path(f"{training}/projects/<uuid:project_id>/images/tagged", i.images_tagged),
    path(f"{training}/projects/<uuid:project_id>/images/untagged", i.images_untagged),
    path(f"{training}/projects/<uuid:project_id>/images/id", i.images_by_ids),
    path(f"{training}/projects/<uuid:project_id>/images/count", i.images_count),
    path(
        f"{training}/projects/<uuid:project_id>/images/tagged/count",
        i.images_count,
        {"state": "tagged"},
    ),
    path(
        f"{training}/projects/<uuid:project_id>/images/untagged/count",
        i.images_count,
        {"state": "untagged"},
    ),
    path(f"{training}/projects/<uuid:project_id>/images/tags", i.image_tags),
    path(f"{training}/projects/<uuid:project_id>/images/<uuid:image_id>/<str:size>", i.image_file),
    path(f"{training}/projects/<uuid:project_id>/train", i.train),
    path(f"{training}/projects/<uuid:project_id>/iterations", i.iterations),
    path(f"{training}/projects/<uuid:project_id>/iterations/<uuid:iteration_id>", i.iteration),
    path(
        f"{training}/projects/<uuid:project_id>/iterations/<uuid:iteration_id>/performance",
        i.performance,
    ),
    path(f"{iteration}/publish", i.publish),
    path(f"{classify}/image", p.classify_image, {"store": True}),
    path(f"{classify}/image/nostore", p.classify_image, {"store": False}),
]
