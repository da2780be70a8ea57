"""The API page: endpoint, resource ids, SDK snippets and the OpenAPI operations."""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from api import openapi
from api.urls import ROUTES
from portal.api_page import operations_by_tag
from portal.celery import app as celery_app
from projects import services
from tests.api.test_readme_quickstarts import quickstart_env, runner
from training import services as training_services

pytestmark = pytest.mark.django_db

URL = "/api/"
NODE_MODULES = Path(__file__).resolve().parents[2] / "clients" / "js" / "node_modules"


def snippet(page: str, language: str) -> str:
    """The text a Copy button copies: what the user pastes into a file or a shell."""
    match = re.search(rf'<code id="snippet-{language}">(.*?)</code>', page, re.S)
    assert match, f"no {language} snippet"
    return html.unescape(match.group(1))


def test_it_sends_anonymous_users_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_is_the_api_page_url():
    assert reverse("api_page") == URL


def test_it_shows_the_endpoint_and_only_the_users_resources(alice, bob, alice_client):
    training, training_keys = services.resource_create(owner=alice, name="t", kind="training")
    prediction, prediction_keys = services.resource_create(owner=alice, name="p", kind="prediction")
    others, _ = services.resource_create(owner=bob, name="bobs", kind="training")

    response = alice_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<code id="endpoint">http://testserver</code>' in page
    assert str(training.id) in page and str(prediction.id) in page
    assert str(others.id) not in page and "bobs" not in page
    # Keys exist only as hashes once created: nothing on the page can be one.
    for key in (training_keys.key1, training_keys.key2, prediction_keys.key1, prediction_keys.key2):
        assert key not in page
    assert reverse("projects:resources") in page


def test_it_says_when_there_is_no_resource(alice_client):
    page = alice_client.get(URL).content.decode()
    assert "You have no resource yet" in page
    assert f'<a href="{reverse("projects:resources")}">create one on Resources</a>' in page
    assert 'prediction_resource_id = os.environ["VISION_PREDICTION_RESOURCE_ID"]' in page


def test_the_snippets_carry_the_endpoint_and_the_first_resources(alice, alice_client):
    services.resource_create(owner=alice, name="b-predict", kind="prediction")
    first, _ = services.resource_create(owner=alice, name="a-predict", kind="prediction")
    services.resource_create(owner=alice, name="train", kind="training")

    page = alice_client.get(URL).content.decode()

    for heading in ("Python", "JavaScript", "curl"):
        assert f"<h3>{heading}</h3>" in page
    python, javascript, curl = (snippet(page, x) for x in ("python", "javascript", "curl"))
    assert 'os.environ.get("VISION_TRAINING_ENDPOINT", "http://testserver")' in python
    assert f'os.environ.get("VISION_PREDICTION_RESOURCE_ID", "{first.id}")' in python
    assert 'training_key = os.environ["VISION_TRAINING_KEY"]  # Key 1 or Key 2 of train' in python
    assert 'process.env["VISION_TRAINING_ENDPOINT"] || "http://testserver";' in javascript
    assert f'process.env["VISION_PREDICTION_RESOURCE_ID"] || "{first.id}";' in javascript
    assert 'ENDPOINT="${VISION_TRAINING_ENDPOINT:-http://testserver}"' in curl
    assert 'TRAINING_KEY="$VISION_TRAINING_KEY"' in curl
    assert '"$ENDPOINT/customvision/v3.3/training/projects"' in curl
    for language in ("python", "javascript", "curl"):
        assert f'data-copy-target="snippet-{language}"' in page


@pytest.fixture
def live_snippets(live_server, alice, alice_client, sample_dir, tmp_path, monkeypatch):
    """The page's snippets as served to a user of `live_server`, and a runner for them, as
    copied, in a folder holding the sample set as Images/, with the keys in the environment
    the README's quickstarts read (their harness: tests/api/test_readme_quickstarts.py)."""
    # Training runs inside the live server's request instead of a worker: no broker is
    # shared with other test runs, and the snippet's wait loop ends just the same.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    _t, training_keys = services.resource_create(owner=alice, name="t", kind="training")
    prediction, prediction_keys = services.resource_create(owner=alice, name="p", kind="prediction")
    host = urlsplit(live_server.url).netloc
    page = alice_client.get(URL, HTTP_HOST=host).content.decode()
    assert f'"{prediction.id}"' in snippet(page, "python")
    (tmp_path / "Images").symlink_to(sample_dir)
    # The page's own address and resource id stand: only the keys come from outside.
    env = quickstart_env("", training_keys.key1, prediction_keys.key1, "", sample_dir)
    for name in ("VISION_TRAINING_ENDPOINT", "VISION_PREDICTION_RESOURCE_ID"):
        del env[name]
    run_in_folder = runner(tmp_path, env)

    def run(language: str, *command: str, **placeholders: str) -> list[str]:
        text = snippet(page, language)
        assert live_server.url in text and "<your" not in text
        for placeholder, value in placeholders.items():
            text = text.replace(placeholder, value)
        script = tmp_path / f"snippet-{language}"
        script.write_text(text)
        return run_in_folder(*command, str(script))

    return run


def _classified_by_tag(lines: list[str]) -> None:
    # The projects listed before any was created, then one line per tag, best guess first
    # (the sample test photo shows a hemlock twig, see the README).
    assert lines[0] == "[]", lines
    assert lines[-2].startswith("Hemlock: ") and lines[-1].startswith("Japanese Cherry: "), lines


@pytest.mark.django_db(transaction=True)
def test_the_python_snippet_runs_as_shown(live_snippets):
    _classified_by_tag(live_snippets("python", sys.executable))


@pytest.mark.django_db(transaction=True)
def test_the_javascript_snippet_runs_as_shown(live_snippets):
    node = shutil.which("node")
    assert node, "Node.js is needed for the JavaScript SDK snippet"
    assert NODE_MODULES.is_dir(), "run `make test` (it installs clients/js with npm ci)"
    _classified_by_tag(live_snippets("javascript", node))


@pytest.mark.django_db(transaction=True)
def test_the_curl_snippet_runs_as_shown(live_snippets, alice, trained, sample_dir, tmp_path):
    prediction = alice.cv_resources.get(kind="prediction")
    training_services.iteration_publish(
        iteration=trained, publish_name="classifyModel", prediction_resource=prediction
    )
    shutil.copy(sample_dir / "Test" / "test_image.jpg", tmp_path / "image.jpg")

    out = "\n".join(
        live_snippets(
            "curl",
            "bash",
            "-eu",
            **{"<projectId>": str(trained.project_id), "<publishedName>": "classifyModel"},
        )
    )

    # Two JSON answers, back to back: the projects, then the classification.
    decoder = json.JSONDecoder()
    projects, end = decoder.raw_decode(out)
    classified, _ = decoder.raw_decode(out[end:].lstrip())
    assert [p["id"] for p in projects] == [str(trained.project_id)]
    assert {p["tagName"] for p in classified["predictions"]} == {"Red", "Blue"}


def test_every_operation_is_listed_with_its_method_and_path(alice_client):
    page = alice_client.get(URL).content.decode()
    for route in ROUTES:
        for operation_id in route.operations.values():
            assert f"<code>{operation_id}</code>" in page
    assert "<code>/customvision/{version}/training/projects/{projectId}/train</code>" in page
    assert "trainingType, reservedBudgetInHours, forceTrain" in page
    assert f'href="{reverse("openapi")}"' in page


def test_the_nav_links_to_the_page_and_marks_it_current(alice_client):
    page = alice_client.get(URL).content.decode()
    assert f'<a href="{URL}" aria-current="page">API</a>' in page
    projects_page = alice_client.get(reverse("projects:list")).content.decode()
    assert f'<a href="{URL}">API</a>' in projects_page


def test_the_page_loads_the_copy_script(alice_client):
    page = alice_client.get(URL).content.decode()
    assert re.search(r'<script src="[^"]*portal/copy\.js" defer></script>', page)


def test_operations_are_grouped_by_tag_in_document_order():
    groups = operations_by_tag(openapi.build(ROUTES))

    assert [tag for tag, _ in groups] == ["Training", "Prediction"]
    listed = [op.operation_id for _, operations in groups for op in operations]
    assert listed == [op for route in ROUTES for op in route.operations.values()]
    training = {op.operation_id: op for op in groups[0][1]}
    assert training["CreateProject"].method == "POST"
    assert training["GetProjects"].path == "/customvision/{version}/training/projects"
    assert training["GetImages"].query == openapi.QUERY["GetImages"]
    assert training["GetDomains"].query == []  # path parameters ({version}) are not query ones
    classify = groups[1][1][0]
    assert (classify.method, classify.operation_id) == ("POST", "ClassifyImage")
    assert classify.path.endswith("/classify/iterations/{publishName}/image")


def test_grouping_keeps_untagged_operations():
    document = {"paths": {"/x": {"get": {"operationId": "X", "parameters": []}}}}
    assert operations_by_tag(document)[0][0] == "Other"
