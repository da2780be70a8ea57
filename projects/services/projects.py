from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q

from core import storage
from core.codes import AzureCode
from core.text import counted, description_checked
from projects.domains import (
    CLASSIFICATION,
    DOMAINS_BY_ID,
    EXPORT_PLATFORMS,
    GENERAL,
    OBJECT_DETECTION,
)
from projects.models import Image, Project, Resource, Tag
from projects.selectors import active_images


def _validate(
    *,
    owner: User,
    resource: Resource,
    name: str,
    classification_type: str,
    domain_id: uuid.UUID,
) -> None:
    errors: dict[str, str] = {}
    name_field = Project._meta.get_field("name")
    if not name.strip():
        errors["name"] = "Give the project a name."
    elif "\x00" in name:
        errors["name"] = "A project name can't contain a NUL character."
    elif len(name.strip()) > (name_field.max_length or 0):
        errors["name"] = f"Project names are at most {name_field.max_length} characters."
    if resource.owner_id != owner.pk or resource.kind != Resource.Kind.TRAINING:
        errors["resource"] = "Choose one of your training resources."
    if classification_type not in Project.ClassificationType.values:
        errors["classification_type"] = "Choose Multiclass or Multilabel."
    if domain_id not in DOMAINS_BY_ID:
        errors["domain_id"] = f"Unknown domain {domain_id}."
    if errors:
        raise ValidationError(errors)


def _export_platforms(platforms: Sequence[str], domain_id: uuid.UUID) -> list[str]:
    """Custom Vision's targetExportPlatforms, checked as Azure checks them: known platforms,
    and only on a compact (exportable) domain."""
    by_lower = {p.lower(): p for p in EXPORT_PLATFORMS}
    chosen = []
    for platform in platforms:
        known = by_lower.get(str(platform).strip().lower())
        if known is None:
            raise ValidationError(
                f"Unknown export platform {platform!r}; choose from {', '.join(EXPORT_PLATFORMS)}.",
                code=AzureCode.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM,
            )
        if known not in chosen:
            chosen.append(known)
    if chosen and not DOMAINS_BY_ID[domain_id].exportable:
        raise ValidationError(
            f"The {DOMAINS_BY_ID[domain_id].name} domain can't export; target export platforms "
            "need a compact domain.",
            code=AzureCode.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM,
        )
    return chosen


def project_create(
    *,
    owner: User,
    resource: Resource,
    name: str,
    description: str = "",
    classification_type: str = Project.ClassificationType.MULTICLASS,
    domain_id: uuid.UUID = GENERAL.id,
    target_export_platforms: Sequence[str] = (),
    id: uuid.UUID | None = None,
) -> Project:
    """A new project; `id` is for imports that keep the source's (the caller checked it is
    free)."""
    _validate(
        owner=owner,
        resource=resource,
        name=name,
        classification_type=classification_type,
        domain_id=domain_id,
    )
    platforms = _export_platforms(target_export_platforms, domain_id)
    return Project.objects.create(
        id=id or uuid.uuid4(),
        target_export_platforms=platforms,
        owner=owner,
        resource=resource,
        name=name.strip(),
        description=description_checked(description),
        classification_type=classification_type,
        domain_id=domain_id,
    )


def _same_type(project: Project, domain_id: uuid.UUID) -> None:
    """A project keeps its type (classification or object detection) through domain changes,
    as in Azure: its images are labelled for that type (tags, or regions)."""
    now, then = project.domain, DOMAINS_BY_ID[domain_id]
    if now.type != then.type:
        raise ValidationError(
            f"The domain {then.name!r} is for {_TYPE_WORDS[then.type]} projects and "
            f"{project.name!r} is {_TYPE_WORDS[now.type]}: a project keeps its type. Choose "
            f"one of the {_TYPE_WORDS[now.type]} domains, or create a new project.",
            code=AzureCode.BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE,
        )


_TYPE_WORDS = {CLASSIFICATION: "classification", OBJECT_DETECTION: "object-detection"}


@transaction.atomic
def project_update(
    *,
    project: Project,
    name: str,
    description: str,
    classification_type: str,
    domain_id: uuid.UUID,
    resource: Resource | None = None,
    target_export_platforms: Sequence[str] | None = None,
) -> Project:
    """Rename, or change classification type and domain (within the project's type:
    classification or object detection); the images and tags stay as they are.

    `target_export_platforms` None (the portal's form, which doesn't show them) keeps the
    current ones, or drops them when the new domain can't export; given explicitly (the API),
    they must suit the domain."""
    resource = resource or project.resource
    _validate(
        owner=project.owner,
        resource=resource,
        name=name,
        classification_type=classification_type,
        domain_id=domain_id,
    )
    if target_export_platforms is None:
        keep = DOMAINS_BY_ID[domain_id].exportable
        target_export_platforms = project.target_export_platforms if keep else []
    platforms = _export_platforms(target_export_platforms, domain_id)
    _same_type(project, domain_id)
    if (
        classification_type == Project.ClassificationType.MULTICLASS
        and not project.is_multiclass
        and not project.is_detection
    ):
        crowded = (
            active_images(project)
            .annotate(regular=Count("tags", filter=Q(tags__type=Tag.Type.REGULAR)))
            .filter(regular__gt=1)
            .count()
        )
        if crowded:
            raise ValidationError(
                {
                    "classification_type": (
                        f"{counted(crowded, 'image')} {'has' if crowded == 1 else 'have'} "
                        "more than one tag; a Multiclass project allows one. Untag "
                        f"{'it' if crowded == 1 else 'them'} first."
                    )
                }
            )
    project.name = name.strip()
    project.description = description_checked(description)
    project.classification_type = classification_type
    project.domain_id = domain_id
    project.target_export_platforms = platforms
    project.resource = resource
    project.save()
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete the project with its tags and images, and their files once the delete commits."""
    names = [
        n
        for pair in Image.objects.filter(project=project).values_list("file", "thumbnail")
        for n in pair
    ]
    # Model files of the project's iterations (training/ owns the model; the relation is enough).
    names += [n for n in project.iterations.values_list("model_file", flat=True) if n]
    names += [n for n in project.iterations.values_list("exports__file", flat=True).distinct() if n]
    names += [n for pair in project.predictions.values_list("file", "thumbnail") for n in pair]
    project_id = project.id
    project.delete()
    storage.delete_on_commit(names)
    storage.delete_folder_on_commit(storage.features_prefix(project_id))
