"""The OpenAPI 3.1 description of our Custom Vision routes, written from api.urls.ROUTES so it
cannot drift from what is served."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from core.codes import AzureCode as C

# Every route answers under each version (Microsoft's REST quickstart calls prediction as v3.3).
_ALL_VERSIONS = ["v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview"]
VERSIONS = {"training": _ALL_VERSIONS, "prediction": _ALL_VERSIONS}
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

# Query parameters of the operations that take them (names as the SDK sends them).
_FILTERS = ["iterationId", "tagIds", "taggingStatus", "$filter"]
_PAGE = ["orderBy", "take", "skip"]
QUERY: dict[str, list[str]] = {
    "CreateProject": [
        "name",
        "description",
        "domainId",
        "classificationType",
        "targetExportPlatforms",
    ],
    "ImportProject": ["token", "name"],
    "GetTags": ["iterationId"],
    "GetTag": ["iterationId"],
    "CreateTag": ["name", "description", "type"],
    "GetImages": _FILTERS + _PAGE,
    "GetImageCount": _FILTERS,
    "CreateImagesFromData": ["tagIds"],
    "DeleteImages": ["imageIds", "allImages", "allIterations"],
    "UpdateImageMetadata": ["imageIds"],
    "GetArtifact": ["path"],
    "GetTaggedImages": ["iterationId", "tagIds", *_PAGE],
    "GetUntaggedImages": ["iterationId", *_PAGE],
    "GetImagesByIds": ["imageIds", "iterationId"],
    "GetTaggedImageCount": ["iterationId", "tagIds"],
    "GetUntaggedImageCount": ["iterationId"],
    "DeleteImageTags": ["imageIds", "tagIds"],
    "DeleteImageRegions": ["regionIds"],
    "QuerySuggestedImages": ["iterationId"],
    "QuerySuggestedImageCount": ["iterationId"],
    "SuggestTagsAndRegions": ["iterationId", "imageIds"],
    "TrainProject": ["trainingType", "reservedBudgetInHours", "forceTrain"],
    "GetIterationPerformance": ["threshold", "overlapThreshold"],
    "GetImagePerformances": ["tagIds", *_PAGE],
    "GetImagePerformanceCount": ["tagIds"],
    "PublishIteration": ["publishName", "predictionId", "overwrite"],
    "ExportIteration": ["platform", "flavor"],
    "QuickTestImage": ["iterationId", "store"],
    "QuickTestImageUrl": ["iterationId", "store"],
    "DeletePrediction": ["ids"],
    **{
        f"{verb}Image{kind}": ["application"]
        for verb in ("Classify", "Detect")
        for kind in ("", "WithNoStore", "Url", "UrlWithNoStore")
    },
}


# Operations whose body is a JSON object (the rest take none, image bytes or multipart).
JSON_BODY = {
    "CreateProject",
    "UpdateImageMetadata",
    "CreateImageRegions",
    "CreateImagesFromFiles",
    "CreateImagesFromPredictions",
    "CreateImagesFromUrls",
    "CreateImageTags",
    "UpdateProject",
    "UpdateTag",
    "UpdateIteration",
    "TrainProject",
    "QueryPredictions",
    "QuerySuggestedImages",
    "QuerySuggestedImageCount",
    "ClassifyImageUrl",
    "ClassifyImageUrlWithNoStore",
    "DetectImageUrl",
    "DetectImageUrlWithNoStore",
    "QuickTestImageUrl",
}


# The codes each operation may answer with, beyond those every operation may (EVERY) and
# those of a JSON body (JSON_CODES): what an SDK caller can expect in CustomVisionError.code.
EVERY = [
    C.BAD_REQUEST,
    C.BAD_REQUEST_INVALID,
    C.UNAUTHORIZED,
    C.NOT_FOUND,
    C.METHOD_NOT_ALLOWED,
    C.INTERNAL_SERVER_ERROR,
]
JSON_CODES = [C.BAD_REQUEST_INVALID_JSON, C.BAD_REQUEST_IMAGE_BATCH]
_IDS = [C.BAD_REQUEST_INVALID_IDS]
_PROJECT = [
    C.BAD_REQUEST_NOT_SUPPORTED,
    C.BAD_REQUEST_DOMAIN_INVALID,
    C.BAD_REQUEST_INVALID_IDS,
    C.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM,
]
_BATCH = [
    C.BAD_REQUEST_IMAGE_BATCH,
    C.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
    C.BAD_REQUEST_INVALID_IDS,
    C.BAD_REQUEST_IMAGE_METADATA_KEY,
    C.BAD_REQUEST_IMAGE_METADATA_VALUE,
]
# Images that carry regions (an object-detection project's entries).
_ENTRIES = [*_BATCH, C.BAD_REQUEST_IMAGE_REGIONS]
_REGIONS = [
    C.BAD_REQUEST_OPERATION_NOT_SUPPORTED,  # a classification project's
    C.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
    C.BAD_REQUEST_INVALID_IDS,
]
_IMAGE = [
    C.BAD_REQUEST_IMAGE_STREAM,
    C.BAD_REQUEST_IMAGE_FORMAT,
    C.BAD_REQUEST_IMAGE_SIZE_BYTES,
    C.BAD_REQUEST_IMAGE_DIMENSIONS,
]
_URL = [C.BAD_REQUEST_IMAGE_URL, *_IMAGE[1:]]
_TRAINED = [C.BAD_REQUEST_INVALID_IDS, C.BAD_REQUEST_ITERATION_IS_NOT_TRAINED]
_QUICK_TEST = [*_TRAINED, C.BAD_REQUEST_NO_VALID_ITERATION]
_PREDICT = [
    C.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
    C.BAD_REQUEST_OPERATION_NOT_SUPPORTED,  # a detector asked to classify, or the reverse
    C.SERVICE_UNAVAILABLE,
]
_TAG_SET = [C.ERROR_TAG_LIMIT_EXCEED, C.ERROR_INVALID_TAG, C.ERROR_NEGATIVE_AND_REGULAR_TAG]
CODES: dict[str, list[C]] = {
    "CreateProject": [C.BAD_REQUEST_PROJECT_NAME, *_PROJECT],
    "UpdateProject": [*_PROJECT, C.BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE],
    "ImportProject": [C.BAD_REQUEST_INVALID_IMPORT_TOKEN],
    "GetTags": _IDS,
    "GetTag": _IDS,
    "CreateTag": [C.BAD_REQUEST_TAG_NAME_NOT_UNIQUE],
    "UpdateTag": [C.BAD_REQUEST_TAG_NAME_NOT_UNIQUE],
    "GetImages": _IDS,
    "GetImageCount": _IDS,
    "GetTaggedImages": _IDS,
    "GetUntaggedImages": _IDS,
    "GetImagesByIds": _IDS,
    "GetTaggedImageCount": _IDS,
    "GetUntaggedImageCount": _IDS,
    "DeleteImages": _IDS,
    "CreateImagesFromData": [*_BATCH, C.BAD_REQUEST_IMAGE_STREAM],
    "CreateImagesFromFiles": _ENTRIES,
    "CreateImagesFromUrls": [*_ENTRIES, C.BAD_REQUEST_IMAGE_URL],
    "CreateImagesFromPredictions": _ENTRIES,
    "UpdateImageMetadata": _BATCH,
    "CreateImageTags": [*_IDS, *_TAG_SET, C.BAD_REQUEST_IMAGE_TAGS],
    "DeleteImageTags": _IDS,
    "CreateImageRegions": [*_REGIONS, C.BAD_REQUEST_IMAGE_REGIONS],
    "DeleteImageRegions": _REGIONS,
    "GetImageRegionProposals": [*_REGIONS, C.ERROR_REGION_PROPOSAL],
    "GetArtifact": [C.BAD_REQUEST_INVALID_ARTIFACT_URI],
    "QuerySuggestedImages": _TRAINED,
    "QuerySuggestedImageCount": _TRAINED,
    "SuggestTagsAndRegions": _TRAINED,
    "TrainProject": [
        C.BAD_REQUEST_NOT_SUPPORTED,
        C.BAD_REQUEST_TRAINING_VALIDATION_FAILED,
        C.BAD_REQUEST_MULTICLASS_TRAINING_VALIDATION_FAILED,
        C.BAD_REQUEST_MULTILABEL_TRAINING_VALIDATION_FAILED,
        C.BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED,
        C.BAD_REQUEST_NOT_ENOUGH_IMAGES_PER_TAG,
        C.BAD_REQUEST_TRAINING_NOT_NEEDED,
        C.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
        C.BAD_REQUEST_RESERVED_BUDGET_NOT_ENOUGH,
        C.BAD_REQUEST_EXCEEDED_QUOTA,
        C.SERVICE_UNAVAILABLE,
    ],
    "UpdateIteration": [C.BAD_REQUEST_ITERATION_NAME],
    "DeleteIteration": [
        C.BAD_REQUEST_ITERATION_IS_PUBLISHED,
        C.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
    ],
    "GetIterationPerformance": [C.BAD_REQUEST_ITERATION_IS_NOT_TRAINED],
    "GetImagePerformances": _IDS,
    "GetImagePerformanceCount": _IDS,
    "PublishIteration": [
        C.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
        C.BAD_REQUEST_INVALID_PUBLISH_NAME,
        C.BAD_REQUEST_INVALID_PUBLISH_TARGET,
        C.BAD_REQUEST_PUBLISH_NAME_NOT_UNIQUE,
    ],
    "ExportIteration": [
        C.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM,
        C.BAD_REQUEST_EXPORT_WHILE_TRAINING,
        C.BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS,
        C.SERVICE_UNAVAILABLE,
    ],
    "QuickTestImage": [*_QUICK_TEST, *_IMAGE],
    "QuickTestImageUrl": [*_QUICK_TEST, *_URL],
    "DeletePrediction": _IDS,
    "QueryPredictions": _IDS,
    **{f"ClassifyImage{kind}": [*_PREDICT, *_IMAGE] for kind in ("", "WithNoStore")},
    **{f"ClassifyImageUrl{kind}": [*_PREDICT, *_URL] for kind in ("", "WithNoStore")},
    **{f"DetectImage{kind}": [*_PREDICT, *_IMAGE] for kind in ("", "WithNoStore")},
    **{f"DetectImageUrl{kind}": [*_PREDICT, *_URL] for kind in ("", "WithNoStore")},
}


def operation_codes(operation_id: str) -> list[str]:
    """Every code `operation_id` may answer with, each once, in the catalogue's order."""
    wanted = {*EVERY, *CODES.get(operation_id, [])}
    if operation_id in JSON_BODY:
        wanted |= set(JSON_CODES)
    return [code.value for code in C if code in wanted]


def _errors(operation_id: str) -> dict[str, Any]:
    codes = operation_codes(operation_id)
    return {
        "description": "Error in Custom Vision's shape; `code` is one of: " + ", ".join(codes),
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {"properties": {"code": {"enum": codes}}},
                    ]
                }
            }
        },
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _template(api: str, route_path: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = [
        {
            "name": "version",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": VERSIONS[api]},
        }
    ]

    def replace(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "str", _camel(match.group(2))
        schema: dict[str, Any] = {"type": "string"}
        if converter == "uuid":
            schema["format"] = "uuid"
        elif converter == "imagesize":
            schema["enum"] = ["original", "resized", "thumbnail"]
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    word = "training" if api == "training" else "prediction"
    return f"/customvision/{{version}}/{word}/" + _PARAM.sub(replace, route_path), params


def build(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        template, params = _template(route.api, route.path)
        item = paths.setdefault(template, {})
        for method, operation_id in route.operations.items():
            query = [
                {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                for q in QUERY.get(operation_id, [])
            ]
            operation: dict[str, Any] = {
                "operationId": operation_id,
                "tags": [route.api.title()],
                "parameters": params + query,
                "security": [{f"{route.api.title()}Key": []}, {"SubscriptionKey": []}],
                "responses": {
                    "200": {"description": "Success (JSON in Custom Vision's shape)."},
                    "204": {"description": "Done, no content."},
                    "207": {"description": "A batch where some images failed."},
                    "default": _errors(operation_id),
                },
                "x-ms-error-codes": operation_codes(operation_id),
            }
            if operation_id in JSON_BODY:
                operation["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            item[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Custom Vision-compatible Training and Prediction API",
            "version": "3.4-preview",
            "description": (
                "Azure Custom Vision's classification and object-detection API, served by "
                "this self-hosted portal. "
                "Operation ids are the official SDK's."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "TrainingKey": {"type": "apiKey", "in": "header", "name": "Training-Key"},
                "PredictionKey": {"type": "apiKey", "in": "header", "name": "Prediction-Key"},
                "SubscriptionKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Ocp-Apim-Subscription-Key",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["code", "message"],
                }
            },
        },
    }


@require_GET
def document(request: HttpRequest, routes: list[Any]) -> JsonResponse:
    return JsonResponse(build(routes))
