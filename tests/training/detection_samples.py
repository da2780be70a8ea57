"""Microsoft's sample scripts for exported detectors (tests/data/export-samples), unchanged:
written out as `predict.py`, then imported or run as a program."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "export-samples"


def sample_script(form: str, folder: Path) -> Path:
    """`form` is "object_detection" (one grid output) or "object_detection_s1"."""
    target = folder / form / "predict.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / form / "predict.py.txt", target)
    return target


def sample_module(form: str, folder: Path) -> ModuleType:
    path = sample_script(form, folder)
    spec = importlib.util.spec_from_file_location(f"sample_{form}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
