"""Property-based fuzzing of every route in the OpenAPI document (schemathesis): whatever the
path, query or JSON body, the answer is never a server error.

Each operation gets generated inputs against a live server, with valid keys and the id of a
real project (so handlers run past their 404s), and must answer below 500 with a JSON
{"code", "message"} body whenever it answers an error.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from api.openapi import build
from api.urls import ROUTES
from projects import services
from tests.training.test_services import add

SCHEMA = schemathesis.openapi.from_dict(build(ROUTES))


@pytest.fixture
def fuzz_target(alice, project):
    add(project, "red", 3, ["Red"])
    add(project, "blue", 3, ["Blue"])
    _t, training = services.resource_create(owner=alice, name="fuzz-t", kind="training")
    _p, prediction = services.resource_create(owner=alice, name="fuzz-p", kind="prediction")
    return {"training": training.key1, "prediction": prediction.key1, "project": project}


@SCHEMA.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same inputs every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db(transaction=True)
def test_no_input_is_a_server_error(case, live_server, fuzz_target):
    if "projectId" in (case.path_parameters or {}):
        case.path_parameters["projectId"] = str(fuzz_target["project"].id)
    api = "prediction" if "/prediction/" in case.operation.path else "training"
    header = "Prediction-Key" if api == "prediction" else "Training-Key"
    response = case.call(base_url=live_server.url, headers={header: fuzz_target[api]}, timeout=30)
    assert response.status_code < 500, (response.status_code, case.as_curl_command())
    if response.status_code >= 400:
        body = response.json()
        assert body.get("code") and body.get("message"), (body, case.as_curl_command())
