"""Classifying images with a completed iteration's model (API, Quick Test), keeping the images
sent to the prediction endpoint, and suggesting tags for untagged images."""

from prediction.services.classify import (
    PredictionResult,
    TagProbability,
    iteration_predict,
    prediction_classify,
    prediction_detect,
    published_iteration_for_key,
    published_iteration_get,
)
from prediction.services.correcting import prediction_regions_save
from prediction.services.predictors import (
    _cache,
    detector_for,
    forget_predictor,
    predictor_for,
    wrong_project_type,
)
from prediction.services.stored import (
    prediction_thumbnail_name,
    predictions_delete,
    predictions_to_images,
)
from prediction.services.suggestions import (
    image_suggestion_drafts,
    suggested_counts,
    suggested_objects,
    suggested_untagged,
    suggestion_drafts,
    suggestions_accept,
    suggestions_confirm,
    suggestions_discard,
    suggestions_for,
)

__all__ = [
    "PredictionResult",
    "TagProbability",
    "_cache",
    "detector_for",
    "forget_predictor",
    "image_suggestion_drafts",
    "iteration_predict",
    "prediction_classify",
    "prediction_detect",
    "prediction_regions_save",
    "prediction_thumbnail_name",
    "predictions_delete",
    "predictions_to_images",
    "predictor_for",
    "published_iteration_for_key",
    "published_iteration_get",
    "suggested_counts",
    "suggested_objects",
    "suggested_untagged",
    "suggestion_drafts",
    "suggestions_accept",
    "suggestions_confirm",
    "suggestions_discard",
    "suggestions_for",
    "wrong_project_type",
]
