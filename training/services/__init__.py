"""Starting, running, cancelling, deleting and publishing iterations.

`iteration_train_start` is what the portal's Train button and the API's TrainProject call;
`iteration_run` is what a worker does with the queued iteration. The engine (the top-level
`engine` package) does the maths and knows nothing of Django; torch is imported only where
training runs.
"""

from projects.rules import (
    MAX_BUDGET_HOURS,
    MIN_IMAGES_PER_TAG,
    MIN_IMAGES_PER_TAG_MULTILABEL,
    MIN_TAGS,
)
from training.services.managing import (
    images_delete_everywhere,
    iteration_cancel,
    iteration_delete,
    iteration_rename,
    iterations_fail_stale,
    removed_images_kept,
)
from training.services.publishing import (
    iteration_publish,
    iteration_unpublish,
    prediction_resource_for,
)
from training.services.running import iteration_claim, iteration_run
from training.services.starting import TrainingUnavailable, iteration_train_start

__all__ = [
    "MAX_BUDGET_HOURS",
    "MIN_IMAGES_PER_TAG",
    "MIN_IMAGES_PER_TAG_MULTILABEL",
    "MIN_TAGS",
    "TrainingUnavailable",
    "images_delete_everywhere",
    "iteration_cancel",
    "iteration_claim",
    "iteration_delete",
    "iteration_publish",
    "iteration_rename",
    "iteration_run",
    "iteration_train_start",
    "iteration_unpublish",
    "iterations_fail_stale",
    "prediction_resource_for",
    "removed_images_kept",
]
