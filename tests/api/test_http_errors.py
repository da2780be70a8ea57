"""Raw HTTP against a live server: each error case in Azure's shape, partly failed batches
(207), URL ingestion and classification through the SSRF-safe fetcher."""

from __future__ import annotations

import base64

import pytest
import requests

from prediction.models import StoredPrediction
from projects.models import Image
from tests.training.synthetic import photo
from training import services as training_services

pytestmark = pytest.mark.django_db(transaction=True)


class Api:
    def __init__(self, live_server, key: str, header: str = "Training-Key", version="v3.3"):
        self.root = f"{live_server.url}/customvision/{version}"
        self.key, self.header = key, header

    def __call__(self, method, path, *, key=None, api="training", **kwargs):
        headers = kwargs.pop("headers", {})
        use = self.key if key is None else key
        if use:
            headers[self.header] = use
        return requests.request(
            method, f"{self.root}/{api}/{path}", headers=headers, timeout=60, **kwargs
        )


def error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return body


@pytest.fixture
def api(live_server, keys):
    return Api(live_server, keys[0][1].key1)


def test_keys_missing_wrong_or_of_the_wrong_kind_are_401(api, keys, project):
    (_t, _tkeys), (_p, pkeys) = keys
    for key in ("", "not-a-key", pkeys.key1):
        error(api("GET", "projects", key=key), 401, "Unauthorized")
    response = api("GET", "projects", key="", headers={"Ocp-Apim-Subscription-Key": api.key})
    assert response.status_code == 200


def test_every_version_answers_and_others_do_not(live_server, keys):
    key = keys[0][1].key1
    for version in ("v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview"):
        assert Api(live_server, key, version=version)("GET", "domains").status_code == 200
    for version in ("v2.0", "v3.5", "v4.0"):
        assert Api(live_server, key, version=version)("GET", "domains").status_code == 404


def test_bad_requests_carry_azures_codes(api, project, alice):
    p = f"projects/{project.id}"
    error(api("GET", "projects/00000000-0000-0000-0000-000000000000"), 404, "NotFound")
    error(api("POST", f"{p}/images/files", data=b"{not json"), 400, "BadRequestInvalidJson")
    error(api("GET", f"{p}/images/tagged?tagIds=nope"), 400, "BadRequestInvalidIds")
    error(api("GET", f"{p}/images?take=many"), 400, "BadRequestInvalid")
    error(api("POST", f"{p}/images"), 400, "BadRequestImageStream")
    many = {"images": [{"name": f"{i}.jpg", "contents": ""} for i in range(65)]}
    error(api("POST", f"{p}/images/files", json=many), 400, "BadRequestImageBatch")
    error(
        api("POST", f"{p}/train"), 400, "BadRequestMultiClassClassificationTrainingValidationFailed"
    )
    error(api("POST", f"{p}/quicktest/url", json={"url": "x"}), 400, "BadRequestNoValidIteration")
    error(api("POST", f"{p}/tags?name="), 400, "BadRequest")
    error(api("POST", "projects/import?token=forged"), 400, "BadRequestInvalidImportToken")
    assert Image.objects.count() == 0


def test_training_refusals(api, keys, project, trained):
    p = f"projects/{project.id}"
    error(api("POST", f"{p}/train"), 400, "BadRequestTrainingNotNeeded")
    error(
        api("POST", f"{p}/train?trainingType=Advanced&forceTrain=true"),
        400,
        "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining",
    )
    # A budget that never runs out would hold the only training worker for good.
    for budget in ("inf", "1e6", "nan", "-inf"):
        error(
            api(
                "POST",
                f"{p}/train?trainingType=Advanced&forceTrain=true&reservedBudgetInHours={budget}",
            ),
            400,
            "BadRequestTrainingValidationFailed"
            if budget in ("inf", "1e6")
            else "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining",
        )
    assert api("GET", f"{p}/iterations").status_code == 200
    assert not project.iterations.filter(status__in=["Queued", "Training"]).exists()
    it = f"{p}/iterations/{trained.id}"
    error(
        api("POST", f"{it}/publish?publishName=x&predictionId=nope"),
        400,
        "BadRequestInvalidPublishTarget",
    )
    pid = keys[1][0].id
    error(
        api("POST", f"{it}/publish?publishName=a%2Fb&predictionId={pid}"),
        400,
        "BadRequestInvalidPublishName",
    )
    running = training_services.iteration_train_start(project=project, force=True)
    error(api("POST", f"{p}/train?forceTrain=true"), 400, "BadRequestTrainingAlreadyInProgress")
    error(
        api("GET", f"{p}/iterations/{running.id}/performance"),
        400,
        "BadRequestIterationIsNotTrained",
    )


def test_a_partly_failed_batch_is_207_and_loses_nothing_else(api, project):
    good = base64.b64encode(photo("blue", seed=1)).decode()
    body = {
        "images": [
            {"name": "good.jpg", "contents": good},
            {"name": "bad-base64", "contents": "!!!"},
            {"name": "not-an-image.jpg", "contents": base64.b64encode(b"hello").decode()},
        ]
    }
    response = api("POST", f"projects/{project.id}/images/files", json=body)
    assert response.status_code == 207
    summary = response.json()
    assert summary["isBatchSuccessful"] is False
    assert [i["status"] for i in summary["images"]] == ["OK", "ErrorSource", "ErrorImageFormat"]
    assert Image.objects.filter(project=project).count() == 1


def test_images_from_urls_fetch_public_ones_and_refuse_the_rest(
    api, project, image_server, allow_local
):
    ok = image_server.serve("/tree.jpg", photo("blue", seed=2))
    body = {
        "images": [
            {"url": ok},
            {"url": "http://169.254.169.254/latest/meta-data/"},
            {"url": "http://10.0.0.1/a.jpg"},
            {"url": image_server.url("/missing.jpg")},
            {"url": "file:///etc/passwd"},
        ]
    }
    response = api("POST", f"projects/{project.id}/images/urls", json=body)
    assert response.status_code == 207, response.content
    images = response.json()["images"]
    assert [i["status"] for i in images] == ["OK"] + ["ErrorSource"] * 4
    assert images[0]["sourceUrl"] == ok and images[0]["image"]["width"] > 0
    assert Image.objects.get(project=project).source == Image.Source.URL
    # Fetched in parallel: which one the server saw first is not the point.
    assert sorted(image_server.hits) == ["/missing.jpg", "/tree.jpg"]


def test_without_the_allow_list_a_local_server_is_never_fetched(api, project, image_server):
    url = image_server.serve("/tree.jpg", photo("blue", seed=2))
    response = api("POST", f"projects/{project.id}/images/urls", json={"images": [{"url": url}]})
    assert response.status_code == 207
    assert response.json()["images"][0]["status"] == "ErrorSource"
    assert image_server.hits == [] and Image.objects.count() == 0


def test_classify_url_refuses_unsafe_urls_and_stores_nothing(
    live_server, keys, project, trained, image_server
):
    (_t, _), (prediction_resource, pkeys) = keys
    training_services.iteration_publish(
        iteration=trained, publish_name="m", prediction_resource=prediction_resource
    )
    predict = Api(live_server, pkeys.key1, header="Prediction-Key", version="v3.0")
    trap = image_server.serve("/x.jpg", photo("blue", seed=3))
    for url in (
        trap,
        "http://[::1]/x.jpg",
        "http://2130706433/x.jpg",
        "http://169.254.169.254/",
        "gopher://example.com/",
    ):
        for path in ("url", "url/nostore"):
            response = predict(
                "POST",
                f"{project.id}/classify/iterations/m/{path}",
                api="Prediction",
                json={"url": url},
            )
            error(response, 400, "BadRequestImageUrl")
    error(
        predict("POST", f"{project.id}/classify/iterations/m/url", api="Prediction", json={}),
        400,
        "BadRequestImageUrl",
    )
    assert image_server.hits == [] and StoredPrediction.objects.count() == 0


def test_prediction_images_over_4mb_are_refused(live_server, keys, project, trained):
    (_t, _), (prediction_resource, pkeys) = keys
    training_services.iteration_publish(
        iteration=trained, publish_name="m", prediction_resource=prediction_resource
    )
    predict = Api(live_server, pkeys.key1, header="Prediction-Key", version="v3.0")
    big = photo("blue", seed=4) + b"\0" * (4 * 1024 * 1024)
    response = predict(
        "POST", f"{project.id}/classify/iterations/m/image", api="Prediction", data=big
    )
    error(response, 400, "BadRequestImageSizeBytes")


def test_openapi_lists_every_route(client):
    from api.urls import ROUTES

    document = client.get("/customvision/openapi.json").json()
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert operations == {o for r in ROUTES for o in r.operations.values()}
    assert "/customvision/{version}/training/projects/{projectId}/images/urls" in document["paths"]


def test_rest_samples_pascal_case_bodies_work(
    live_server, api, keys, project, trained, image_server, allow_local
):
    """Microsoft's REST samples send {"Url": ...}; Azure reads keys ignoring case."""
    (_t, _), (prediction_resource, pkeys) = keys
    training_services.iteration_publish(
        iteration=trained, publish_name="m", prediction_resource=prediction_resource
    )
    url = image_server.serve("/b.jpg", photo("blue", seed=77))
    predict = Api(live_server, pkeys.key1, header="Prediction-Key", version="v3.0")
    response = predict(
        "POST", f"{project.id}/classify/iterations/m/url", api="Prediction", json={"Url": url}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["predictions"][0]["tagName"] == "Blue"
    assert set(body) == {"id", "project", "iteration", "created", "predictions"}
    assert StoredPrediction.objects.filter(pk=body["id"]).exists()
    created = api("POST", f"projects/{project.id}/images/urls", json={"Images": [{"Url": url}]})
    assert created.status_code == 200 and created.json()["images"][0]["status"] == "OK"


def test_paths_not_served_answer_in_azures_shape(api, project, trained):
    response = api("POST", f"projects/{project.id}/iterations/{trained.id}/unknownword")
    body = error(response, 404, "NotFound")
    assert "openapi.json" in body["message"]


def test_malformed_input_is_a_400_in_azures_shape_never_a_500(api, project, trained):
    p = f"projects/{project.id}"
    it = f"{p}/iterations/{trained.id}"
    deep = "[" * 100_000 + "]" * 100_000
    cases = [
        ("PATCH", p, {"data": "[1, 2]", "headers": {"Content-Type": "application/json"}}),
        ("PATCH", p, {"data": deep, "headers": {"Content-Type": "application/json"}}),
        ("GET", f"{p}/images?take=-5", {}),
        ("GET", f"{p}/images?skip={10**30}", {}),
        ("GET", f"{it}/performance?threshold=nan", {}),
        ("GET", f"{it}/performance?threshold=2", {}),
        ("POST", f"{p}/predictions/query", {"json": {"startTime": "2024-13-01T00:00:00Z"}}),
        (
            "POST",
            f"{p}/predictions/query",
            {"json": {"tags": [{"id": str(project.id), "minThreshold": "nan"}]}},
        ),
        ("POST", f"{p}/train?forceTrain=true", {"json": {"selectedTags": "abc"}}),
        ("POST", f"{p}/train?forceTrain=true", {"json": {"selectedTags": ["not-a-uuid"]}}),
        ("POST", f"{p}/tags?name=a%00b", {}),
        ("POST", f"{p}/tags?name={'x' * 5000}", {}),
        ("PATCH", p, {"json": {"name": "a\x00b"}}),
        ("PATCH", p, {"json": {"name": "x" * 5000}}),
    ]
    for method, path, kwargs in cases:
        response = api(method, path, **kwargs)
        assert response.status_code == 400, (method, path, response.status_code, response.text)
        body = response.json()
        assert body["code"].startswith("BadRequest") and body["message"], (path, body)
    assert api("GET", p).status_code == 200


def test_route_words_ignore_case_as_azures_do(live_server, keys):
    key = keys[0][1].key1
    for word in ("Training", "TRAINING", "training"):
        url = f"{live_server.url}/customvision/v3.3/{word}/domains"
        assert requests.get(url, headers={"Training-Key": key}, timeout=30).status_code == 200
    # The word still names the route's own API.
    wrong = f"{live_server.url}/customvision/v3.3/Prediction/domains"
    error(requests.get(wrong, headers={"Training-Key": key}, timeout=30), 404, "NotFound")


def test_a_waiting_iteration_reads_training_on_the_api(api, project, trained):
    # Microsoft's quickstarts poll `while status == "Training"`: Queued must not end the loop.
    p = f"projects/{project.id}"
    started = api("POST", f"{p}/train?forceTrain=true")
    assert started.status_code == 200, started.content
    assert project.iterations.get(pk=started.json()["id"]).status == "Queued"  # no worker here
    assert started.json()["status"] == "Training"
    again = api("GET", f"{p}/iterations/{started.json()['id']}")
    assert again.json()["status"] == "Training"


def test_image_count_takes_the_same_filters_as_the_image_list(api, project, trained):
    p = f"projects/{project.id}"
    tag = project.tags.order_by("name").first()
    total = api("GET", f"{p}/images/count").json()
    assert total == len(api("GET", f"{p}/images?take=256").json()) > 0
    assert api("GET", f"{p}/images/count?taggingStatus=Untagged").json() == 0
    assert api("GET", f"{p}/images/count?taggingStatus=Tagged").json() == total
    by_tag = api("GET", f"{p}/images/count?tagIds={tag.id}").json()
    assert 0 < by_tag < total
    assert by_tag == len(api("GET", f"{p}/images?tagIds={tag.id}&take=256").json())


def test_other_words_after_an_image_id_are_not_the_image(api, project, trained):
    image = project.images.first()
    base = f"projects/{project.id}/images/{image.id}"
    assert api("GET", f"{base}/original").status_code == 200
    # Object detection's region proposals get Azure's error for a classification project, any
    # other word NotFound: errors the SDK can read, never the image file.
    error(api("POST", f"{base}/regionproposals"), 400, "BadRequestOperationNotSupported")
    error(api("GET", f"{base}/regionproposals"), 405, "MethodNotAllowed")
    error(api("GET", f"{base}/anything"), 404, "NotFound")


def test_query_predictions_continues_from_where_the_last_page_ended(api, project, trained):
    """QueryPredictions' continuation is a position: every stored prediction comes once, in
    either order, and a continuation this server never handed out is a 400."""
    from tests.prediction.test_views import _kept, newest_first

    rows = _kept(project, trained, 7, same_moment=True)
    oldest_first = [r.id for r in sorted(rows, key=lambda r: (r.created_at.timestamp(), r.id))]
    path = f"projects/{project.id}/predictions/query"
    for order, expected in (("Newest", newest_first(rows)), ("Oldest", oldest_first)):
        token, seen = {"orderBy": order, "maxCount": 3}, []
        while True:
            body = api("POST", path, json=token).json()
            seen += [r["id"] for r in body["results"]]
            token = body["token"]
            if token["continuation"] is None:
                break
        assert seen == [str(i) for i in expected], order
    error(api("POST", path, json={"continuation": "3"}), 400, "BadRequestInvalid")
