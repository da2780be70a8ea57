"""Our objects as Custom Vision's JSON (camelCase, ISO-8601 times, GUID strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.bundle import VERSION
from engine.export import SUPPORTED_PLATFORMS
from projects.domains import Domain
from projects.models import Project, Region


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def domain_json(domain: Domain) -> dict[str, Any]:
    return {
        "id": str(domain.id),
        "name": domain.name,
        "type": domain.type,
        # Every domain exports here, not only Azure's compact ones: the model is the same
        # ONNX graph the server runs, whatever its size.
        "exportable": True,
        "enabled": domain.enabled,
        "exportablePlatforms": list(SUPPORTED_PLATFORMS),
        "modelInformation": {"description": domain.description},
    }


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description,
        "settings": {
            "domainId": str(project.domain_id),
            # Azure's is null in an object-detection project: there is no such choice there.
            "classificationType": None if project.is_detection else project.classification_type,
            "targetExportPlatforms": list(project.target_export_platforms),
            "useNegativeSet": True,
            "imageProcessingSettings": {"augmentationMethods": {}},
        },
        "created": iso(project.created_at),
        "lastModified": iso(project.modified_at),
        "thumbnailUri": None,
        "drModeEnabled": False,
        "status": "Succeeded",
    }


def tag_json(tag: Any, image_count: int | None = None) -> dict[str, Any]:
    """A Tag, or a tag as an iteration saw it (training.selectors.SeenTag)."""
    count = image_count if image_count is not None else getattr(tag, "image_count", None)
    if count is None:
        count = tag.image_tags.count()
    return {
        "id": str(tag.id),
        "name": tag.name,
        "description": tag.description,
        "type": tag.type,
        "imageCount": count,
    }


def region_json(region: Region) -> dict[str, Any]:
    """An ImageRegion (its tag read with it: `regions_for_images`)."""
    return {
        "regionId": str(region.id),
        "tagName": region.tag.name,
        "created": iso(region.created_at),
        "tagId": str(region.tag_id),
        "left": region.left,
        "top": region.top,
        "width": region.width,
        "height": region.height,
    }


def image_json(
    image: Any,
    base: str,
    tags: list[dict[str, Any]] | None = None,
    regions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`base` is the absolute training URL prefix; image files are served there by key.
    `tags` replaces the image's current tags (an iteration's view of it); `regions` are its
    regions as `region_json` writes them (an object-detection image's tags are theirs)."""
    if tags is None:
        tags = [
            {"tagId": str(it.tag_id), "tagName": it.tag.name, "created": iso(it.created_at)}
            for it in image.image_tags.all()
        ]
    root = f"{base}/projects/{image.project_id}/images/{image.id}"
    return {
        "id": str(image.id),
        "created": iso(image.created_at),
        "width": image.width,
        "height": image.height,
        **_uris(root),
        "tags": tags,
        "regions": regions or [],
        "metadata": dict(image.metadata),
    }


def iteration_json(iteration: Any) -> dict[str, Any]:
    minutes = round((iteration.training_seconds or 0) / 60)
    return {
        "id": str(iteration.id),
        "name": iteration.name,
        # Azure's iterations read "Training" from Train until done; Microsoft's samples (and
        # many scripts) poll `while status == "Training"`, so a waiting one must read so too.
        # The portal still says Queued.
        "status": "Training" if iteration.status == "Queued" else iteration.status,
        "created": iso(iteration.created_at),
        "lastModified": iso(iteration.trained_at or iteration.started_at or iteration.created_at),
        "trainedAt": iso(iteration.trained_at),
        "projectId": str(iteration.project_id),
        "exportable": iteration.status == "Completed",
        "exportableTo": list(SUPPORTED_PLATFORMS) if iteration.status == "Completed" else [],
        "domainId": str(iteration.domain_id),
        # As the project's: a detector has no classification type (Azure answers null).
        "classificationType": None if iteration.is_detection else iteration.classification_type,
        "trainingType": iteration.training_type,
        "reservedBudgetInHours": round(iteration.reserved_budget_hours),
        "trainingTimeInMinutes": minutes,
        "publishName": iteration.publish_name or None,
        "originalPublishResourceId": (
            str(iteration.prediction_resource_id) if iteration.prediction_resource_id else None
        ),
        "customBaseModelInfo": None,
        "trainingErrorDetails": iteration.error or None,
    }


def performance_json(numbers: dict[str, Any] | None) -> dict[str, Any]:
    def block(values: dict[str, Any]) -> dict[str, Any]:
        return {
            "precision": values["precision"] or 0.0,
            "precisionStdDeviation": values["precision_std"] or 0.0,
            "recall": values["recall"] or 0.0,
            "recallStdDeviation": values["recall_std"] or 0.0,
            "averagePrecision": values["average_precision"] or 0.0,
        }

    if numbers is None:
        return {
            "perTagPerformance": [],
            **block(
                dict.fromkeys(
                    ("precision", "precision_std", "recall", "recall_std", "average_precision")
                )
            ),
        }
    return {
        "perTagPerformance": [
            {"id": t["id"], "name": t["name"], **block(t)} for t in numbers["tags"]
        ],
        **block(numbers["overall"]),
    }


def prediction_json(result: Any) -> dict[str, Any]:
    """An ImagePrediction: a PredictionResult or a StoredPrediction (with `base`, its URIs)."""
    predictions = result.predictions
    if predictions and not isinstance(predictions[0], dict):
        predictions = [
            {
                "probability": p.probability,
                "tagId": p.tag_id,
                "tagName": p.tag_name,
                "tagType": p.tag_type,
                "boundingBox": getattr(p, "bounding_box", None),
            }
            for p in predictions
        ]
    return {
        "id": str(result.id),
        "project": str(result.project_id),
        "iteration": str(result.iteration_id) if result.iteration_id else None,
        "created": iso(getattr(result, "created", None) or result.created_at),
        "predictions": [
            _prediction(
                p["probability"], p["tagId"], p["tagName"], p["tagType"], p.get("boundingBox")
            )
            for p in predictions
        ],
    }


def _prediction(
    probability: float,
    tag_id: str,
    tag_name: str,
    tag_type: str,
    box: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "probability": probability,
        "tagId": tag_id,
        "tagName": tag_name,
        "tagType": tag_type,
        "boundingBox": box,
    }


def bounding_box_json(left: float, top: float, width: float, height: float) -> dict[str, float]:
    return {"left": left, "top": top, "width": width, "height": height}


def _performance_image_json(outcome: Any, base: str) -> dict[str, Any]:
    """What every ImagePerformance says of its image: ids, size, links and its tags then."""
    image, root = outcome.image, _image_root(base, outcome.image)
    return {
        "id": str(image.id),
        "created": iso(image.created_at),
        "width": image.width,
        "height": image.height,
        "imageUri": f"{root}/original",
        "thumbnailUri": f"{root}/thumbnail",
        "tags": [
            {"tagId": t["id"], "tagName": t["name"], "created": None} for t in outcome.true_tags
        ],
    }


def detection_performance_json(outcome: Any, base: str) -> dict[str, Any]:
    """An ImagePerformance of a detection iteration: the image's boxes when it trained and
    what a model that never saw it detected (training.selectors.DetectionOutcome)."""
    return {
        **_performance_image_json(outcome, base),
        "regions": [
            {
                "regionId": None,
                "tagName": t["name"],
                "created": None,
                "tagId": t["id"],
                **bounding_box_json(*box),
            }
            for t, box in outcome.regions
        ],
        "predictions": [
            _prediction(p, t["id"], t["name"], t["type"], bounding_box_json(*box))
            for t, p, box in outcome.detections
        ],
    }


def image_performance_json(outcome: Any, base: str) -> dict[str, Any]:
    """An ImagePerformance: a training image, its tags and what the iteration predicted."""
    return {
        **_performance_image_json(outcome, base),
        "regions": [],
        "predictions": [_prediction(p, t["id"], t["name"], t["type"]) for t, p in outcome.scored],
    }


def _image_root(base: str, image: Any) -> str:
    return f"{base}/projects/{image.project_id}/images/{image.id}"


def _uris(root: str) -> dict[str, str]:
    return {
        "resizedImageUri": f"{root}/resized",
        "thumbnailUri": f"{root}/thumbnail",
        "originalImageUri": f"{root}/original",
    }


def stored_prediction_json(prediction: Any, base: str) -> dict[str, Any]:
    root = f"{base}/projects/{prediction.project_id}/predictions/{prediction.id}"
    return {**_uris(root), "domain": None, **prediction_json(prediction)}


def suggestion_json(suggestion: Any, base: str) -> dict[str, Any]:
    image = suggestion.image
    root = _image_root(base, image)
    return {
        "id": str(image.id),
        "project": str(image.project_id),
        "iteration": str(suggestion.iteration_id),
        "created": iso(image.created_at),
        "width": image.width,
        "height": image.height,
        **_uris(root),
        "domain": None,
        # An object-detection iteration's suggestions keep their boxes (suggested regions).
        "predictions": [{"boundingBox": None, **p} for p in suggestion.predictions],
        "predictionUncertainty": suggestion.uncertainty,
    }


def export_json(export: Any, download_uri: str | None) -> dict[str, Any]:
    return {
        "platform": export.platform,
        "status": export.status,
        "downloadUri": download_uri,
        "flavor": export.flavor or None,
        "newerVersionAvailable": export.status == "Done" and export.format_version < VERSION,
    }
