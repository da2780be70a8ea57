from django.urls import path, register_converter

from api import training_views as t


class VersionConverter:
    """The API versions Custom Vision clients call: v3.0 … v3.4-preview."""

    regex = r"v3\.[0-4](?:-preview)?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(VersionConverter, "cvversion")

training = "customvision/<cvversion:version>/training"

urlpatterns = [
    path(f"{training}/domains", t.domains),
    path(f"{training}/domains/<uuid:domain_id>", t.domain),
    path(f"{training}/projects", t.projects),
    path(f"{training}/projects/<uuid:project_id>", t.project),
    path(f"{training}/projects/<uuid:project_id>/tags", t.tags),
    path(f"{training}/projects/<uuid:project_id>/tags/<uuid:tag_id>", t.tag),
]
