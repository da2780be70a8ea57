"""GetImageRegionProposals: class-agnostic boxes on a training image, from the engine's
proposer (no trained model needed), for a labelling tool to start from."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from core import storage
from core.codes import AzureCode
from engine.imaging import ImageRejected, decode_for_model
from engine.proposals import propose
from projects.models import Image
from projects.services.images import stored_image_rules
from projects.services.regions import detection_only

# The proposer sees the image at about this size: boxes are normalised, so a larger decode
# only costs time.
PROPOSAL_SIDE = 512

Proposal = tuple[float, float, float, float, float]  # confidence, left, top, width, height


def region_proposals(*, image: Image) -> list[Proposal]:
    """Proposals for a stored image of an object-detection project, most confident first."""
    detection_only(image.project)
    data = storage.read(str(image.file.name))
    try:
        decoded = decode_for_model(data, stored_image_rules(), PROPOSAL_SIDE)
    except ImageRejected as exc:  # stored under larger limits than today's
        raise ValidationError(
            f"The image can't be read for proposals: {exc.message}",
            code=AzureCode.ERROR_REGION_PROPOSAL,
        ) from None
    found = [
        (float(c), float(left), float(top), float(w), float(h))
        for c, left, top, w, h in propose(decoded)
    ]
    return sorted(found, key=lambda p: -p[0])
