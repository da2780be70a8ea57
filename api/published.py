"""The published iteration a Prediction API call names, found with its key: what Classify*
and Detect* both start from."""

from __future__ import annotations

import uuid

from api.auth import PREDICTION, resource_for_digest
from api.errors import unauthorized
from prediction import services
from training.models import Iteration


def published_iteration(*, key_digest: str, project_id: uuid.UUID, publish_name: str) -> Iteration:
    """One query when key and name are right; otherwise 401 for a wrong key, 404 for a name
    the key's resource has no iteration published under."""
    iteration = services.published_iteration_for_key(
        key_digest=key_digest, project_id=project_id, publish_name=publish_name
    )
    if iteration is None:
        resource = resource_for_digest(key_digest, PREDICTION)
        if resource is None:
            raise unauthorized(PREDICTION)
        iteration = services.published_iteration_get(
            resource=resource, project_id=project_id, publish_name=publish_name
        )
    return iteration
