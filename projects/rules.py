"""What a project needs before it can train: Custom Vision's minimums, in a module of plain
constants that projects (the Training Images health panel) and training (Train) both read,
without importing each other."""

from __future__ import annotations

MIN_IMAGES_PER_TAG = 5  # Custom Vision's rule for Multiclass projects
MIN_TAGS = 2
MIN_IMAGES_PER_TAG_MULTILABEL = 2  # Multilabel projects train with fewer per tag
# Azure's portal offers advanced budgets up to four days; anything larger (or infinite) would
# hold the only training worker for good.
MAX_BUDGET_HOURS = 96
# Object detection (Azure's rule): 15 images with a region of each tag; one tag is enough.
MIN_IMAGES_PER_TAG_DETECTION = 15
MIN_TAGS_DETECTION = 1
