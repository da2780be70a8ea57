"""Custom Vision Training API: an iteration's model exports (ONNX, Dockerfile)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from api.auth import TRAINING
from api.endpoint import api_view
from api.shapes import export_json
from projects.models import Resource
from training import exporting
from training.models import Export, Iteration


@api_view(["GET", "POST"], TRAINING, finds="iteration")
def exports(request: HttpRequest, resource: Resource, found: Iteration) -> Any:
    """GetExports, and ExportIteration (`platform`, `flavor` in the query, as Azure's)."""
    if request.method == "POST":
        export = exporting.export_start(
            iteration=found,
            platform=request.GET.get("platform", ""),
            flavor=request.GET.get("flavor", ""),
        )
        return _export_json(request, export)
    return [_export_json(request, e) for e in exporting.export_list(iteration=found)]


def _export_json(request: HttpRequest, export: Export) -> dict[str, Any]:
    done = export.status == Export.Status.DONE
    uri = request.build_absolute_uri(exporting.download_path(export)) if done else None
    return export_json(export, uri)
