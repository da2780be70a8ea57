"""The Trees sample project: Custom Vision's quickstart photos, tagged and ready to train.

A new user gets a working project in one click instead of uploading the sample set by hand;
it goes in through the same services as any upload, so it meets the same rules.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from engine.imaging import ImageStatus
from projects.domains import GENERAL
from projects.models import Project, Resource
from projects.selectors import resource_list
from projects.services.images import ImageCreateResult, ImageUpload, images_create
from projects.services.projects import project_create, project_delete
from projects.services.resources import default_resource_name, resources_create_both
from projects.services.tags import tags_get_or_create

SAMPLE_NAME = "Trees"
SAMPLE_DESCRIPTION = "Custom Vision's sample photos: 10 Hemlock and 10 Japanese Cherry."
# Folder → tag; Test/ is left out on purpose: it is the photo to try the trained model on.
SAMPLE_TAGS = {"Hemlock": "Hemlock", "Japanese_Cherry": "Japanese Cherry"}


def sample_dir() -> Path:
    return Path(settings.BASE_DIR) / "samples" / "custom-vision-sample"


def _sample_files() -> dict[str, list[Path]]:
    root = sample_dir()
    files = {tag: sorted((root / folder).glob("*.jpg")) for folder, tag in SAMPLE_TAGS.items()}
    if not all(files.values()):
        raise ValidationError(
            f"The sample images are missing: expected {', '.join(SAMPLE_TAGS)} folders "
            f"of .jpg photos in {root}.",
            code="sample_missing",
        )
    return files


def _free_name(owner: User) -> str:
    # Names need not be unique, but two projects both called "Trees" would be confusing.
    taken = {
        n.casefold() for n in Project.objects.filter(owner=owner).values_list("name", flat=True)
    }
    name, number = SAMPLE_NAME, 1
    while name.casefold() in taken:
        number += 1
        name = f"{SAMPLE_NAME} {number}"
    return name


def _training_resource(owner: User) -> Resource:
    resource = resource_list(user=owner, kind=Resource.Kind.TRAINING).first()
    if resource is not None:
        return resource
    # The same pair a first New Project makes, so Publish works without a detour; their keys
    # are not shown here: Resources regenerates one when the user wants to call the API.
    created = resources_create_both(owner=owner, name=default_resource_name(owner))
    return created[0][0]


def sample_project_load(*, owner: User, resource: Resource | None = None) -> Project:
    """A new Multiclass, General-domain project of `owner` holding the 20 sample photos, tagged.

    Without `resource`, the owner's first training resource is used, or one is created. All or
    nothing: if any photo fails, the project is deleted again and a ValidationError says why.
    """
    files = _sample_files()  # before anything is created, so a missing folder leaves no trace
    project = project_create(
        owner=owner,
        resource=resource or _training_resource(owner),
        name=_free_name(owner),
        description=SAMPLE_DESCRIPTION,
        classification_type=Project.ClassificationType.MULTICLASS,
        domain_id=GENERAL.id,
    )
    try:
        _fill(project, files)
    except BaseException:
        project_delete(project=project)
        raise
    return project


def _fill(project: Project, files: dict[str, list[Path]]) -> None:
    size = settings.CV_MAX_IMAGES_PER_BATCH  # an instance may set it below the 10 per tag
    for tag_name, paths in files.items():
        (tag,) = tags_get_or_create(project=project, names=[tag_name])
        for start in range(0, len(paths), size):
            uploads = [
                ImageUpload(name=p.name, data=p.read_bytes()) for p in paths[start : start + size]
            ]
            _check(images_create(project=project, uploads=uploads, tag_ids=[tag.id]))


def _check(results: list[ImageCreateResult]) -> None:
    failed = [r for r in results if r.status not in (ImageStatus.OK, ImageStatus.OK_DUPLICATE)]
    if failed:
        raise ValidationError(
            "Could not load the sample project: "
            + "; ".join(f"{r.source_name}: {r.message or r.status}" for r in failed)
        )
