from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from projects.models import Resource
from projects.services.resources import key_hash

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createresource_prints_one_json_line_with_the_key():
    line = run(
        "createresource", "ci-training", "--kind", "training", "--owner", "ci", "--create-owner"
    ).strip()
    assert "\n" not in line
    data = json.loads(line)
    resource = Resource.objects.get(pk=data["id"])
    assert (data["name"], data["kind"]) == ("ci-training", "training")
    assert resource.key1_hash == key_hash(data["key"])
    assert resource.owner.username == "ci"


def test_createresource_needs_an_existing_owner_unless_asked():
    with pytest.raises(CommandError, match="--create-owner"):
        run("createresource", "x", "--kind", "prediction", "--owner", "nobody")


def test_createresource_refuses_a_duplicate_name(alice):
    run("createresource", "x", "--kind", "prediction", "--owner", "alice")
    with pytest.raises(CommandError, match="already have"):
        run("createresource", "x", "--kind", "prediction", "--owner", "alice")


def test_ensureadmin_generates_once_and_prints_the_same_password(settings, tmp_path):
    settings.CV_DATA_DIR = tmp_path
    settings.CV_ADMIN_PASSWORD = ""
    first = run("ensureadmin")
    second = run("ensureadmin")
    assert first.split("(")[0] == second.split("(")[0]
    password = (tmp_path / "admin-password").read_text().strip()
    assert (tmp_path / "admin-password").stat().st_mode & 0o077 == 0
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)


def test_ensureadmin_takes_the_password_from_the_environment(settings, tmp_path):
    settings.CV_DATA_DIR = tmp_path
    settings.CV_ADMIN_USERNAME, settings.CV_ADMIN_PASSWORD = "boss", "s3cret-pass"
    assert "from CV_ADMIN_PASSWORD" in run("ensureadmin")
    assert User.objects.get(username="boss").check_password("s3cret-pass")
    assert not (tmp_path / "admin-password").exists()
