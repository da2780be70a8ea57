"""Portal pages. Each view: ownership helper → form → one service call → redirect or render."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.forms.models import model_to_dict
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.http import AuthedRequest, render_form, serve_stored_file
from core.redirects import safe_next
from core.text import counted
from projects import new_keys, region_views, selectors, services
from projects.domains import DOMAINS_BY_ID
from projects.forms import (
    BulkImagesForm,
    ImageFilterForm,
    ImageTagsForm,
    ProjectForm,
    ProjectSearchForm,
    ProjectSettingsForm,
    ResourceForm,
    TagForm,
    UploadForm,
)
from projects.models import Image, Project, Resource

IMAGES_PER_PAGE = 60
SHORTCUT_TAGS = 9  # keys 1–9
DETECTION_TAGS = (
    "In an Object Detection project an image's tags come from the boxes drawn on it: "
    "open the image and draw a box for each object instead."
)


def _images_url(project: Project) -> str:
    return reverse("projects:images", args=[project.id])


# --- Projects -------------------------------------------------------------------------------


@login_required
@require_GET
def project_list(request: AuthedRequest) -> HttpResponse:
    form = ProjectForm(user=request.user)
    search = ProjectSearchForm(request.GET)
    query = search.cleaned_data if search.is_valid() else {}
    return render(
        request,
        "projects/list.html",
        {
            "projects": selectors.project_list(
                user=request.user, search=query.get("q") or "", sort=query.get("sort") or ""
            ),
            # With a search typed, an empty list says "no match", not "no projects yet".
            "searching": bool((query.get("q") or "").strip()),
            "has_projects": selectors.project_list(user=request.user).exists(),
            "search": search,
            "form": form,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: AuthedRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                resource, created = data["resource"], []
                if resource is None:
                    # Training and prediction, as Azure's "Both": Publish works right away.
                    created = services.resources_create_both(
                        owner=request.user, name=data["new_resource_name"]
                    )
                    resource = created[0][0]
                project = services.project_create(
                    owner=request.user,
                    resource=resource,
                    name=data["name"],
                    description=data["description"],
                    classification_type=data["classification_type"],
                    domain_id=data["domain_id"],
                )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            new_keys.remember(request, created)
            return redirect(_images_url(project))
    return render_form(request, "projects/new.html", {"form": form})


@login_required
@require_GET
def project_detail(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    return redirect(_images_url(project))


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    initial = {
        "name": project.name,
        "description": project.description,
        "resource": project.resource,
        "classification_type": project.classification_type,
        "domain_id": str(project.domain_id),
    }
    return _form_page(
        request,
        ProjectSettingsForm(
            request.POST or None,
            user=request.user,
            initial=initial,
            domain_type=project.domain.type,
        ),
        lambda data: services.project_update(project=project, **data),
        done=lambda _: "Project settings saved.",
        then=reverse("projects:settings", args=[project.id]),
        template="projects/settings.html",
        context={
            "project": project,
            "domain": DOMAINS_BY_ID[project.domain_id],
            "tab": "settings",
            # What the SDKs call ENDPOINT, and where this project's keys come from.
            "endpoint": request.build_absolute_uri("/").rstrip("/"),
            "prediction_resources": selectors.resource_list(
                user=request.user, kind=Resource.Kind.PREDICTION
            ),
        },
    )


@login_required
@require_POST
def project_delete(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    name = project.name
    services.project_delete(project=project)
    messages.success(request, f"Project {name!r} deleted.")
    return redirect("projects:list")


# --- Training images ------------------------------------------------------------------------


@login_required
@require_GET
def training_images(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    tags = list(selectors.tag_list(project=project))
    state, tag_ids, iteration_id = _filter(request.GET, tags)
    images = selectors.image_list(
        project=project,
        state=state,
        tag_ids=tag_ids,
        iteration_id=iteration_id,
        with_regions=project.is_detection,
    )
    page = selectors.keyset_page(
        images,
        size=IMAGES_PER_PAGE,
        after=selectors.cursor_parse(request.GET.get("after")),
        before=selectors.cursor_parse(request.GET.get("before")),
    )
    counts = selectors.image_counts(project=project)
    return render(
        request,
        "projects/images.html",
        {
            "project": project,
            "tags": tags,
            "page": page,
            "matching": (
                selectors.image_count(
                    project=project, state=state, tag_ids=tag_ids, iteration_id=iteration_id
                )
                if tag_ids or iteration_id
                else getattr(counts, state)
            ),
            "state": state,
            "selected_tag_ids": {str(t) for t in tag_ids},
            "iterations": selectors.trained_iterations(project=project),
            "iteration_id": str(iteration_id or ""),
            "counts": counts,
            "health": selectors.dataset_health(project=project, tags=tags),
            # Number keys 1–9 apply these, in the order the sidebar lists and numbers them.
            # A detector's images take their tags from their boxes: no tagging keys.
            "shortcut_tags": [] if project.is_detection else [t.name for t in tags[:SHORTCUT_TAGS]],
            "upload_form": UploadForm(max_files=settings.CV_MAX_IMAGES_PER_BATCH),
            "max_files": settings.CV_MAX_IMAGES_PER_BATCH,
            "filter_query": _query_without_page(request),
            "tab": "images",
        },
    )


def _filter(query: QueryDict, tags: list[Any]) -> tuple[str, list[uuid.UUID], uuid.UUID | None]:
    """The Training Images filter in a query string: state, tag ids, iteration id."""
    filters = ImageFilterForm(query, tags=tags)
    if not filters.is_valid():
        return selectors.ImageFilter.ALL, [], None
    data = filters.cleaned_data
    return data["state"] or selectors.ImageFilter.ALL, data["tag"], data["iteration"]


def _query_without_page(request: AuthedRequest) -> str:
    query = request.GET.copy()
    for position in ("page", "after", "before"):
        query.pop(position, None)
    return query.urlencode()


@login_required
@require_POST
def images_upload(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    form = UploadForm(request.POST, request.FILES, max_files=settings.CV_MAX_IMAGES_PER_BATCH)
    results = []
    if form.is_valid() and project.is_detection and form.tag_names():
        form.add_error("tag_input", DETECTION_TAGS)
    if form.is_valid():
        try:
            tags = services.tags_get_or_create(project=project, names=form.tag_names())
        except ValidationError as exc:
            form.add_error("tag_input", exc.messages)
        else:
            results = services.images_create(
                project=project,
                uploads=[
                    services.ImageUpload(name=f.name, file=f) for f in form.cleaned_data["files"]
                ],
                tag_ids=[t.id for t in tags],
            )
    status = 400 if form.errors else 200
    if request.headers.get("Accept") == "application/json":
        # The upload dialog sends more files than one batch holds as several such requests.
        return JsonResponse(
            {
                "errors": [str(e) for errors in form.errors.values() for e in errors],
                "results": [
                    {"name": r.source_name, "status": r.status.value, "message": r.message}
                    for r in results
                ],
            },
            status=status,
        )
    context = {
        "project": project,
        "form": form,
        "results": results,
        "failed": [r for r in results if not r.status.ok],
        "added": sum(1 for r in results if r.status == "OK"),
        "duplicates": [r for r in results if r.status == "OKDuplicate"],
        "tab": "images",
    }
    return render(request, "projects/upload_result.html", context, status=status)


@login_required
@require_POST
def images_bulk(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    form = BulkImagesForm(
        request.POST,
        image_ids=list(selectors.active_images(project).values_list("id", flat=True)),
        tags=list(selectors.tag_list(project=project)),
    )
    # The keyboard shortcuts ask for JSON and update the page in place; the form reloads it.
    wants_json = request.headers.get("Accept") == "application/json"
    back = safe_next(request, _images_url(project))
    try:
        if not form.is_valid():
            raise ValidationError(
                [" ".join(str(e) for e in errors) for errors in form.errors.values()]
            )
        data = form.cleaned_data
        # One transaction: a refusal half-way (say, a conflicting tag) leaves nothing behind,
        # not even the tag "Tag as" would have created.
        with transaction.atomic():
            message = _bulk(project, data["action"], _bulk_targets(project, data), data["tag_name"])
    except ValidationError as exc:
        if wants_json:
            return JsonResponse({"errors": exc.messages}, status=400)
        for error in exc.messages:
            messages.error(request, error)
        return HttpResponseRedirect(back)
    if wants_json:
        return JsonResponse(_images_page_state(project, data, message))
    messages.success(request, message)
    return HttpResponseRedirect(back)


def _matching(project: Project, data: dict[str, Any]) -> list[uuid.UUID]:
    return selectors.image_ids_matching(
        project=project,
        state=data["filter_state"] or selectors.ImageFilter.ALL,
        tag_ids=data["filter_tag"],
        iteration_id=data.get("filter_iteration"),
    )


def _bulk_targets(project: Project, data: dict[str, Any]) -> list[uuid.UUID]:
    if data["scope"] != BulkImagesForm.MATCHING:
        return list(data["images"])
    ids = _matching(project, data)
    if len(ids) != data["expected"]:
        raise ValidationError(
            f"The filter now matches {len(ids):,} images, not the {data['expected']:,} you "
            "selected; nothing was changed. Check the images and select again."
        )
    return ids


def _images_page_state(project: Project, data: dict[str, Any], message: str) -> dict[str, Any]:
    """What the Training Images page redraws after a shortcut: the images' tags and counts."""
    shown = selectors.active_images(project).filter(id__in=data["images"]).prefetch_related("tags")
    counts = selectors.image_counts(project=project)
    return {
        "message": message,
        # Tagging from the Untagged filter shrinks it: "Select all N matching" must follow.
        "matching": len(_matching(project, data)),
        "images": {str(i.id): [t.name for t in i.tags.all()] for i in shown},
        "counts": {"all": counts.all, "tagged": counts.tagged, "untagged": counts.untagged},
        "tag_counts": {t.name: n for t, n in selectors.tag_image_counts(project=project)},
        "health_html": render_to_string(
            "projects/_health.html", {"health": selectors.dataset_health(project=project)}
        ),
    }


def _bulk(project: Project, action: str, image_ids: list[uuid.UUID], tag_name: str) -> str:
    if action == "delete":
        count = services.images_delete(project=project, image_ids=image_ids)
        return f"Deleted {counted(count, 'image')}."
    if project.is_detection:
        raise ValidationError(DETECTION_TAGS)
    if action == "tag":
        tags = services.tags_get_or_create(project=project, names=[tag_name])
        count = services.images_tags_add(
            project=project, image_ids=image_ids, tags=tags, replace_conflicting=True
        )
        return f"Tagged {counted(count, 'image')} {tags[0].name!r}."
    tag = selectors.tag_list(project=project).filter(name__iexact=tag_name.strip()).first()
    if tag is None:
        raise ValidationError(f"The project has no tag named {tag_name!r}.")
    count = services.images_tags_remove(project=project, image_ids=image_ids, tags=[tag])
    return f"Removed {tag.name!r} from {counted(count, 'image')}."


@login_required
@require_http_methods(["GET", "POST"])
def image_detail(
    request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID
) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    image = selectors.image_get_for_project(project, image_id)
    form = ImageTagsForm(
        request.POST or None, project=project, initial={"tags": list(image.tags.all())}
    )
    back = safe_next(request, _images_url(project))
    previous, following = _neighbours(project, image, back)
    if request.method == "POST" and form.is_valid():
        typed = form.cleaned_data["new_tag"]
        try:
            with transaction.atomic():  # a refused save leaves no new tag behind
                tags = services.tags_with_typed(
                    project=project,
                    chosen=form.cleaned_data["tags"],
                    typed=typed,
                    one_only=project.is_multiclass,
                )
                services.image_tags_set(image=image, tags=tags)
        except ValidationError as exc:
            form.add_error("new_tag" if typed else "tags", exc.messages)
        else:
            messages.success(request, "Tags saved.")
            # "next": Save and next, or → with unsaved ticks; "previous": ← with them.
            then = {"next": following, "previous": previous}.get(request.POST.get("then", ""))
            if then is not None:
                return redirect(_image_url(project, then, back))
            if typed:  # Enter in New tag: stay, to see it ticked and type another
                return redirect(_image_url(project, image, back))
            return redirect(back)
    context = {
        "project": project,
        "image": image,
        "form": form,
        "back": back,
        "previous_url": previous and _image_url(project, previous, back),
        "next_url": following and _image_url(project, following, back),
        "tab": "images",
    }
    if project.is_detection:
        context.update(region_views.editor_context(project, image))
    return render_form(request, "projects/image_detail.html", context)


@login_required
@require_POST
def image_delete(
    request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID
) -> HttpResponse:
    """The image page's Delete image: then the next image under the same filter, or the list."""
    project = selectors.project_get_for_user(request.user, project_id)
    image = selectors.image_get_for_project(project, image_id)
    back = safe_next(request, _images_url(project))
    _, following = _neighbours(project, image, back)
    services.images_delete(project=project, image_ids=[image.id])
    messages.success(request, f"Deleted {image}.")
    return redirect(_image_url(project, following, back) if following else back)


def _neighbours(project: Project, image: Image, back: str) -> tuple[Image | None, Image | None]:
    """Previous and next under the filter of the Training Images page the user came from."""
    query = QueryDict(urlsplit(back).query)
    state, tag_ids, iteration_id = _filter(query, list(selectors.tag_list(project=project)))
    return selectors.image_neighbours(
        project=project, image=image, state=state, tag_ids=tag_ids, iteration_id=iteration_id
    )


def _image_url(project: Project, image: Image, back: str) -> str:
    url = reverse("projects:image", args=[project.id, image.id])
    return f"{url}?{urlencode({'next': back})}"


@login_required
@require_GET
def image_file(request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID) -> FileResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    return serve_stored_file(selectors.image_get_for_project(project, image_id).file.name)


@login_required
@require_GET
def image_thumbnail(
    request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID
) -> FileResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    return serve_stored_file(selectors.image_get_for_project(project, image_id).thumbnail.name)


# --- Tags -----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def tags(request: AuthedRequest, project_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    return _form_page(
        request,
        TagForm(request.POST or None),
        lambda data: services.tag_create(project=project, **data),
        done=lambda tag: f"Tag {tag.name!r} created.",
        then=reverse("projects:tags", args=[project.id]),
        template="projects/tags.html",
        context={"project": project, "tags": selectors.tag_list(project=project), "tab": "images"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def tag_edit(request: AuthedRequest, project_id: uuid.UUID, tag_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    tag = selectors.tag_get_for_project(project, tag_id)
    initial = model_to_dict(tag, fields=list(TagForm.base_fields))
    return _form_page(
        request,
        TagForm(request.POST or None, initial=initial),
        lambda data: services.tag_update(tag=tag, **data),
        done=lambda _: "Tag saved.",
        then=reverse("projects:tags", args=[project.id]),
        template="projects/tag_edit.html",
        context={"project": project, "tag": tag, "tab": "images"},
    )


@login_required
@require_POST
def tag_delete(request: AuthedRequest, project_id: uuid.UUID, tag_id: uuid.UUID) -> HttpResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    tag = selectors.tag_get_for_project(project, tag_id)
    services.tag_delete(tag=tag)
    messages.success(request, f"Tag {tag.name!r} deleted; its images are kept.")
    return redirect("projects:tags", project.id)


# --- Resources ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def resources(request: AuthedRequest) -> HttpResponse:
    form = _resource_form(request, request.POST or None)
    shown: list[Any] | None = None
    if request.method == "POST" and form.is_valid():
        name, kind = form.cleaned_data["name"], form.cleaned_data["kind"]
        try:
            if kind == ResourceForm.BOTH:
                created = services.resources_create_both(owner=request.user, name=name)
            else:
                created = [services.resource_create(owner=request.user, name=name, kind=kind)]
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            form = _resource_form(request)
            shown = new_keys.shown_once(created)
    return _resources_page(request, form, shown, status=400 if form.errors else 200)


def _resource_form(request: AuthedRequest, data: Any = None) -> ResourceForm:
    return ResourceForm(data, initial={"name": services.default_resource_name(request.user)})


def _resources_page(
    request: AuthedRequest, form: ResourceForm, shown: list[Any] | None, status: int = 200
) -> HttpResponse:
    resources = selectors.resource_list(user=request.user)
    context: dict[str, Any] = {"resources": resources, "form": form}
    if shown:
        context["new_keys"] = shown
    return render(request, "projects/resources.html", context, status=status)


@login_required
@require_POST
def resource_regenerate(request: AuthedRequest, resource_id: uuid.UUID, which: int) -> HttpResponse:
    resource = selectors.resource_get_for_user(request.user, resource_id)
    if which not in (1, 2):
        return redirect("projects:resources")
    key = services.resource_regenerate_key(resource=resource, which=1 if which == 1 else 2)
    shown = new_keys.shown_once([(resource, {f"key{which}": key})])
    return _resources_page(request, _resource_form(request), shown)


Saved = TypeVar("Saved", bound=Model)


def _form_page(
    request: AuthedRequest,
    form: ProjectForm | TagForm,
    save: Callable[[dict[str, Any]], Saved],
    *,
    done: Callable[[Saved], str],
    then: str,
    template: str,
    context: dict[str, Any],
) -> HttpResponse:
    """A form page's round trip: a post the service saved says `done(row)` and goes on to
    `then`; anything else shows the page with the form (and its errors, if any)."""
    if (saved := _saved(request, form, save)) is not None:
        messages.success(request, done(saved))
        return redirect(then)
    return render_form(request, template, {**context, "form": form})


def _saved(
    request: AuthedRequest, form: ProjectForm | TagForm, save: Callable[[dict[str, Any]], Saved]
) -> Saved | None:
    """The row a posted form's service call saved, or None: not posted, not valid, or refused
    by the service, whose reasons then go on the form for the page to show."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(form.cleaned_data)
    except ValidationError as exc:
        _add_errors(form, exc)
        return None


def _add_errors(form: ProjectForm | TagForm | ResourceForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
