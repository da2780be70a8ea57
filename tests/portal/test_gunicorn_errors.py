"""What gunicorn answers before Django sees a request is in Azure's JSON shape too."""

from __future__ import annotations

import json
import os
import socket

import pytest

from tests.servers import portal_process
from tests.workers import database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _raw(port: int, request: bytes) -> tuple[str, dict[str, str], dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, json.loads(body)


def test_requests_gunicorn_refuses_get_azures_json(tmp_path):
    env = dict(os.environ, CV_DATA_DIR=str(tmp_path), DATABASE_URL=database_url(), SECRET_KEY="x")
    with portal_process(env, tmp_path / "gunicorn.log") as (_url, port):
        path = "/customvision/v3.3/training/projects?x=" + "a" * 10_000
        status, headers, body = _raw(port, f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        assert status.startswith("HTTP/1.1 414")
        assert headers["content-type"] == "application/json"
        assert body == {"code": "RequestUriTooLong", "message": "The request's URL is too long."}

        secret = "<script>never-echoed</script>"
        bad = f"GET / HTTP/1.1\r\nHost: h\r\nBad Header{secret}: 1\r\n\r\n".encode()
        status, headers, body = _raw(port, bad)
        assert status.startswith("HTTP/1.1 400")
        assert body["code"] == "BadRequest" and secret not in json.dumps(body)
