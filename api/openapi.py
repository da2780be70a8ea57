"""The OpenAPI 3.1 description of our Custom Vision routes, written from api.urls.ROUTES so it
cannot drift from what is served."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

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
    "GetIterationPerformance": ["threshold"],
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
                    "default": {
                        "description": "Error",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
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
                "Azure Custom Vision's classification API, served by this self-hosted portal. "
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
