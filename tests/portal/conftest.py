"""Browser fixtures: one Debian Chromium for the portal tests driven by Playwright, a fresh
context (cookies) per test, the gateway on pytest-django's live server, and helpers
to sign in and to keep a screenshot of each page in tests/artifacts/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Account

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@contextmanager
def async_unsafe_within(item, directory: Path) -> Iterator[None]:
    """Playwright's sync API keeps an event loop in the tests' thread while the browser
    is open, and Django refuses ORM calls from a thread with a running loop. The
    browser tests touch the database strictly in turn with the browser, so they (and
    only they: the variable fails `check --deploy`) run with async safety off."""
    if not Path(item.path).is_relative_to(directory):  # pytest calls the hook for every test
        yield
        return
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    with async_unsafe_within(item, HERE):
        yield


@pytest.fixture(scope="package")
def browser(django_db_setup) -> Iterator:
    """One Chromium for the portal's tests, closed after the last of them (its event
    loop must not outlive them). Started after the test database exists."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, live_server) -> Iterator:
    ctx = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context) -> Iterator:
    yield context.new_page()


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Keep what the page looks like now as tests/artifacts/<name>.png (git ignores it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def signed_in_user(account: Account):
    """A Django user linked to the account, as the identity pipeline links them."""
    user = account.user or get_user_model().objects.create_user(
        username=account.external_id, email=account.email
    )
    if account.user_id != user.pk:
        account.user = user
        account.save(update_fields=["user"])
    return user


def sign_in_with_session(context, live_server, account: Account) -> None:
    """Skip the Auth0 round trip (test_signin covers it): a Django session for the
    account's user, handed to the browser as its session cookie."""
    client = Client()
    client.force_login(signed_in_user(account))
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])


@pytest.fixture
def alice_page(context, page, live_server, alice: Account):
    """A page signed in as alice."""
    sign_in_with_session(context, live_server, alice)
    return page


def sign_in_through_auth0(page, auth0, sub: str, email: str, name: str = "") -> None:
    """The real round trip: the portal's sign-in, the Auth0 stand-in's Universal
    Login (which completes as `sub`), and back to the dashboard."""
    auth0.login_as(sub, email, name)
    page.goto("/portal/login/")
    page.get_by_role("button", name="Sign in with Auth0").click()
    page.wait_for_url("**/portal/")


@pytest.fixture
def stripe_api(standins: dict, live_server):
    """The Stripe stand-in, delivering its events to the gateway on the live server."""
    stripe = standins["stripe"]
    stripe.webhook_url = f"{live_server.url}/api/v1/billing/webhooks/stripe"
    return stripe


def csrf_post(page, path: str, form: dict | None = None):
    """A POST as the page's own forms send it (session cookie and CSRF token), for
    what a form on screen would not offer."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == settings.CSRF_COOKIE_NAME)
    return page.request.post(path, form=form or {}, headers={"X-CSRFToken": token}, max_redirects=0)


# Every visible text of the page's charts, as boxes on screen.
_CHART_LABEL_BOXES = """(selector) => [...document.querySelectorAll(selector)]
  .filter(t => getComputedStyle(t).display !== 'none')
  .map(t => { const r = t.getBoundingClientRect();
              return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height}; })
  .filter(b => b.w > 0)"""


def colliding_chart_labels(page, selector: str = "svg[role=img] text") -> list[tuple[str, str]]:
    """Pairs of chart labels that overlap on screen (none, on a readable chart)."""
    boxes = page.evaluate(_CHART_LABEL_BOXES, selector)
    assert boxes, f"no chart labels matched {selector}"
    def overlap(a: dict, b: dict) -> bool:
        across = a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
        return across and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]

    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if overlap(a, b)]


def fully_on_screen(locator, viewport: dict) -> bool:
    """The element is laid out inside the viewport's width (nothing to scroll to)."""
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]


def wait_for_records(count: int, deadline: float = 10.0, **scope) -> None:
    """Usage records are the gateway's to write when it likes (the usage writer stores
    them in batches): store what the live server has queued, until `count` of them
    exist, or fail."""
    import time

    from metering.models import UsageRecord
    from tests.conftest import flush_usage

    end = time.monotonic() + deadline
    while True:
        flush_usage()
        if UsageRecord.objects.filter(**scope).count() >= count:
            return
        if time.monotonic() > end:
            pytest.fail(f"{count} usage records for {scope} never appeared")
        time.sleep(0.05)
