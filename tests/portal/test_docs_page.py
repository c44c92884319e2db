from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.browser


def test_it_shows_how_to_authenticate_limits_errors_and_a_curl_per_endpoint(alice_page, live_server):
    page = alice_page
    page.goto("/portal/docs/")

    assert page.title().startswith("Docs")
    assert page.get_by_role("link", name="Docs").get_attribute("aria-current") == "page"
    body = page.locator("main").inner_text()
    assert "Authorization: Bearer tp_live_" in body
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"):
        assert header in body
    assert '{"error": {"code": "insufficient_credits"' in body
    # one curl example per endpoint of the contract's sections 4–6
    for endpoint in ("POST /api/v1/generate", "GET /api/v1/credits/balance", "GET /api/v1/today",
                     "DELETE /api/v1/keys/{id}", "POST /api/v1/billing/checkout", "GET /health/ready"):
        section = page.locator("section", has=page.get_by_role("heading", name=endpoint, exact=True))
        assert "curl" in section.locator("pre").inner_text()
    assert f"export API={live_server.url}" in body
    assert page.get_by_role("link", name="API reference").first.get_attribute("href") == "/api/v1/docs/"
    screenshot(page, "docs")
    screenshot(page, "docs-first-screen", full_page=False)


def test_it_says_what_to_do_for_every_error_code_of_the_contract(alice_page):
    alice_page.goto("/portal/docs/")

    errors = alice_page.locator("#errors + p + pre + .table-wrap table").inner_text()
    for code in ("invalid_request", "unauthenticated", "insufficient_credits", "budget_exceeded", "forbidden",
                 "not_found", "conflict", "rate_limited", "concurrency_limited", "upstream_error",
                 "upstream_unavailable", "upstream_timeout"):
        assert code in errors
    assert "expired" in errors  # a key past its expires_at is refused with 401 too


def test_it_needs_a_signed_in_account(page):
    response = page.request.get("/portal/docs/", max_redirects=0)

    assert response.status == 302
    assert response.headers["location"].startswith("/portal/login/")
