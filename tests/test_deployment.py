"""docker-compose.yml cannot be started here (no Docker engine), so check its shape instead."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_has_the_production_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "worker-light", "worker-gpu", "migrate"} <= set(
        services
    )
    for name in ("web", "worker", "worker-gpu"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "gunicorn" in (ROOT / "Dockerfile").read_text()


def test_the_web_journal_outlives_its_container():
    # Kept predictions answered but not yet written wait in $CV_DATA_DIR/journal: a restarted
    # web container (or the light worker) must find them there.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "CV_DATA_DIR=/data" in dockerfile
    for name in ("web", "worker-light"):
        mounts = dict(v.split(":")[:2][::-1] for v in compose["services"][name]["volumes"])
        assert mounts["/data"] in compose["volumes"], name


def test_readme_gives_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_dockerfile_copies_everything_the_image_needs(tmp_path):
    """No container engine runs here, so do what the Dockerfile does without one: its COPY
    steps into an empty folder, the package installed from there (without dependencies: this
    environment has them), then Django's deployment checks, every installed app and URL
    imported, and the files that ship as package data (the exported Docker app)."""
    import os
    import shutil
    import subprocess
    import sys
    import sysconfig

    image = tmp_path / "app"
    image.mkdir()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] != ["COPY"] or any(w.startswith("--from") for w in words):
            continue
        *sources, target = words[1:]
        for source in sources:
            path = ROOT / source
            goes = image / (source if target in (".", "./") or len(sources) > 1 else target)
            if path.is_dir():
                shutil.copytree(path, goes, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, goes)
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(image),
        ],
        check=True,
        capture_output=True,
    )
    # -S below: no .pth files, so not this checkout's own editable install either; the
    # environment's packages come from its site-packages folder, the project from `site`.
    packages = sysconfig.get_paths()["purelib"]
    env = {
        **os.environ,
        "PYTHONPATH": f"{site}{os.pathsep}{packages}",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "x" * 60,
        "CV_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    # Set by the browser tests for their own process; a deployment never has it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    code = (
        "import django, importlib; django.setup(); "
        "from django.conf import settings; "
        "[importlib.import_module(a) for a in settings.INSTALLED_APPS]; "
        "import portal.urls, portal.wsgi, portal.celery; "
        "from engine import export; "
        "assert (export.CONTAINER / 'app.py').is_file(), export.CONTAINER; "
        "assert str(export.CONTAINER).startswith(" + repr(str(site)) + "), export.CONTAINER; "
        "print('ok')"
    )
    # Run from an empty folder: only the installed package can answer the imports.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=elsewhere, env=env, capture_output=True
    )
    assert out.stdout.decode().strip().endswith("ok"), out.stderr.decode()[-3000:]
    check = subprocess.run(
        [sys.executable, "-S", "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=image,
        env=env,
        capture_output=True,
    )
    assert check.returncode == 0, check.stderr.decode()[-3000:]


def test_the_compose_commands_start_what_the_code_has(settings):
    """Each service's command names something that exists: a management command, the Celery
    app, queues some worker consumes (every routed task's, the beat's), registered tasks."""
    from django.core.management import get_commands

    from portal.celery import app

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app.loader.import_default_modules()
    consumed: set[str] = set()
    beat = False
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if command[:2] == ["python", "manage.py"]:
            assert command[2] in get_commands(), (name, command)
        if command[:1] == ["celery"]:
            assert command[1:3] == ["-A", "portal"] and "worker" in command, name
            queues = next(c for c in command if c.startswith("--queues="))
            consumed |= set(queues.split("=", 1)[1].split(","))
            beat = beat or "--beat" in command
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {"celery"} <= consumed
    assert beat, "no worker runs the beat schedule"
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]
    for task in settings.CELERY_TASK_ROUTES:
        assert task in app.tasks, task
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"gunicorn", "portal.wsgi"' in dockerfile
    import portal.wsgi

    assert callable(portal.wsgi.application)
