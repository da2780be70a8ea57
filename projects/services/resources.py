from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from projects.models import Resource


@dataclass(frozen=True)
class ResourceKeys:
    """Plain keys, returned once on creation or regeneration and never stored."""

    key1: str
    key2: str | None = None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()


def key_matches(digest: str, prefix: str = "") -> Q:
    """A filter for rows whose resource (at `prefix`) has this key as Key 1 or Key 2."""
    return Q(**{f"{prefix}key1_hash": digest}) | Q(**{f"{prefix}key2_hash": digest})


def _new_key() -> str:
    # 32 hex characters, the shape of an Azure Cognitive Services key.
    return secrets.token_hex(16)


def resource_create(*, owner: User, name: str, kind: str) -> tuple[Resource, ResourceKeys]:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the resource a name."})
    if kind not in Resource.Kind.values:
        raise ValidationError({"kind": f"Kind must be one of {', '.join(Resource.Kind.values)}."})
    if Resource.objects.filter(owner=owner, name__iexact=name).exists():
        raise ValidationError({"name": f"You already have a resource named {name!r}."})
    key1, key2 = _new_key(), _new_key()
    resource = Resource.objects.create(
        owner=owner, name=name, kind=kind, key1_hash=key_hash(key1), key2_hash=key_hash(key2)
    )
    return resource, ResourceKeys(key1=key1, key2=key2)


PREDICTION_SUFFIX = "-Prediction"  # Azure's "Both" creates <name> and <name>-Prediction


@transaction.atomic
def resources_create_both(*, owner: User, name: str) -> list[tuple[Resource, ResourceKeys]]:
    """A training resource and its prediction twin, as Azure's "Both" option creates them, so
    a new user can train and publish without a detour to the Resources page."""
    name = name.strip()
    limit = Resource._meta.get_field("name").max_length or 64
    if len(name) + len(PREDICTION_SUFFIX) > limit:
        raise ValidationError(
            {"name": f"Keep the name under {limit - len(PREDICTION_SUFFIX)} characters."}
        )
    return [
        resource_create(owner=owner, name=name, kind=Resource.Kind.TRAINING),
        resource_create(owner=owner, name=name + PREDICTION_SUFFIX, kind=Resource.Kind.PREDICTION),
    ]


def default_resource_name(owner: User) -> str:
    """A first resource's name, so a new user need not invent one (Azure suggests one too)."""
    return free_resource_name(owner, f"{owner.get_username()}-vision"[:40], PREDICTION_SUFFIX)


def free_resource_name(owner: User, base: str, twin_suffix: str = "") -> str:
    """`base`, or `base-2`, `base-3`…: the first name the owner has no resource under (nor,
    with `twin_suffix`, under that name plus the suffix)."""
    taken = {n.lower() for n in Resource.objects.filter(owner=owner).values_list("name", flat=True)}
    name, number = base, 1
    while name.lower() in taken or (twin_suffix and (name + twin_suffix).lower() in taken):
        number += 1
        name = f"{base}-{number}"
    return name


def resource_regenerate_key(*, resource: Resource, which: Literal[1, 2]) -> str:
    """Replace Key 1 or Key 2 (rotation: clients move to the other key first)."""
    key = _new_key()
    field = {1: "key1_hash", 2: "key2_hash"}[which]
    setattr(resource, field, key_hash(key))
    resource.save(update_fields=[field])
    return key


@transaction.atomic
def resource_delete(*, resource: Resource) -> None:
    if resource.projects.exists():
        raise ValidationError("Delete or move this resource's projects first.")
    resource.delete()
