"""Raw HTTP for the parts of Azure's surface whose edges the SDK sweep does not reach: metadata
limits and `$filter` mistakes, settings that can't be honoured, what iterationId and
allIterations do, GetArtifact paths, and the REST quickstart's way of sending an image."""

from __future__ import annotations

import pytest

from projects.models import Image
from tests.api.test_http_errors import Api, error
from tests.training.synthetic import photo

pytestmark = pytest.mark.django_db(transaction=True)

GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"


@pytest.fixture
def api(live_server, keys):
    return Api(live_server, keys[0][1].key1)


def _upload(api, project, metadata, seed=1):
    body = {
        "images": [{"name": "a.jpg", "contents": _b64(photo("red", seed=seed))}],
        "metadata": metadata,
    }
    return api("POST", f"projects/{project.id}/images/files", json=body)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_metadata_limits_and_filter_mistakes_are_azures_errors(api, project):
    too_many = {f"k{i}": "v" for i in range(11)}
    error(_upload(api, project, too_many), 400, "BadRequestImageMetadataKey")
    error(_upload(api, project, {"k" * 129: "v"}), 400, "BadRequestImageMetadataKey")
    error(_upload(api, project, {"k": "v" * 257}), 400, "BadRequestImageMetadataValue")
    error(_upload(api, project, {"k": 5}), 400, "BadRequestImageMetadataValue")
    assert not Image.objects.exists()  # a refused batch takes nothing in

    made = _upload(api, project, {f"k{i}": "v" for i in range(9)}).json()["images"][0]["image"]
    update = api(
        "POST",
        f"projects/{project.id}/images/metadata",
        params={"imageIds": made["id"]},
        json={"x": "1", "y": "2"},  # 11 pairs once merged
    ).json()
    assert update["images"][0]["status"] == "ErrorLimitExceed"
    assert len(update["images"][0]["metadata"]) == 9  # unchanged

    count = f"projects/{project.id}/images/count"
    for bad in ("k0 eq v", "k0 gt 'v'", "(k0 eq 'v'", "k0 eq 'v' and", "eq 'v'", "k0 eq 'v' x"):
        error(api("GET", count, params={"$filter": bad}), 400, "BadRequestInvalid")
    assert api("GET", count, params={"$filter": "metadata=k0 eq 'v'"}).json() == 1
    # OData quoting: '' inside a literal is one quote; keys may contain Django's "__".
    api("POST", f"projects/{project.id}/images/metadata", params={"imageIds": made["id"]},
        json={"a__b": "it's"})  # fmt: skip
    assert api("GET", count, params={"$filter": "a__b eq 'it''s'"}).json() == 1
    assert api("GET", count, params={"$filter": "(a__b ne 'it''s') or k1 eq 'w'"}).json() == 0


def test_settings_that_cannot_be_honoured_say_so(api, project, trained):
    error(
        api("POST", "projects", params={"name": "P", "targetExportPlatforms": "ONNX"}),
        400,
        "BadRequestProjectUnsupportedExportPlatform",  # General can't export
    )
    error(
        api(
            "POST",
            "projects",
            params={"name": "P", "domainId": COMPACT, "targetExportPlatforms": "Nope"},
        ),
        400,
        "BadRequestProjectUnsupportedExportPlatform",
    )
    for option in ("exportModelContainerUri", "notificationQueueUri"):
        error(
            api("POST", "projects", params={"name": "P"}, json={option: "https://x/y"}),
            400,
            "BadRequestNotSupported",
        )
        patch = {"name": "P", "settings": {option: "https://x/y"}}
        error(api("PATCH", f"projects/{project.id}", json=patch), 400, "BadRequestNotSupported")
    base = {"customBaseModelInfo": {"projectId": str(project.id), "iterationId": str(trained.id)}}
    error(
        api("POST", f"projects/{project.id}/train", params={"forceTrain": "true"}, json=base),
        400,
        "BadRequestNotSupported",
    )
    made = api(
        "POST",
        "projects",
        params={"name": "C", "domainId": COMPACT, "targetExportPlatforms": "onnx"},
    ).json()
    assert made["settings"]["targetExportPlatforms"] == ["ONNX"]
    # Moving to a domain that can't export, with the platforms still asked for, is refused.
    moved = {"name": "C", "settings": {"domainId": GENERAL, "targetExportPlatforms": ["ONNX"]}}
    error(
        api("PATCH", f"projects/{made['id']}", json=moved),
        400,
        "BadRequestProjectUnsupportedExportPlatform",
    )


def test_iteration_views_and_all_iterations(api, project, trained):
    images = f"projects/{project.id}/images"
    seen = api("GET", images, params={"iterationId": str(trained.id), "take": 50}).json()
    assert len(seen) == 10
    red = next(i for i in seen if i["tags"][0]["tagName"] == "Red")
    red_tag = red["tags"][0]["tagId"]
    # Renaming the tag since does not change what the iteration saw.
    api("PATCH", f"projects/{project.id}/tags/{red_tag}", json={"name": "Crimson"})
    again = api("GET", f"{images}/id", params={"imageIds": red["id"], "iterationId": trained.id})
    assert again.json()[0]["tags"][0]["tagName"] == "Red"
    assert (
        api("GET", f"{images}/id", params={"imageIds": red["id"]}).json()[0]["tags"][0]["tagName"]
        == "Crimson"
    )

    # Plain delete: gone from the project, still in the iteration.
    api("DELETE", images, params={"imageIds": red["id"]})
    counted = {"iterationId": str(trained.id)}
    assert api("GET", f"{images}/count", params=counted).json() == 10
    assert api("GET", f"{images}/count").json() == 9
    # allIterations: gone from the iteration too (Azure's "not just the current workspace").
    blue = next(i for i in seen if i["tags"][0]["tagName"] == "Blue")
    api("DELETE", images, params={"imageIds": blue["id"], "allIterations": "true"})
    assert api("GET", f"{images}/count", params=counted).json() == 9
    assert not Image.objects.filter(id=blue["id"]).exists()
    error(api("GET", f"{images}/count", params={"iterationId": "0" * 32}), 404, "NotFound")


def test_artifact_paths(api, project, trained, keys, bob, live_server):
    image = project.images.first()
    path = f"projects/{project.id}/artifacts"
    got = api("GET", path, params={"path": f"images/{image.id}/original"})
    assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"
    for bad in ("", "../../etc/passwd", f"images/{image.id}/../../x", "models/x.pt"):
        error(api("GET", path, params={"path": bad}), 400, "BadRequestInvalidArtifactUri")
    error(api("GET", path, params={"path": f"images/{'0' * 8}-0000-0000-0000-{'0' * 12}/original"}),
          404, "NotFound")  # fmt: skip


def test_the_rest_quickstarts_raw_image_with_a_bare_multipart_type(api, project, trained):
    """Microsoft's REST quickstart: `-H "Content-Type: multipart/form-data"` and the image as
    the body, no boundary; tag ids may come as a JSON-style array."""
    tag = project.tags.get(name="Red")
    response = api(
        "POST",
        f"projects/{project.id}/images",
        params={"tagIds": f'["{tag.id}"]'},
        headers={"Content-Type": "multipart/form-data"},
        data=photo("red", seed=999),
    )
    assert response.status_code == 200, response.content
    made = response.json()["images"][0]
    assert made["status"] == "OK" and made["image"]["tags"][0]["tagName"] == "Red"
