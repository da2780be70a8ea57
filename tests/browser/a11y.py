"""Checks every browser test can make of a page: axe-core's accessibility rules (from npm,
clients/js/node_modules), nothing wider than the screen, and no console error, page error or
browser dialog while the test ran."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

AXE = (
    Path(__file__).resolve().parents[2]
    / "clients"
    / "js"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
# axe's default rule set: WCAG 2.x A and AA (labels, contrast, names, structure) and its
# best practices (landmarks, heading order), as a checker run with no options reports them.


def _axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing ({AXE}): `make js-deps` installs it from npm.")
    return AXE.read_text()


def axe_violations(page, context: str | None = None) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (or inside the `context` CSS selector).
    page.evaluate runs through the DevTools protocol, which the page's CSP does not govern,
    so axe goes in without loosening the CSP the test is checking."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    options = {"resultTypes": ["violations"]}
    result = page.evaluate(
        "([context, options]) => axe.run(context || document, options)", [context, options]
    )
    return result["violations"]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            target = " ".join(str(t) for t in node["target"])
            fixes = (node.get("failureSummary") or "").splitlines()[1:2] or [""]
            lines.append(f"    {target}: {fixes[0].strip()}")
        if len(v["nodes"]) > 5:
            lines.append(f"    … and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def assert_accessible(page, context: str | None = None) -> None:
    violations = axe_violations(page, context)
    assert not violations, f"axe finds on {page.url}:\n{describe(violations)}"


def assert_fits(page) -> None:
    """Nothing makes the page scroll sideways at the viewport's width."""
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if scroll > inner:
        wide = page.evaluate(
            "() => [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
            ".slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')"
            " + (e.className && typeof e.className === 'string' ? '.' + e.className : '')"
            " + ' right=' + Math.round(e.getBoundingClientRect().right))"
        )
        pytest.fail(f"{page.url} is {scroll}px wide on a {inner}px screen: {wide}")


@dataclass
class BrowserErrors:
    """What went wrong in the browser while a test ran (console errors, uncaught page errors,
    dialogs: the portal never opens alert/confirm/prompt/beforeunload)."""

    console: list[str] = field(default_factory=list)
    page: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._page_error(page, error))
        page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.console.append(f"{message.text} ({where})")

    def _page_error(self, page, error) -> None:
        where = (error.stack or "").splitlines()[1:2]
        self.page.append(f"{error} on {page.url} {' '.join(w.strip() for w in where)}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_none(self) -> None:
        problems = (
            [f"console: {c}" for c in self.console]
            + [f"page error: {p}" for p in self.page]
            + [f"dialog: {d}" for d in self.dialogs]
        )
        assert not problems, "The browser reported:\n" + "\n".join(problems)


@pytest.fixture
def browser_errors(page):
    """Use with the `page` fixture: fails the test if the page logged an error, threw, or
    opened a dialog at any point."""
    errors = BrowserErrors()
    errors.watch(page)
    yield errors
    errors.assert_none()
