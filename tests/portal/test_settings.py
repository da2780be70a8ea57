"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import env

ROOT = Path(__file__).resolve().parents[2]


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.example, b.example,")
    assert env.env_bool("X_BOOL", False) is True
    assert env.env_int("X_INT", 1) == 42
    assert env.env_list("X_LIST", []) == ["a.example", "b.example"]
    assert env.env_str("X_MISSING", "d") == "d"


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        (lambda: env.env_bool("X", False), "maybe"),
        (lambda: env.env_int("X", 1), "ten"),
        (lambda: env.env_int("X", 1, minimum=1), "0"),
        (lambda: env.env_choice("X", "local", ("local", "s3")), "ftp"),
    ],
)
def test_env_helpers_fail_loudly(monkeypatch, reader, value):
    monkeypatch.setenv("X", value)
    with pytest.raises(ImproperlyConfigured):
        reader()


def load_settings(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "CV_STORAGE")
    }
    environ.update({"CV_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    environ.update(extra)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.STORAGES['default']['BACKEND'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_is_a_loud_error(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_secret_key_file_in_the_data_dir_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("from-file\n")
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "django.core.files.storage.FileSystemStorage",
    ]


def test_bad_database_url_is_a_loud_error(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="k", DATABASE_URL="nosuchdb://x/y")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_s3_storage_needs_a_bucket_and_uses_django_storages(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="k", CV_STORAGE="s3")
    assert "AWS_STORAGE_BUCKET_NAME" in result.stderr
    result = load_settings(
        tmp_path, SECRET_KEY="k", CV_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="images"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "storages.backends.s3.S3Storage"


def test_postgres_url_selects_postgres(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="k", DATABASE_URL="postgres://u@127.0.0.1:5432/cv")
    assert result.stdout.split()[0] == "django.db.backends.postgresql"
