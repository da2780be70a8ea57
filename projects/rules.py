"""What a project needs before it can train: Custom Vision's minimums, in a module that projects
(the Training Images health panel, the regions services) and training (Train) both read,
without importing each other."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError

from core.codes import AzureCode

MIN_IMAGES_PER_TAG = 5  # Custom Vision's rule for Multiclass projects
MIN_TAGS = 2
MIN_IMAGES_PER_TAG_MULTILABEL = 2  # Multilabel projects train with fewer per tag
# Azure's portal offers advanced budgets up to four days; anything larger (or infinite) would
# hold the only training worker for good.
MAX_BUDGET_HOURS = 96

# --- Object detection (Azure's "Limits and quotas") ------------------------------------------
# "Min labeled images per Tag, Object Detection: 15": an image counts for a tag when it has a
# region of that tag. One tag is enough to train a detector (unlike a classifier).
MIN_IMAGES_PER_TAG_DETECTION = 15
MIN_TAGS_DETECTION = 1
MAX_REGIONS_PER_IMAGE = 300  # "Max number of regions per image (object detection)"
MAX_REGIONS_PER_BATCH = 64  # CreateImageRegions and DeleteImageRegions take 64 at most


def detection_training_check(image_counts: Mapping[str, int]) -> None:
    """Refuse an object-detection training as Azure does unless each tag to train (by name,
    with its number of images that have a region of it) has MIN_IMAGES_PER_TAG_DETECTION.

    Azure answers BadRequestDetectionTrainingValidationFailed, "Not enough images per tag for
    training"; the message here says which tags are short, and by how much."""
    trained = {name: n for name, n in image_counts.items() if n}
    if len(trained) < MIN_TAGS_DETECTION:
        raise ValidationError(
            "Not enough images per tag for training: an object-detection project trains on "
            "images with regions, and this one has none. Add regions (CreateImageRegions, or "
            "regions with the images) first.",
            code=AzureCode.BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED,
        )
    short = [
        f"{name} ({n})" for name, n in image_counts.items() if n < MIN_IMAGES_PER_TAG_DETECTION
    ]
    if short:
        raise ValidationError(
            f"Not enough images per tag for training: each tag needs regions on at least "
            f"{MIN_IMAGES_PER_TAG_DETECTION} images; add more to: {', '.join(short)}.",
            code=AzureCode.BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED,
        )
