"""The portal's pages for a key's budget and expiry and for rolling it (CONTRACT.md §9)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from apikeys.keys import create_key
from apikeys.models import APIKey
from tests.conftest import bearer

from .conftest import DESKTOP, PHONE, csrf_post, fully_on_screen, screenshot, wait_for_records

pytestmark = pytest.mark.browser


def generate(live_server, plaintext):
    return requests.post(f"{live_server.url}/api/v1/generate", data=json.dumps({"query": "x"}), timeout=30,
                         headers={**bearer(plaintext), "Content-Type": "application/json"})


def row_of(page, prefix):
    return page.locator("tbody tr", has=page.locator('td[data-label="Key"]', has_text=prefix))


def test_it_sets_a_budget_and_an_expiry_and_shows_the_months_spending_against_it(alice_page, alice, flash,
                                                                                 live_server):
    key, plaintext = create_key(alice, "nightly job", "live")
    assert generate(live_server, plaintext).status_code == 200  # 5 credits this month
    wait_for_records(1, api_key=key)  # a key without a budget: its month is read from the usage records
    page = alice_page
    page.goto("/portal/keys/")
    row = page.get_by_role("row", name=re.compile("nightly job"))
    assert "5 credits" in row.inner_text() and "no budget" in row.inner_text()

    row.get_by_role("link", name="Budget & expiry").click()
    expect(page.get_by_role("heading", name=re.compile("nightly job"))).to_be_visible()
    assert "spent 5 credits" in page.locator("#spending").inner_text()
    page.get_by_label("Monthly credit budget").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Ensure this value is greater than or equal to 1.")).to_be_visible()
    key.refresh_from_db()
    assert key.monthly_credit_limit is None

    expires = (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)
    page.get_by_label("Monthly credit budget").fill("8")
    page.get_by_label("Expires at (UTC)").fill(expires.strftime("%Y-%m-%dT%H:%M"))
    screenshot(page, "key-settings")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("is updated")).to_be_visible()
    key.refresh_from_db()
    assert (key.monthly_credit_limit, key.expires_at) == (8, expires)
    row = page.get_by_role("row", name=re.compile("nightly job"))
    assert "5 of 8 credits" in row.inner_text()
    assert "from now" in row.locator('td[data-label="Expires"]').inner_text()
    screenshot(page, "keys-with-budget")

    # The budget applies to the key's very next generation: 5 + 5 > 8.
    refused = generate(live_server, plaintext)
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"

    page.set_viewport_size(PHONE)
    page.reload()
    row = page.get_by_role("row", name=re.compile("nightly job"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for part in ("This month", "Expires"):
        assert fully_on_screen(row.locator(f'td[data-label="{part}"]'), PHONE), part
    for link in ("Budget & expiry", "Roll", "Revoke"):
        assert fully_on_screen(row.get_by_role("link", name=link), PHONE), link
    page.set_viewport_size(DESKTOP)


def test_it_rolls_a_key_reveals_the_new_one_once_and_shows_the_old_ones_grace(alice_page, alice, flash,
                                                                             live_server):
    old, old_plaintext = create_key(alice, "web backend", "live", monthly_credit_limit=50)
    page = alice_page
    page.goto("/portal/keys/")
    page.get_by_role("row", name=re.compile("web backend")).get_by_role("link", name="Roll").click()
    expect(page.get_by_role("heading", name="Roll “web backend”?")).to_be_visible()
    page.get_by_label("1 hour").check()
    screenshot(page, "key-roll-confirm")
    page.get_by_role("button", name="Roll key").click()

    plaintext = page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"tp_live_[a-z0-9]{32}", plaintext)
    grace = page.locator("#grace").inner_text()
    assert old.prefix in grace and re.search(r"(59\s+minutes|1\s+hour)", grace)
    screenshot(page, "key-rolled")
    page.reload()
    assert plaintext not in page.content()

    new = APIKey.objects.get(prefix=plaintext[:16])
    assert (new.name, new.monthly_credit_limit) == ("web backend", 50)
    assert generate(live_server, old_plaintext).status_code == 200  # in its grace period
    assert generate(live_server, plaintext).status_code == 200

    page.goto("/portal/keys/")
    old_row = row_of(page, old.prefix)
    assert "replaced by" in old_row.inner_text() and plaintext[:16] in old_row.inner_text()
    assert "10 of 50 credits" in old_row.inner_text()  # the chain's month, old and new keys together
    expect(old_row.get_by_role("link", name="Roll")).to_have_count(0)
    assert "10 of 50 credits" in row_of(page, plaintext[:16]).inner_text()
    screenshot(page, "keys-after-roll")

    # Rolled once: a second roll (a stale tab) is refused and says why.
    assert csrf_post(page, f"/portal/keys/{old.pk}/roll/", {"grace_seconds": "0"}).status == 302
    page.goto("/portal/keys/")
    expect(page.get_by_text("rolled already")).to_be_visible()
    assert APIKey.objects.filter(account=alice).count() == 2


def test_it_shows_nobody_else_s_key_settings_or_roll(alice_page, bob):
    key, _ = create_key(bob, "bob's", "live")
    for path in (f"/portal/keys/{key.pk}/settings/", f"/portal/keys/{key.pk}/roll/"):
        assert alice_page.goto(path).status == 404
    assert csrf_post(alice_page, f"/portal/keys/{key.pk}/roll/", {"grace_seconds": "0"}).status == 404
    assert csrf_post(alice_page, f"/portal/keys/{key.pk}/settings/", {"monthly_credit_limit": "1"}).status == 404
    assert APIKey.objects.count() == 1 and APIKey.objects.get().monthly_credit_limit is None
