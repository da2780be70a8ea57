"""Object-detection projects for tests: Microsoft's fork and scissors photos with their boxes
(samples/custom-vision-od-sample), added through the same services as the API's."""

from __future__ import annotations

import json
import random
from pathlib import Path

from projects import services as project_services
from projects.domains import DOMAINS, OBJECT_DETECTION
from projects.models import Project
from projects.services import ImageUpload
from projects.services.regions import regions_replace

OD_SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "custom-vision-od-sample"
TEST_PHOTO = OD_SAMPLES / "test" / "test_image.jpg"
# The fork in test_image.jpg (816 × 612), measured on the photo: left, top, width, height.
TEST_FORK = (0.10, 0.24, 0.71, 0.56)
COMPACT = next(d for d in DOMAINS if d.type == OBJECT_DETECTION and d.name == "General (compact)")


def sample_regions() -> dict[str, dict[str, float | str]]:
    return json.loads((OD_SAMPLES / "regions.json").read_text())


def detection_project(owner, resource, name: str = "Cutlery", domain=COMPACT) -> Project:
    return project_services.project_create(
        owner=owner, resource=resource, name=name, domain_id=domain.id
    )


def add_sample_photos(project: Project, per_tag: int, *, shuffled: int | None = None) -> None:
    """The first `per_tag` forks and scissors with their boxes. `shuffled` (a seed) gives each
    photo a random box and a random tag instead: labels a detector can't learn."""
    regions = sample_regions()
    tags = {
        t.name: t
        for t in project_services.tags_get_or_create(project=project, names=["fork", "scissors"])
    }
    rng = random.Random(shuffled)
    for folder in ("fork", "scissors"):
        files = sorted((OD_SAMPLES / folder).glob("*.jpg"), key=lambda p: int(p.stem.split("_")[1]))
        uploads = [ImageUpload(name=p.name, data=p.read_bytes()) for p in files[:per_tag]]
        results = project_services.images_create(project=project, uploads=uploads)
        assert all(r.status.ok for r in results), [r.message for r in results]
        for upload, result in zip(uploads, results, strict=True):
            region = regions[upload.name]
            box = [float(region[k]) for k in ("left", "top", "width", "height")]
            tag = tags[str(region["tag"])]
            if shuffled is not None:
                width, height = rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.5)
                box = [rng.uniform(0, 1 - width), rng.uniform(0, 1 - height), width, height]
                tag = tags[rng.choice(["fork", "scissors"])]
            regions_replace(image=result.image, boxes=[(tag, *box)])
