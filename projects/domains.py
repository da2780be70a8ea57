"""Custom Vision's domains (classification and object detection), with Azure's own ids.

The ids are the ones Azure's GetDomains returns (and Microsoft's "Select a domain" page
lists), so scripts that hard-code a domain GUID keep working against this server. The table
is fixed: the training recipe for each domain lives in `training/`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Azure's ExportPlatform values. Compact domains list them all as exportable; what this server
# can actually build is the export issue's business, not the project setting's.
EXPORT_PLATFORMS = ("CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino")


@dataclass(frozen=True)
class Domain:
    id: uuid.UUID
    name: str
    exportable: bool
    description: str
    type: str = "Classification"
    enabled: bool = True


CLASSIFICATION = "Classification"
OBJECT_DETECTION = "ObjectDetection"


def _d(
    id_: str, name: str, exportable: bool, description: str, type_: str = CLASSIFICATION
) -> Domain:
    return Domain(uuid.UUID(id_), name, exportable, description, type_)


DOMAINS: tuple[Domain, ...] = (
    _d(
        "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
        "General",
        False,
        "A broad range of image classification tasks. Pick this when unsure.",
    ),
    _d(
        "a8e3c40f-fb4a-466f-832a-5e457ae4a344",
        "General [A1]",
        False,
        "Better accuracy on larger or harder datasets; trains longer.",
    ),
    _d(
        "2e37d7fb-3a54-486a-b4d6-cfc369af0018",
        "General [A2]",
        False,
        "Better accuracy with faster inference; recommended for most datasets.",
    ),
    _d(
        "c151d5b5-dd07-472a-acc8-15d29dea8518",
        "Food",
        False,
        "Dishes as on a restaurant menu, and individual fruits or vegetables.",
    ),
    _d(
        "ca455789-012d-4b50-9fec-5bb63841c793",
        "Landmarks",
        False,
        "Recognisable natural and man-made landmarks.",
    ),
    _d(
        "b30a91ae-e3c1-4f73-a81e-c270bff27c39",
        "Retail",
        False,
        "Shopping catalogue and shopping website images.",
    ),
    _d(
        "0732100f-1a38-4e49-a514-c9b44c697ab5",
        "General (compact)",
        True,
        "Small, exportable model for real-time use on edge devices.",
    ),
    _d(
        "a1db07ca-a19a-4830-bae8-e004a42dc863",
        "General (compact) [S1]",
        True,
        "Exportable edge model without post-processing logic.",
    ),
    _d(
        "8882951b-82cd-4c32-970b-d5f8cb8bf6d7",
        "Food (compact)",
        True,
        "Exportable edge model for food.",
    ),
    _d(
        "b5cfd229-2ac7-4b2b-8d0a-2b0661344894",
        "Landmarks (compact)",
        True,
        "Exportable edge model for landmarks.",
    ),
    _d(
        "6b4faeda-8396-481b-9f8b-177b9fa3097f",
        "Retail (compact)",
        True,
        "Exportable edge model for retail.",
    ),
    # Object detection: the ids of Microsoft's "Select a domain" page and GetDomains.
    _d(
        "da2e3a8a-40a5-4171-82f4-58522f70fbc1",
        "General",
        False,
        "A broad range of object-detection tasks. Pick this when unsure.",
        OBJECT_DETECTION,
    ),
    _d(
        "9c616dff-2e7d-ea11-af59-1866da359ce6",
        "General [A1]",
        False,
        "Better accuracy and more precise regions on larger or harder datasets; trains longer.",
        OBJECT_DETECTION,
    ),
    _d(
        "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4",
        "Logo",
        False,
        "Brand logos in images.",
        OBJECT_DETECTION,
    ),
    _d(
        "3780a898-81c3-4516-81ae-3a139614e1f3",
        "Products on Shelves",
        False,
        "Detecting and classifying products on shelves.",
        OBJECT_DETECTION,
    ),
    _d(
        "a27d5ca5-bb19-49d8-a70a-fec086c47f5b",
        "General (compact)",
        True,
        "Exportable real-time detector for edge devices; its export needs the sample's "
        "post-processing (anchors and non-maximum suppression).",
        OBJECT_DETECTION,
    ),
    _d(
        "7ec2ac80-887b-48a6-8df9-8b1357765430",
        "General (compact) [S1]",
        True,
        "Exportable edge detector without post-processing logic: boxes, classes and scores.",
        OBJECT_DETECTION,
    ),
)

DOMAINS_BY_ID: dict[uuid.UUID, Domain] = {d.id: d for d in DOMAINS}
GENERAL = DOMAINS[0]
GENERAL_DETECTION = next(d for d in DOMAINS if d.type == OBJECT_DETECTION)
DOMAIN_CHOICES = [(d.id, d.name) for d in DOMAINS]


def domain_get(domain_id: uuid.UUID | str) -> Domain:
    """The domain with this id; KeyError (and ValueError for a malformed id) otherwise."""
    return DOMAINS_BY_ID[domain_id if isinstance(domain_id, uuid.UUID) else uuid.UUID(domain_id)]
