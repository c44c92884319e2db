"""The admin in a browser, as an operator sees it: the portal tests' Chromium
(one per package), a superuser signed in through a session cookie, and the Stripe
stand-in's signed events."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.payments.conftest import WEBHOOK, committed, post_event, stripe_api  # noqa: F401  (fixtures)
from tests.portal.conftest import async_unsafe_within, browser, context, page  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent

# Every list an operator works from (the admin's changelists), by a short name.
LISTS = {
    "accounts": "/admin/accounts/account/",
    "session-tokens": "/admin/accounts/sessiontoken/",
    "keys": "/admin/apikeys/apikey/",
    "tier-changes": "/admin/apikeys/tierchange/",
    "grants": "/admin/payments/creditgrant/",
    "events": "/admin/payments/stripeevent/",
    "differences": "/admin/payments/difference/",
    "usage-records": "/admin/metering/usagerecord/",
    "auto-reloads": "/admin/payments/autoreload/",
    "reloads": "/admin/payments/reload/",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    with async_unsafe_within(item, HERE):
        yield


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123")


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def operator_page(context, page, live_server, operator):  # noqa: F811  (the imported fixtures)
    """A page signed in to the admin as a superuser."""
    client = Client()
    client.force_login(operator)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
    return page


@pytest.fixture
def events_to_gateway(stripe_api) -> None:  # noqa: F811  (the imported fixture)
    """The stand-in's events reach the gateway through the test client, in this thread,
    as in the payments tests."""

    def transport(body: bytes, headers: dict[str, str]) -> int:
        with committed():
            return Client().post(WEBHOOK, data=body, content_type="application/json",
                                 headers={"Stripe-Signature": headers["Stripe-Signature"]}).status_code

    stripe_api.transport = transport


def clipped_columns(tab) -> int:
    """How far (px) the admin list's table reaches beyond its visible box: 0 when
    every column is on screen."""
    return tab.evaluate("""() => {
        const results = document.querySelector('#changelist .results');
        return results ? Math.max(0, results.scrollWidth - results.clientWidth) : -1;
    }""")


def wrapped_cells(tab, column: str) -> list[str]:
    """The texts of the list's `column` cells that take more than one line."""
    return tab.evaluate("""(column) => [...document.querySelectorAll(`#result_list td.field-${column}`)]
        .filter(cell => {
            const range = document.createRange();
            range.selectNodeContents(cell);
            return new Set([...range.getClientRects()].map(line => Math.round(line.top))).size > 1;
        })
        .map(cell => cell.innerText)""", column)
