"""One catalogue of Azure's codes (core.codes.AzureCode): every code the app answers with is
in it, nothing else passes for one, our own errors are 500s with a log line, and the OpenAPI
document lists each operation's codes."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from api.errors import ApiError, validation_code
from api.openapi import CODES, EVERY, build
from api.urls import ROUTES
from core.codes import AzureCode
from engine.imaging import ImageStatus

ROOT = Path(__file__).resolve().parents[2]
APPS = ("api", "core", "portal", "projects", "training", "prediction")
CODE_LIKE = re.compile(r"BadRequest\w*|Error[A-Z]\w*|NotFound|Unauthorized|ServiceUnavailable")


def _app_sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts and path != ROOT / "core" / "codes.py":
                yield path, ast.parse(path.read_text())


def test_no_code_is_spelled_outside_the_catalogue():
    spelled = []
    for path, tree in _app_sources():
        for node in ast.walk(tree):
            # code="BadRequest…" (a keyword) or ApiError(400, "BadRequest…", …)
            values = [k.value for k in getattr(node, "keywords", []) if k.arg == "code"]
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ApiError":
                values += node.args[1:2]
            spelled += [
                f"{path.relative_to(ROOT)}:{v.lineno} {v.value!r}"
                for v in values
                if isinstance(v, ast.Constant) and str(v.value)[:1].isupper()
            ]
            # Any other string that reads as one of Azure's codes must be a member.
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and CODE_LIKE.fullmatch(node.value)
                and node.value not in set(AzureCode)
            ):
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not spelled, "name these AzureCode members instead:\n" + "\n".join(spelled)


def test_api_error_takes_only_a_member():
    assert ApiError(400, AzureCode.BAD_REQUEST_INVALID, "x").code is AzureCode.BAD_REQUEST_INVALID
    with pytest.raises(ValueError):
        ApiError(400, "BadRequestMadeUp", "x")  # type: ignore[arg-type]


def test_a_code_is_azures_when_it_is_a_member_not_when_it_is_capitalised():
    member = ValidationError("x", code=AzureCode.BAD_REQUEST_TAG_NAME_NOT_UNIQUE)
    assert validation_code(member) is AzureCode.BAD_REQUEST_TAG_NAME_NOT_UNIQUE
    field = ValidationError({"name": ValidationError("x", code=AzureCode.BAD_REQUEST_INVALID)})
    assert validation_code(field) is AzureCode.BAD_REQUEST_INVALID
    for other in ("invalid", "Capitalised", None):
        assert validation_code(ValidationError("x", code=other)) is AzureCode.BAD_REQUEST


def test_the_image_statuses_are_in_the_catalogue():
    # The engine (no Django, no ground floor) names them itself; they must stay Azure's.
    failed = {s.value for s in ImageStatus if not s.ok}
    assert failed <= set(AzureCode)


@pytest.mark.django_db
@pytest.mark.server_error
def test_our_own_type_error_is_a_500_with_a_log_line(client, keys, project, monkeypatch, caplog):
    def broken(**kwargs):
        raise TypeError("a bug of ours")

    monkeypatch.setattr("training.selectors.iteration_list", broken)
    _resource, training_key = keys[0]
    with caplog.at_level(logging.ERROR, logger="api.endpoint"):
        response = client.get(
            f"/customvision/v3.3/training/projects/{project.id}/iterations",
            headers={"Training-Key": training_key.key1},
        )
    assert response.status_code == 500
    assert response.json()["code"] == AzureCode.INTERNAL_SERVER_ERROR
    logged = [r for r in caplog.records if r.name == "api.endpoint" and r.exc_info]
    assert logged and logged[0].exc_info[0] is TypeError


def test_the_openapi_document_lists_each_operations_codes():
    document = build(ROUTES)
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values()
    }
    assert set(CODES) <= set(operations)  # no stale entries
    for operation_id, operation in operations.items():
        codes = operation["x-ms-error-codes"]
        assert set(codes) <= set(AzureCode), operation_id
        assert {c.value for c in EVERY} <= set(codes), operation_id
        schema = operation["responses"]["default"]["content"]["application/json"]["schema"]
        assert schema["allOf"][1]["properties"]["code"]["enum"] == codes
    assert "BadRequestTrainingNotNeeded" in operations["TrainProject"]["x-ms-error-codes"]
    performance = operations["GetIterationPerformance"]["x-ms-error-codes"]
    assert "BadRequestIterationIsNotTrained" in performance
    assert "BadRequestTrainingNotNeeded" not in performance


@pytest.mark.django_db
def test_values_of_the_wrong_type_are_a_clients_400(client, keys, project):
    # What used to reach our code as a TypeError (now a 500) is refused where it is read.
    _resource, training_key = keys[0]
    iteration = project.iterations.create(name="Iteration 1", domain_id=project.domain_id)
    tag = project.tags.create(name="Red")
    p = f"/customvision/v3.3/training/projects/{project.id}"
    cases = [
        ("patch", p, {"name": 5}),
        ("patch", p, {"settings": {"classificationType": 5}}),
        ("patch", f"{p}/tags/{tag.id}", {"description": ["x"]}),
        ("patch", f"{p}/iterations/{iteration.id}", {"name": {"a": 1}}),
        ("post", f"{p}/images/tags", {"tags": [1]}),
        ("post", f"{p}/images/tags", {"tags": 5}),
        ("post", f"{p}/images/files", {"images": [{"contents": 5}]}),
        ("post", f"{p}/images/files", {"images": [{"contents": "", "tagIds": 5}]}),
        ("post", f"{p}/images/urls", {"images": [], "tagIds": 5}),
        ("post", f"{p}/predictions/query", {"tags": 5}),
        ("post", f"{p}/predictions/query", {"startTime": "0001-01-01T00:00:00+14:00"}),
    ]
    for method, path, body in cases:
        response = getattr(client, method)(
            path, body, content_type="application/json", headers={"Training-Key": training_key.key1}
        )
        assert response.status_code == 400, (path, body, response.content)
        assert response.json()["code"] == AzureCode.BAD_REQUEST_INVALID, (path, body)
