"""The house's floors (pyproject's [tool.importlinter]): they hold, and an import that runs
back up a floor, or Django in the engine, breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "engine", "portal", "projects", "training", "prediction", "api")
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True
    )


def test_the_floors_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 broken" in result.stdout


def test_an_import_up_a_floor_or_django_in_the_engine_breaks_them(tmp_path):
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "engine" / "probe.py").write_text("import django.db\n")
    (tmp_path / "projects" / "probe.py").write_text("import training.models\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "engine.probe -> django" in result.stdout
    assert "projects.probe -> training.models" in result.stdout
