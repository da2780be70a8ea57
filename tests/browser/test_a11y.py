"""The browser checks themselves catch what they are for: a page that passes them is not a
page they could not see (axe loads under a CSP that forbids every script)."""

from __future__ import annotations

import pytest

from tests.browser.a11y import BrowserErrors, assert_accessible, assert_fits

pytestmark = pytest.mark.browser
STRICT = "<meta http-equiv='Content-Security-Policy' content=\"script-src 'none'\">"


def test_axe_reports_violations_under_a_strict_csp(page):
    page.set_content(
        f"<html><head>{STRICT}<title>t</title></head><body><main>"
        "<input type=text><img src='data:,'></main></body></html>"
    )
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    assert "label (critical)" in str(failure.value)
    assert "image-alt (critical)" in str(failure.value)


def test_a_page_wider_than_the_screen_fails(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_content("<html><body><div style='width: 500px'>wide</div></body></html>")
    with pytest.raises(pytest.fail.Exception, match=r"\d+px wide on a 390px screen"):
        assert_fits(page)


def test_console_errors_page_errors_and_dialogs_are_collected(page):
    errors = BrowserErrors()
    errors.watch(page)
    page.set_content("<html><body>fine</body></html>")
    page.evaluate("() => console.error('broken')")
    with page.expect_event("pageerror"):
        page.evaluate("() => setTimeout(() => { throw new Error('thrown'); })")
    page.evaluate("() => alert('hello')")
    with pytest.raises(AssertionError) as failure:
        errors.assert_none()
    message = str(failure.value)
    assert "console: broken" in message
    assert "page error: thrown" in message
    assert "dialog: alert: hello" in message
