"""api/ stays flat: one views module per resource, each reading requests through
api.parsing, none importing another (so no view leans on another's privates)."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_views_module_imports_another():
    views = sorted(API.glob("*_views.py"))
    assert len(views) >= 8
    for path in views:
        others = {f"api.{p.stem}" for p in views if p != path}
        assert not _imported(path) & others, f"{path.name} imports another views module"


def test_only_the_routes_table_imports_the_views():
    for path in API.glob("*.py"):
        if path.name.endswith("_views.py") or path.name == "urls.py":
            continue
        assert not any(n.endswith("_views") for n in _imported(path)), path.name
