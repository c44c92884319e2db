"""The API reference (/api/v1/docs/) renders in a browser with nothing but this origin
(offline) and without breaking its own Content-Security-Policy."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import PHONE, screenshot

pytestmark = pytest.mark.browser

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# Before any script of the page runs: every CSP violation the browser reports.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def offline_page(page, live_server):
    """A page that can reach the gateway only; `page.elsewhere` lists what it tried beyond."""
    own = urlsplit(live_server.url).netloc
    page.elsewhere = []

    def route(r):
        if urlsplit(r.request.url).netloc == own or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            page.elsewhere.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.add_init_script(RECORD_VIOLATIONS)
    return page


def test_it_renders_offline_under_its_csp(offline_page):
    page = offline_page
    response = page.goto("/api/v1/docs/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    # Rendered by Redoc from the schema: an operation and a section of the introduction.
    expect(page.get_by_role("heading", name=re.compile(r"Generate a timepoint$"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"Authentication$"))).to_be_visible()
    assert page.elsewhere == []
    # Redoc's footer always asks Redocly's CDN for its logo; the policy refuses it and Redoc
    # drops the image. Nothing else may be refused.
    refused = [v for v in page.evaluate("window.cspViolations") if v != f"img-src {REDOCLY_LOGO}"]
    assert refused == []
    screenshot(page, "api-reference", full_page=False)
    page.set_viewport_size(PHONE)
    screenshot(page, "api-reference-phone", full_page=False)
