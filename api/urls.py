"""Every Custom Vision route, in one table that also writes the OpenAPI description.

Operation ids are the official SDK's (azure-cognitiveservices-vision-customvision 3.1.1), so a
reader can match each route to the method their code calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, include, path, re_path, register_converter
from django.views.decorators.csrf import csrf_exempt

from api import detection_views as d
from api import images_views as i
from api import openapi
from api import prediction_views as p
from api import tools_views as x
from api import training_views as t


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

ROUTES = [
    Route("training", "domains", t.domains, {"GET": "GetDomains"}),
    Route("training", "domains/<uuid:domain_id>", t.domain, {"GET": "GetDomain"}),
    Route("training", "projects", t.projects, {"GET": "GetProjects", "POST": "CreateProject"}),
    Route("training", "projects/import", x.import_project, {"POST": "ImportProject"}),
    Route(
        "training",
        P,
        t.project,
        {"GET": "GetProject", "PATCH": "UpdateProject", "DELETE": "DeleteProject"},
    ),
    Route("training", f"{P}/export", x.export_project, {"GET": "ExportProject"}),
    Route("training", f"{P}/tags", t.tags, {"GET": "GetTags", "POST": "CreateTag"}),
    Route(
        "training",
        f"{P}/tags/<uuid:tag_id>",
        t.tag,
        {"GET": "GetTag", "PATCH": "UpdateTag", "DELETE": "DeleteTag"},
    ),
    Route(
        "training",
        f"{P}/images",
        i.images,
        {"GET": "GetImages", "POST": "CreateImagesFromData", "DELETE": "DeleteImages"},
    ),
    Route("training", f"{P}/images/files", i.images_files, {"POST": "CreateImagesFromFiles"}),
    Route("training", f"{P}/images/urls", i.images_urls, {"POST": "CreateImagesFromUrls"}),
    Route(
        "training",
        f"{P}/images/predictions",
        i.images_predictions,
        {"POST": "CreateImagesFromPredictions"},
    ),
    Route("training", f"{P}/images/tagged", i.images_tagged, {"GET": "GetTaggedImages"}),
    Route("training", f"{P}/images/untagged", i.images_untagged, {"GET": "GetUntaggedImages"}),
    Route("training", f"{P}/images/id", i.images_by_ids, {"GET": "GetImagesByIds"}),
    Route("training", f"{P}/images/count", i.images_count, {"GET": "GetImageCount"}),
    Route("training", f"{P}/images/metadata", i.images_metadata, {"POST": "UpdateImageMetadata"}),
    Route(
        "training",
        f"{P}/images/regions",
        d.image_regions,
        {"POST": "CreateImageRegions", "DELETE": "DeleteImageRegions"},
    ),
    Route(
        "training",
        f"{P}/images/<uuid:image_id>/regionproposals",
        d.region_proposals,
        {"POST": "GetImageRegionProposals"},
    ),
    Route("training", f"{P}/artifacts", x.artifact, {"GET": "GetArtifact"}),
    Route(
        "training",
        f"{P}/images/tagged/count",
        i.images_count,
        {"GET": "GetTaggedImageCount"},
        {"state": "tagged"},
    ),
    Route(
        "training",
        f"{P}/images/untagged/count",
        i.images_count,
        {"GET": "GetUntaggedImageCount"},
        {"state": "untagged"},
    ),
    Route(
        "training",
        f"{P}/images/tags",
        i.image_tags,
        {"POST": "CreateImageTags", "DELETE": "DeleteImageTags"},
    ),
    Route(
        "training", f"{P}/images/suggested", x.suggested_images, {"POST": "QuerySuggestedImages"}
    ),
    Route(
        "training",
        f"{P}/images/suggested/count",
        x.suggested_count,
        {"POST": "QuerySuggestedImageCount"},
    ),
    Route(
        "training",
        f"{P}/images/<uuid:image_id>/<imagesize:size>",
        i.image_file,
        {"GET": "GetImageFile"},
    ),
    Route(
        "training",
        f"{P}/tagsandregions/suggestions",
        x.suggest_tags,
        {"POST": "SuggestTagsAndRegions"},
    ),
    Route("training", f"{P}/train", i.train, {"POST": "TrainProject"}),
    Route("training", f"{P}/iterations", i.iterations, {"GET": "GetIterations"}),
    Route(
        "training",
        IT,
        i.iteration,
        {"GET": "GetIteration", "PATCH": "UpdateIteration", "DELETE": "DeleteIteration"},
    ),
    Route("training", f"{IT}/performance", i.performance, {"GET": "GetIterationPerformance"}),
    Route("training", f"{IT}/export", i.exports, {"GET": "GetExports", "POST": "ExportIteration"}),
    Route(
        "training",
        f"{IT}/performance/images",
        x.image_performances,
        {"GET": "GetImagePerformances"},
    ),
    Route(
        "training",
        f"{IT}/performance/images/count",
        x.image_performance_count,
        {"GET": "GetImagePerformanceCount"},
    ),
    Route(
        "training",
        f"{IT}/publish",
        i.publish,
        {"POST": "PublishIteration", "DELETE": "UnpublishIteration"},
    ),
    Route("training", f"{P}/quicktest/image", x.quick_test_image, {"POST": "QuickTestImage"}),
    Route("training", f"{P}/quicktest/url", x.quick_test_url, {"POST": "QuickTestImageUrl"}),
    Route("training", f"{P}/predictions", x.predictions, {"DELETE": "DeletePrediction"}),
    Route("training", f"{P}/predictions/query", x.predictions_query, {"POST": "QueryPredictions"}),
    Route(
        "training",
        f"{P}/predictions/<uuid:prediction_id>/<imagesize:size>",
        x.prediction_file,
        {"GET": "GetPredictionImageFile"},
    ),
    Route(
        "prediction",
        f"{CLASSIFY}/image",
        p.classify,
        {"POST": "ClassifyImage"},
        {"store": True, "source": "image"},
    ),
    Route(
        "prediction",
        f"{CLASSIFY}/image/nostore",
        p.classify,
        {"POST": "ClassifyImageWithNoStore"},
        {"store": False, "source": "image"},
    ),
    Route(
        "prediction",
        f"{CLASSIFY}/url",
        p.classify,
        {"POST": "ClassifyImageUrl"},
        {"store": True, "source": "url"},
    ),
    Route(
        "prediction",
        f"{CLASSIFY}/url/nostore",
        p.classify,
        {"POST": "ClassifyImageUrlWithNoStore"},
        {"store": False, "source": "url"},
    ),
    *(
        Route("prediction", f"{DETECT}/{tail}", d.detect, {"POST": f"DetectImage{suffix}"})
        for tail, suffix in (
            ("image", ""),
            ("image/nostore", "WithNoStore"),
            ("url", "Url"),
            ("url/nostore", "UrlWithNoStore"),
        )
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
            "code": "NotFound",
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
