"""The index's "needs attention" box, made to count real trouble: a paid grant Flash
refuses (422 from the stand-in), an event for an account billing does not know, a
refund held for review, and an auto-reload a declined card turned off until an operator
marks it seen; each link opens exactly those rows."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Account
from payments.attention import needs_attention
from payments.models import AutoReload, CreditGrant, EventState, GrantState, StripeEvent
from tests.conftest import bearer
from tests.payments.conftest import committed, completed_session
from tests.payments.purchases import buy, refund
from tests.payments.reloads import AUTO_RELOAD, save_card, turn_on
from tests.portal.conftest import PHONE, screenshot

TURNED_OFF = "auto-reloads a failed charge turned off"
AUTO_RELOADS = "/admin/payments/autoreload/"


def _counts(box) -> dict[str, int]:
    return {item.locator("a").inner_text(): int(item.locator(".count").inner_text())
            for item in box.locator("li").all()}


def declined(client: Client, stripe_api, *, new_card: bool = True) -> None:
    """The account's auto-reload on with a saved card (or the one it has), then its
    charge declined."""
    if new_card:
        save_card(client, stripe_api)
    turn_on(client, threshold=150)  # above the account's 100 credits: the next read reloads
    stripe_api.next_payment("decline", decline_code="expired_card")
    with committed():
        assert client.get("/api/v1/credits/balance").status_code == 200
    stripe_api.deliver_pending()  # payment_intent.payment_failed, after the API's 402


def turned_off(user) -> int:
    [item] = [i for i in needs_attention(user) if i.label == TURNED_OFF]
    return item.count


def mark_seen(client: Client, *accounts: Account):
    """The auto-reloads list's "Mark as seen" action on these accounts' rows."""
    return client.post(AUTO_RELOADS, {"action": "mark_seen", "_selected_action": [a.pk for a in accounts]},
                       follow=True)


@pytest.mark.browser
def test_it_counts_what_needs_attention_and_links_to_exactly_those_rows(operator_page, alice, flash, stripe_api,
                                                                         post_event):
    flash.fail(422, body={"detail": "user is closed"}, path="admin/grant")
    buy(post_event, stripe_api, alice, "100_credits", "cs_refused", 999)
    refused = CreditGrant.objects.get(stripe_object_id="cs_refused")
    assert refused.state == GrantState.FAILED and "422" in refused.last_error
    buy(post_event, stripe_api, alice, "500_credits", "cs_fine", 3999)  # applied: not in the box
    refund(post_event, stripe_api, "cs_refused", 999, 999)  # a held reversal
    held = CreditGrant.objects.get(state=GrantState.HELD)
    stranger = Account(external_id="auth0|gone", email="gone@example.com", flash_user_id=flash.add_user("auth0|gone"))
    post_event(stripe_api.event("checkout.session.completed",
                                completed_session(stranger, session_id="cs_lost", customer="cus_lost")))
    lost = StripeEvent.objects.get(state=EventState.FAILED)
    page = operator_page

    page.goto("/admin/")

    box = page.get_by_role("region", name="Needs attention")
    assert _counts(box) == {"Grants stuck or failed in Flash": 1, "Stripe events that failed": 1,
                            "Refunds and disputes held for review": 1,
                            "Reconciliation differences nobody has explained": 0,
                            "Auto-reloads a failed charge turned off": 0}
    screenshot(page, "admin-index")
    page.set_viewport_size(PHONE)
    expect(box.get_by_role("link", name="Stripe events that failed")).to_be_in_viewport()
    screenshot(page, "admin-index-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    box.get_by_role("link", name="Grants stuck or failed in Flash").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    assert str(refused.id)[:8] in rows.inner_text() and "Failed" in rows.inner_text()
    screenshot(page, "admin-grants-failed")

    page.goto("/admin/")
    page.get_by_role("link", name="Refunds and disputes held for review").click()
    expect(rows).to_have_count(1)
    assert str(held.id)[:8] in rows.inner_text() and "-100" in rows.inner_text()

    page.goto("/admin/")
    page.get_by_role("link", name="Stripe events that failed").click()
    expect(rows).to_have_count(1)
    assert lost.stripe_id in rows.inner_text()
    screenshot(page, "admin-events-failed")

    # The event's page says why, and processes it again once the account exists.
    rows.get_by_role("link", name=lost.stripe_id).click()
    expect(page.get_by_role("group", name="This event failed")).to_contain_text("no account for this event")
    screenshot(page, "admin-event-failed")
    stranger.save()
    page.get_by_role("button", name="Process again").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile(f"Event {lost.stripe_id} processed"))
    lost.refresh_from_db()
    assert lost.state == EventState.SUCCEEDED
    assert [g["amount"] for g in flash.grants(stranger.flash_user_id)] == [100]
    expect(page.get_by_role("button", name="Process again")).to_have_count(0)

    page.goto("/admin/")
    assert _counts(page.get_by_role("region", name="Needs attention"))["Stripe events that failed"] == 0


def test_it_counts_the_auto_reloads_a_declined_charge_turned_off(operator, operator_client, as_alice, alice, bob,
                                                                  charlie, stripe_api, events_to_gateway):
    declined(as_alice, stripe_api)
    AutoReload.objects.create(account=bob)  # never turned on: off, nothing went wrong
    AutoReload.objects.create(account=charlie, enabled=False, last_error="Your card was declined. (card_declined)",
                              error_seen_at=timezone.now(), error_seen_by=operator)  # an operator has seen it

    [item] = [i for i in needs_attention(operator) if i.label == TURNED_OFF]

    assert item.count == 1
    assert item.url == "/admin/payments/autoreload/?enabled__exact=0&last_error__gt=&error_seen_at__isnull=True"
    listed = operator_client.get(item.url).context["cl"]
    assert [row.account_id for row in listed.result_list] == [alice.pk]
    assert "expired" in listed.result_list[0].last_error


def test_an_auto_reload_turned_on_again_leaves_the_box(operator, as_alice, stripe_api, events_to_gateway):
    declined(as_alice, stripe_api)
    assert turned_off(operator) == 1

    turn_on(as_alice)  # the same card, tried again on the next crossing

    assert turned_off(operator) == 0


def test_a_new_card_takes_an_auto_reload_out_of_the_box(operator, as_alice, stripe_api, events_to_gateway):
    declined(as_alice, stripe_api)

    save_card(as_alice, stripe_api, card="5555555555554444")  # the holder has acted on the email

    assert turned_off(operator) == 0
    turn_on(as_alice)
    assert turned_off(operator) == 0


def test_an_auto_reload_marked_seen_leaves_the_box_and_keeps_its_error(operator, operator_client, as_alice, alice,
                                                                       stripe_api, events_to_gateway):
    declined(as_alice, stripe_api)
    assert turned_off(operator) == 1

    response = mark_seen(operator_client, alice)

    assert "1 auto-reload(s) marked as seen" in response.content.decode()
    assert turned_off(operator) == 0
    [item] = [i for i in needs_attention(operator) if i.label == TURNED_OFF]
    assert list(operator_client.get(item.url).context["cl"].result_list) == []
    row = AutoReload.objects.get(account=alice)
    assert row.error_seen_by == operator and row.enabled is False
    assert "seen by ops" in operator_client.get(f"{AUTO_RELOADS}{alice.pk}/change/").content.decode()
    # The customer still reads why it went off, and leaving it off changes nothing.
    assert "expired" in as_alice.get(AUTO_RELOAD).json()["last_error"]
    response = as_alice.put(AUTO_RELOAD, {"enabled": False}, content_type="application/json")
    assert response.status_code == 200 and "expired" in response.json()["last_error"]
    assert turned_off(operator) == 0


def test_a_charge_failing_again_puts_a_seen_auto_reload_back(operator, operator_client, as_alice, alice, stripe_api,
                                                             events_to_gateway):
    declined(as_alice, stripe_api)
    mark_seen(operator_client, alice)
    assert turned_off(operator) == 0

    declined(as_alice, stripe_api, new_card=False)  # turned on again with the same card: declined again

    assert turned_off(operator) == 1
    assert AutoReload.objects.get(account=alice).error_seen_at is None


def test_mark_as_seen_leaves_a_failure_that_came_after_the_list_was_shown(
        operator, operator_client, as_alice, alice, bob, auth0, stripe_api, events_to_gateway):
    as_bob = Client(headers=bearer(auth0.mint(bob.external_id)))
    declined(as_alice, stripe_api)
    declined(as_bob, stripe_api)
    listed_at = re.search(r'name="listed_at" value="([^"]+)"', operator_client.get(AUTO_RELOADS).content.decode())[1]
    declined(as_alice, stripe_api, new_card=False)  # on again, declined again: after the list was rendered

    response = operator_client.post(AUTO_RELOADS, {"action": "mark_seen", "_selected_action": [alice.pk, bob.pk],
                                                   "listed_at": listed_at}, follow=True)

    page = response.content.decode()
    assert "1 auto-reload(s) marked as seen" in page
    assert "1 failed again after this list was shown and were not marked" in page
    assert AutoReload.objects.get(account=bob).error_seen_by == operator
    assert AutoReload.objects.get(account=alice).error_seen_at is None
    assert turned_off(operator) == 1  # alice's new failure is still there to be read


def test_only_operators_who_may_change_auto_reloads_mark_them_seen(as_alice, alice, stripe_api, events_to_gateway):
    declined(as_alice, stripe_api)
    users = get_user_model().objects
    viewer = users.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_autoreload"))
    client = Client()
    client.force_login(viewer)

    assert "Mark as seen" not in client.get(AUTO_RELOADS).content.decode()
    mark_seen(client, alice)
    assert turned_off(users.get(pk=viewer.pk)) == 1

    viewer.user_permissions.add(Permission.objects.get(codename="change_autoreload"))
    assert "Mark as seen" in client.get(AUTO_RELOADS).content.decode()
    mark_seen(client, alice)
    assert turned_off(users.get(pk=viewer.pk)) == 0
    # Still no change form: the settings are the account holder's.
    assert client.post(f"{AUTO_RELOADS}{alice.pk}/change/", {"enabled": "on"}).status_code == 403


def test_it_shows_the_line_only_to_operators_who_may_view_auto_reloads(as_alice, stripe_api, events_to_gateway):
    declined(as_alice, stripe_api)
    users = get_user_model().objects
    viewer = users.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_creditgrant"))

    assert [i.label for i in needs_attention(users.get(pk=viewer.pk))] == [
        "grants stuck or failed in Flash", "refunds and disputes held for review"]

    viewer.user_permissions.add(Permission.objects.get(codename="view_autoreload"))
    assert turned_off(users.get(pk=viewer.pk)) == 1


@pytest.mark.browser
def test_it_links_to_the_auto_reloads_a_failed_charge_turned_off(operator_page, as_alice, alice, bob, stripe_api,
                                                                 events_to_gateway):
    declined(as_alice, stripe_api)
    AutoReload.objects.create(account=bob)
    page = operator_page

    page.goto("/admin/")

    box = page.get_by_role("region", name="Needs attention")
    assert _counts(box)["Auto-reloads a failed charge turned off"] == 1
    expect(box).to_contain_text("the account holder was emailed")
    box.get_by_role("link", name="Auto-reloads a failed charge turned off").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    assert alice.email in rows.inner_text() and "expired" in rows.inner_text()
    assert "visa ···· 4242" in rows.inner_text()
    listing = page.content()
    row = AutoReload.objects.get(account=alice)
    for secret in (row.payment_method_id, settings.STRIPE_SECRET_KEY):
        assert secret not in listing
    screenshot(page, "admin-auto-reloads-turned-off")

    # The operator has asked the holder about the card: marked seen, the line drops to zero.
    rows.get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(
        label="Mark as seen (out of Needs attention; the customer still sees the error)")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("1 auto-reload(s) marked as seen")
    expect(rows).to_have_count(0)  # the same filtered list, now empty
    page.goto("/admin/")
    assert _counts(page.get_by_role("region", name="Needs attention"))["Auto-reloads a failed charge turned off"] == 0
