"""Every Custom Vision route, in one table that also writes the OpenAPI description.

Operation ids are the official SDK's (azure-cognitiveservices-vision-customvision 3.1.1), so a
reader can match each route to the method their code calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, include, path, re_path, register_converter
from django.views.decorators.csrf import csrf_exempt

from api import classify_views as classify
from api import detection_views as detection
from api import exports_views as exports
from api import images_views as images
from api import iterations_views as iterations
from api import openapi
from api import predictions_views as predictions
from api import projects_views as projects
from api import regions_views as regions
from api import suggestions_views as suggestions
from api import tags_views as tags
from core.codes import AzureCode


class _Segment:
    """A path segment kept as written, matched by `regex`."""

    regex = ""

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class VersionConverter(_Segment):
    """The API versions Custom Vision clients call: v3.0 … v3.4-preview."""

    regex = r"v3\.[0-4](?:-preview)?"


class TrainingWord(_Segment):
    """ "training" in any case: Azure's routes ignore the case of these segments (Microsoft's
    REST quickstart writes /Training/ and /Prediction/; the SDKs write them lower case)."""

    regex = "(?i:training)"


class PredictionWord(_Segment):
    regex = "(?i:prediction)"


class ImageSize(_Segment):
    """The three image URLs an image's JSON gives; any other word after an image id is some
    other operation (regionproposals…) and must not serve the image."""

    regex = "original|resized|thumbnail"


register_converter(VersionConverter, "cvversion")
register_converter(TrainingWord, "trainingword")
register_converter(PredictionWord, "predictionword")
register_converter(ImageSize, "imagesize")


@dataclass(frozen=True)
class Route:
    api: str  # "training" or "prediction"
    path: str  # after /customvision/<version>/<api>/
    view: Callable[..., Any]
    operations: dict[str, str]  # HTTP method -> SDK operation id
    kwargs: dict[str, Any] = field(default_factory=dict)


P = "projects/<uuid:project_id>"
IT = f"{P}/iterations/<uuid:iteration_id>"
CLASSIFY = "<uuid:project_id>/classify/iterations/<str:publish_name>"
DETECT = "<uuid:project_id>/detect/iterations/<str:publish_name>"

Train = functools.partial(Route, "training")
Predict = functools.partial(Route, "prediction")

# A published iteration's four ways in, and the end of their SDK operation ids.
_PREDICT = (
    ("image", ""),
    ("image/nostore", "WithNoStore"),
    ("url", "Url"),
    ("url/nostore", "UrlWithNoStore"),
)

ROUTES = [
    Train("domains", projects.domains, {"GET": "GetDomains"}),
    Train("domains/<uuid:domain_id>", projects.domain, {"GET": "GetDomain"}),
    Train("projects", projects.projects, {"GET": "GetProjects", "POST": "CreateProject"}),
    Train("projects/import", projects.import_project, {"POST": "ImportProject"}),
    Train(
        P,
        projects.project,
        {"GET": "GetProject", "PATCH": "UpdateProject", "DELETE": "DeleteProject"},
    ),
    Train(f"{P}/export", projects.export_project, {"GET": "ExportProject"}),
    Train(f"{P}/tags", tags.tags, {"GET": "GetTags", "POST": "CreateTag"}),
    Train(
        f"{P}/tags/<uuid:tag_id>",
        tags.tag,
        {"GET": "GetTag", "PATCH": "UpdateTag", "DELETE": "DeleteTag"},
    ),
    Train(
        f"{P}/images",
        images.images,
        {"GET": "GetImages", "POST": "CreateImagesFromData", "DELETE": "DeleteImages"},
    ),
    Train(f"{P}/images/files", images.images_files, {"POST": "CreateImagesFromFiles"}),
    Train(f"{P}/images/urls", images.images_urls, {"POST": "CreateImagesFromUrls"}),
    Train(
        f"{P}/images/predictions",
        images.images_predictions,
        {"POST": "CreateImagesFromPredictions"},
    ),
    Train(f"{P}/images/tagged", images.images_tagged, {"GET": "GetTaggedImages"}),
    Train(f"{P}/images/untagged", images.images_untagged, {"GET": "GetUntaggedImages"}),
    Train(f"{P}/images/id", images.images_by_ids, {"GET": "GetImagesByIds"}),
    Train(f"{P}/images/count", images.images_count, {"GET": "GetImageCount"}),
    Train(f"{P}/images/metadata", images.images_metadata, {"POST": "UpdateImageMetadata"}),
    Train(
        f"{P}/images/regions",
        regions.image_regions,
        {"POST": "CreateImageRegions", "DELETE": "DeleteImageRegions"},
    ),
    Train(
        f"{P}/images/<uuid:image_id>/regionproposals",
        regions.region_proposals,
        {"POST": "GetImageRegionProposals"},
    ),
    Train(f"{P}/artifacts", projects.artifact, {"GET": "GetArtifact"}),
    *(
        Train(
            f"{P}/images/{state}/count",
            images.images_count,
            {"GET": f"Get{state.title()}ImageCount"},
            {"state": state},
        )
        for state in ("tagged", "untagged")
    ),
    Train(
        f"{P}/images/tags",
        images.image_tags,
        {"POST": "CreateImageTags", "DELETE": "DeleteImageTags"},
    ),
    Train(f"{P}/images/suggested", suggestions.suggested_images, {"POST": "QuerySuggestedImages"}),
    Train(
        f"{P}/images/suggested/count",
        suggestions.suggested_count,
        {"POST": "QuerySuggestedImageCount"},
    ),
    Train(
        f"{P}/images/<uuid:image_id>/<imagesize:size>", images.image_file, {"GET": "GetImageFile"}
    ),
    Train(
        f"{P}/tagsandregions/suggestions",
        suggestions.suggest_tags,
        {"POST": "SuggestTagsAndRegions"},
    ),
    Train(f"{P}/train", iterations.train, {"POST": "TrainProject"}),
    Train(f"{P}/iterations", iterations.iterations, {"GET": "GetIterations"}),
    Train(
        IT,
        iterations.iteration,
        {"GET": "GetIteration", "PATCH": "UpdateIteration", "DELETE": "DeleteIteration"},
    ),
    Train(f"{IT}/performance", iterations.performance, {"GET": "GetIterationPerformance"}),
    Train(f"{IT}/export", exports.exports, {"GET": "GetExports", "POST": "ExportIteration"}),
    Train(
        f"{IT}/performance/images", iterations.image_performances, {"GET": "GetImagePerformances"}
    ),
    Train(
        f"{IT}/performance/images/count",
        iterations.image_performance_count,
        {"GET": "GetImagePerformanceCount"},
    ),
    Train(
        f"{IT}/publish",
        iterations.publish,
        {"POST": "PublishIteration", "DELETE": "UnpublishIteration"},
    ),
    Train(f"{P}/quicktest/image", predictions.quick_test_image, {"POST": "QuickTestImage"}),
    Train(f"{P}/quicktest/url", predictions.quick_test_url, {"POST": "QuickTestImageUrl"}),
    Train(f"{P}/predictions", predictions.predictions, {"DELETE": "DeletePrediction"}),
    Train(f"{P}/predictions/query", predictions.predictions_query, {"POST": "QueryPredictions"}),
    Train(
        f"{P}/predictions/<uuid:prediction_id>/<imagesize:size>",
        predictions.prediction_file,
        {"GET": "GetPredictionImageFile"},
    ),
    *(
        Predict(
            f"{CLASSIFY}/{tail}",
            classify.classify,
            {"POST": f"ClassifyImage{suffix}"},
            {"store": not tail.endswith("nostore"), "source": tail.split("/")[0]},
        )
        for tail, suffix in _PREDICT
    ),
    *(
        Predict(
            f"{DETECT}/{tail}",
            detection.detect,
            {"POST": f"DetectImage{suffix}"},
            {"store": not tail.endswith("nostore"), "source": tail.split("/")[0]},
        )
        for tail, suffix in _PREDICT
    ),
]


# `_word` is the segment as the caller wrote it; api_view drops it.
VERSIONED = {api: f"<cvversion:version>/<{api}word:_word>/" for api in ("prediction", "training")}
PREFIX = {api: f"customvision/{versioned}" for api, versioned in VERSIONED.items()}


def _routes(api: str) -> list[URLPattern]:
    return [path(r.path, r.view, r.kwargs) for r in ROUTES if r.api == api]


@csrf_exempt  # key-authenticated API paths, like every route above
def not_served(request: HttpRequest) -> JsonResponse:
    """Any other Custom Vision path: Azure's error shape, so an SDK caller reads a clear
    message instead of choking on an HTML page."""
    return JsonResponse(
        {
            "code": AzureCode.NOT_FOUND,
            "message": f"{request.method} {request.path} is not served here "
            "(see /customvision/openapi.json for what is).",
        },
        status=404,
    )


# A tree, not a list: Django tries patterns in order, and a prediction found after ~90 flat
# patterns spent 0.15 ms on the misses.
urlpatterns = [
    path(
        "customvision/",
        include(
            [
                path("openapi.json", openapi.document, {"routes": ROUTES}, name="openapi"),
                *(path(prefix, include(_routes(api))) for api, prefix in VERSIONED.items()),
                re_path("", not_served),
            ]
        ),
    ),
]
