from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError

from core.text import DESCRIPTION_MAX
from projects.azure.client import SourceError, endpoint_base
from projects.domains import CLASSIFICATION, DOMAINS, DOMAINS_BY_ID, OBJECT_DETECTION
from projects.models import Project, Resource, Tag
from projects.selectors import ImageFilter, ProjectSort, UserLike, resource_list
from projects.services.resources import default_resource_name


def resources_offered(form: forms.Form, name: str, *, user: UserLike, kind: str) -> bool:
    """Offers the user's resources of `kind` in the form's choice field `name`, the first one
    chosen unless the user picks another; whether there is any."""
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)
    field.queryset = resource_list(user=user, kind=kind)
    field.initial = field.queryset.first()
    return field.initial is not None


PROJECT_TYPES = ((CLASSIFICATION, "Classification"), (OBJECT_DETECTION, "Object Detection"))
TYPE_LABELS = dict(PROJECT_TYPES)


class DomainSelect(forms.RadioSelect):
    """Domains as radio buttons that carry their type and description, so the page lists the
    domains of the chosen project type (static/projects/new_project.js) with Azure's words."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        domain = DOMAINS_BY_ID.get(uuid.UUID(str(value))) if value else None
        if domain is not None:
            option["attrs"]["data-domain-type"] = domain.type
            option["domain_type"] = domain.type
            option["type_label"] = TYPE_LABELS[domain.type]
            option["description"] = domain.description
            if option["attrs"].get("id"):
                option["attrs"]["aria-describedby"] = f"{option['attrs']['id']}-help"
        return option


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX
    )
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.none(), required=False, empty_label="Create a new resource"
    )
    new_resource_name = forms.CharField(
        max_length=53,  # room for the "-Prediction" twin
        required=False,
        label="New resource name",
        help_text="Also creates a prediction resource named <name>-Prediction, for publishing; "
        "the keys of both are shown once, next.",
    )
    project_type = forms.ChoiceField(
        choices=PROJECT_TYPES,
        widget=forms.RadioSelect,
        initial=CLASSIFICATION,
        # Left out (an older form, a script), the domain alone says the type.
        required=False,
        label="Project Types",
    )
    classification_type = forms.ChoiceField(
        choices=Project.ClassificationType.choices,
        widget=forms.RadioSelect(attrs={"data-classification-types": ""}),
        initial=Project.ClassificationType.MULTICLASS,
        # A detector has no classification type: Azure's dialog hides the choice, so may a post.
        required=False,
        label="Classification Types",
    )
    domain_id = forms.TypedChoiceField(
        choices=[(str(d.id), d.name) for d in DOMAINS],
        coerce=uuid.UUID,
        initial=str(DOMAINS[0].id),
        widget=DomainSelect,
        label="Domains",
    )

    def __init__(self, *args: Any, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offered = resources_offered(self, "resource", user=user, kind=Resource.Kind.TRAINING)
        if not offered and "new_resource_name" in self.fields and isinstance(user, User):
            # A first project needs no invented name: one is suggested, and can be changed.
            self.fields["new_resource_name"].initial = default_resource_name(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("resource") and not (data.get("new_resource_name") or "").strip():
            self.add_error("new_resource_name", "Choose a resource or name a new one.")
        data["classification_type"] = (
            data.get("classification_type") or Project.ClassificationType.MULTICLASS
        )
        kind, domain_id = data.get("project_type"), data.get("domain_id")
        if kind and domain_id and DOMAINS_BY_ID[domain_id].type != kind:
            # Without JavaScript every domain is listed: a mismatch is told, never guessed at.
            domain = DOMAINS_BY_ID[domain_id]
            self.add_error(
                "domain_id",
                f"{domain.name} is a {TYPE_LABELS[domain.type]} domain, and the project type "
                f"is {TYPE_LABELS[kind]}: choose one of the {TYPE_LABELS[kind]} domains.",
            )
        data.pop("project_type", None)  # the domain says the type; the service needs no more
        return data


class ProjectSettingsForm(ProjectForm):
    def __init__(self, *args: Any, domain_type: str = CLASSIFICATION, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A project keeps its type: its settings offer the domains of that type only.
        domain = self.fields["domain_id"]
        assert isinstance(domain, forms.TypedChoiceField)
        domain.choices = [(str(d.id), d.name) for d in DOMAINS if d.type == domain_type]
        self.fields["resource"].required = True
        self.fields["resource"].empty_label = None  # type: ignore[attr-defined]
        del self.fields["new_resource_name"]
        del self.fields["project_type"]
        if domain_type != CLASSIFICATION:
            del self.fields["classification_type"]

    def clean(self) -> dict[str, Any]:
        data = forms.Form.clean(self) or {}
        # A detector's settings show no classification type; the stored one stays.
        data["classification_type"] = data.get("classification_type") or self.initial.get(
            "classification_type", Project.ClassificationType.MULTICLASS
        )
        return data


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Django's documented way to accept several files in one field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


def _split_tags(*values: str) -> list[str]:
    names: list[str] = []
    for value in values:
        names.extend(part for part in (p.strip() for p in value.split(",")) if part)
    return names


class UploadForm(forms.Form):
    # `files` shadows Form.files (the raw upload dict) for the field; Django resolves both.
    # An empty file is accepted here so that ingestion fails it alone, by name, as the API does
    # ("ErrorSource: The file is empty."), instead of the form rejecting the whole batch.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Browse local files", allow_empty_file=True
    )
    tag_input = forms.CharField(
        required=False,
        label="My Tags",
        max_length=4000,
        help_text="Type a tag and press Enter; separate several with commas.",
    )

    def __init__(self, *args: Any, max_files: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_files = max_files

    def clean_files(self) -> list[Any]:
        files: list[Any] = self.cleaned_data["files"]
        if len(files) > self.max_files:
            raise forms.ValidationError(
                f"Upload at most {self.max_files} files at a time (you chose {len(files)})."
            )
        return files

    def tag_names(self) -> list[str]:
        # Chips arrive as repeated `tag` fields; whatever was typed but not yet entered counts too.
        chips = self.data.getlist("tag") if hasattr(self.data, "getlist") else []
        return _split_tags(*chips, self.cleaned_data.get("tag_input", ""))


class BulkImagesForm(forms.Form):
    """Tag, untag or delete the ticked images, or every image the page's filter matches."""

    ACTIONS = (("tag", "Tag"), ("untag", "Untag"), ("delete", "Delete"))
    SELECTED, MATCHING = "selected", "matching"
    action = forms.ChoiceField(choices=ACTIONS)
    scope = forms.ChoiceField(
        choices=((SELECTED, "The selected images"), (MATCHING, "Every image the filter matches")),
        required=False,
    )
    images = forms.TypedMultipleChoiceField(coerce=uuid.UUID, choices=())
    tag_name = forms.CharField(required=False, max_length=256)
    # The filter as the page showed it, for MATCHING; `expected` is the count the page offered,
    # so images uploaded or re-tagged since then are never swept up unseen.
    filter_state = forms.ChoiceField(
        choices=[(c, c.title()) for c in ImageFilter.CHOICES], required=False
    )
    filter_tag = forms.TypedMultipleChoiceField(coerce=uuid.UUID, required=False, choices=())
    filter_iteration = forms.UUIDField(required=False)
    expected = forms.IntegerField(min_value=0, required=False)

    def __init__(
        self, *args: Any, image_ids: list[uuid.UUID], tags: list[Tag], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.data.get("scope") == self.MATCHING:
            # The ticked boxes ride along but the filter decides; a stale one must not refuse.
            del self.fields["images"]
        else:
            field = self.fields["images"]
            assert isinstance(field, forms.TypedMultipleChoiceField)
            field.choices = [(str(i), str(i)) for i in image_ids]
            field.error_messages["required"] = "Select at least one image."
            field.error_messages["invalid_choice"] = "An image you selected no longer exists."
        tag_field = self.fields["filter_tag"]
        assert isinstance(tag_field, forms.TypedMultipleChoiceField)
        tag_field.choices = [(str(t.id), t.name) for t in tags]
        tag_field.error_messages["invalid_choice"] = (
            "The filter names a tag that no longer exists; reload the page and select again."
        )
        self.fields["filter_state"].error_messages["invalid_choice"] = (
            "Unknown filter %(value)r: use all, tagged or untagged."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["scope"] = data.get("scope") or self.SELECTED
        data.setdefault("images", [])
        if data["scope"] == self.SELECTED:
            # Here the filter only recounts the page's matches; a tag deleted since the page
            # loaded must not block an action on the ticked images.
            for name in ("filter_state", "filter_tag", "filter_iteration", "expected"):
                self.errors.pop(name, None)
            data.setdefault("filter_state", "")
            data.setdefault("filter_tag", [])
            data.setdefault("filter_iteration", None)
        if data.get("action") in ("tag", "untag") and not (data.get("tag_name") or "").strip():
            self.add_error("tag_name", "Name the tag.")
        if data["scope"] == self.MATCHING and data.get("expected") is None:
            self.add_error(
                "expected", "Say how many images the filter matched; reload the page and try again."
            )
        return data


class ImageTagsForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    # Typed here, a tag the project lacks is created (`services.tags_with_typed`).
    new_tag = forms.CharField(
        required=False,
        max_length=256,
        label="New tag",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Type a tag name"}),
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tags = Tag.objects.filter(project=project).order_by("name")
        if project.is_multiclass:
            # One tag an image: radio buttons say so before the save does. Ticking two
            # checkboxes used to be the user's first sight of the rule, as a 400.
            self.fields["tags"] = forms.ModelChoiceField(
                queryset=tags,
                required=False,
                widget=forms.RadioSelect,
                empty_label="No tag",
                blank=True,
            )
            initial = self.initial.get("tags")
            if isinstance(initial, list):
                self.initial["tags"] = initial[0] if initial else None
            return
        field = self.fields["tags"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = tags

    def clean_tags(self) -> list[Tag]:
        """The chosen tags as a list, whichever widget chose them."""
        value = self.cleaned_data.get("tags")
        sent = self.data.getlist(self.add_prefix("tags")) if hasattr(self.data, "getlist") else []
        if isinstance(value, Tag) and len(sent) > 1:
            # Radio buttons send one; a hand-made request with two is told, not half-obeyed.
            raise ValidationError("A Multiclass project's image has one tag: pick one.")
        if value is None:
            return []
        if isinstance(value, Tag):
            return [value]
        return list(value)


class TagForm(forms.Form):
    name = forms.CharField(max_length=256)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=DESCRIPTION_MAX
    )
    type = forms.ChoiceField(choices=Tag.Type.choices, initial=Tag.Type.REGULAR)


class ResourceForm(forms.Form):
    BOTH = "both"

    name = forms.CharField(max_length=64)
    kind = forms.ChoiceField(
        choices=[
            (BOTH, "Both: training, and prediction named …-Prediction"),
            *Resource.Kind.choices,
        ],
        initial=BOTH,
        help_text="Training keys build models; prediction keys call published ones.",
    )


class ImageFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[(c, c.title()) for c in ImageFilter.CHOICES], required=False)
    tag = forms.TypedMultipleChoiceField(coerce=uuid.UUID, required=False, choices=())
    # The images an iteration trained on; empty: all images.
    iteration = forms.UUIDField(required=False)

    def __init__(self, *args: Any, tags: list[Tag], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tag"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(str(t.id), t.name) for t in tags]


class ProjectSearchForm(forms.Form):
    """The Projects page's search box and sort, as GET parameters (works without JS)."""

    q = forms.CharField(required=False, max_length=200, label="Search projects")
    sort = forms.ChoiceField(choices=ProjectSort.CHOICES, required=False, label="Sort by")


class AzureSourceForm(forms.Form):
    endpoint = forms.CharField(
        max_length=500,
        label="Endpoint",
        help_text="Your Custom Vision training resource's endpoint, as the Azure portal shows it "
        "under Keys and Endpoint: https://<name>.cognitiveservices.azure.com/",
    )
    key = forms.CharField(
        max_length=200,
        label="Training key",
        widget=forms.PasswordInput(render_value=False),
        help_text="Key 1 or Key 2 of that resource. It is used for this import only and kept "
        "encrypted until the import ends.",
    )

    def clean_endpoint(self) -> str:
        """A base URL (scheme, host, port), so nobody picks the path requests go to."""
        text = str(self.cleaned_data["endpoint"]).strip()
        if "://" not in text:
            text = "https://" + text  # as the Azure portal's copy button may leave it off
        try:
            return endpoint_base(text)
        except SourceError as exc:
            raise ValidationError(exc.message) from None


class AzureProjectsForm(forms.Form):
    projects = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, choices=())
    # The listing the page showed: a pick made from another listing's page (another tab, an
    # endpoint listed meanwhile) must not import from the account listed now.
    listing = forms.UUIDField(widget=forms.HiddenInput, required=False)
    remove_missing = forms.BooleanField(
        required=False,
        label="Remove here what was removed in Azure",
        help_text="Images and tags an earlier import brought that Azure no longer has are "
        "removed here too. Unticked, they stay here and the summary counts them.",
    )

    def __init__(self, *args: Any, listed: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["projects"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(p["id"], p["name"]) for p in listed]
        field.error_messages["required"] = "Pick at least one project to import."


# --- Regions drawn in the portal's editor ---------------------------------------------------

# More than an image holds (projects.rules.MAX_REGIONS_PER_IMAGE): the service says that limit
# in its words; this only keeps a hand-made request from making us parse a million entries.
MAX_PORTAL_REGIONS = 1000
_BOX_KEYS = ("left", "top", "width", "height")


@dataclass(frozen=True)
class PortalRegion:
    """One region as the editor sends it: its tag by id, or by name for a tag typed there."""

    tag_id: uuid.UUID | None
    tag_name: str
    left: float
    top: float
    width: float
    height: float


def _portal_region(index: int, entry: Any) -> PortalRegion:
    where = f"Region {index + 1}"
    if not isinstance(entry, dict):
        raise ValidationError(f"{where} is not an object with a tag and a box.")
    values = []
    for key in _BOX_KEYS:
        value = entry.get(key)
        # bool is an int to Python, not a coordinate to anybody.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{where}: {key} must be a number.")
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {key} must be a finite number.")
        values.append(float(value))
    tag_id, raw_id = None, entry.get("tag_id")
    if raw_id not in (None, ""):
        try:
            tag_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationError(f"{where}: tag_id {raw_id!r} is not a tag id.") from None
    name = entry.get("tag_name") or ""
    if not isinstance(name, str):
        raise ValidationError(f"{where}: tag_name must be text.")
    if tag_id is None and not name.strip():
        raise ValidationError(f"{where} needs a tag: pick one from My Tags or type a new name.")
    return PortalRegion(tag_id, name.strip(), *values)


def portal_regions(data: Any) -> list[PortalRegion]:
    """The regions of an editor's save (the decoded JSON `regions` list), checked for shape;
    the service checks the boxes against the image and the tags against the project."""
    if not isinstance(data, list):
        raise ValidationError('Send {"regions": [...]}: a list of regions.')
    if len(data) > MAX_PORTAL_REGIONS:
        raise ValidationError(f"At most {MAX_PORTAL_REGIONS} regions in one save.")
    return [_portal_region(i, entry) for i, entry in enumerate(data)]
