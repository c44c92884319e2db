from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import SessionToken
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def test_it_finds_accounts_by_email_sub_and_flash_id(admin_client, alice, bob):
    for term in ("alice@example.com", "auth0|alice", alice.flash_user_id):
        page = admin_client.get("/admin/accounts/account/", {"q": term})
        assert page.status_code == 200
        assert "alice@example.com" in page.content.decode()
        assert "bob@example.com" not in page.content.decode()


def test_it_filters_accounts_by_plan_and_tier(admin_client, alice, bob):
    bob.plan, bob.tier = "api_pro", "pro"
    bob.save()
    page = admin_client.get("/admin/accounts/account/", {"plan__exact": "api_pro", "tier__exact": "pro"}).content
    assert b"bob@example.com" in page and b"alice@example.com" not in page


def test_it_lists_session_tokens_without_their_secret(admin_client, alice, alice_token):
    token = Client().post("/api/v1/auth/login", headers=bearer(alice_token)).json()["session_token"]
    record = SessionToken.objects.get()
    for url in ("/admin/accounts/sessiontoken/", f"/admin/accounts/sessiontoken/{record.pk}/change/"):
        page = admin_client.get(url).content.decode()
        assert record.prefix in page
        assert token not in page
        assert record.token_hash not in page


def test_it_revokes_session_tokens(admin_client, alice, alice_token):
    token = Client().post("/api/v1/auth/login", headers=bearer(alice_token)).json()["session_token"]
    record = SessionToken.objects.get()
    response = admin_client.post("/admin/accounts/sessiontoken/", {
        "action": "revoke", "_selected_action": [record.pk]}, follow=True)
    assert b"Revoked 1 session token" in response.content
    assert Client().get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_it_keeps_non_staff_out(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone", password="pw-123456789"))
    assert client.get("/admin/accounts/account/").status_code == 302


def test_it_lists_plan_tier_active_keys_and_last_activity(admin_client, alice, bob):
    from apikeys.keys import create_key, revoke_key

    bob.plan, bob.tier, bob.tier_override = "api_pro", "pro", "enterprise"
    bob.save()
    _, plaintext = create_key(alice, "server", "live")
    revoke_key(create_key(alice, "old", "live")[0])
    assert Client().get("/api/v1/credits/balance", headers=bearer(plaintext)).status_code == 200

    response = admin_client.get("/admin/accounts/account/", {"o": "-4"})  # most active keys first

    rows = {str(account): account for account in response.context["cl"].result_list}
    assert (rows["alice@example.com"].key_count, rows["bob@example.com"].key_count) == (1, 0)
    page = response.content.decode()
    assert page.index("alice@example.com") < page.index("bob@example.com")
    assert "API Pro" in page and "Enterprise <small>(set by an operator)</small>" in page
    # The key's use is alice's last activity; bob never did anything.
    assert rows["alice@example.com"].last_active > rows["bob@example.com"].last_active
    assert '<td class="field-last_activity">-</td>' in page  # bob's


def test_it_sorts_accounts_by_the_tier_it_shows(admin_client, alice, bob):
    # By the plan's tier alone alice (free) would come before bob (pro); the column
    # shows alice's override, Enterprise, which ranks above bob's Pro.
    alice.tier, alice.tier_override = "free", "enterprise"
    alice.save()
    bob.tier, bob.tier_override = "pro", ""
    bob.save()

    for order, expected in (("3", ["bob@example.com", "alice@example.com"]),
                            ("-3", ["alice@example.com", "bob@example.com"])):
        response = admin_client.get("/admin/accounts/account/", {"o": order})  # the tier column
        assert [str(account) for account in response.context["cl"].result_list] == expected


def test_it_sorts_the_tier_column_by_rank_not_by_name(admin_client, alice, bob, charlie):
    # By name: Enterprise < Free < Pro.
    for account, tier in ((alice, "enterprise"), (bob, "free"), (charlie, "pro")):
        account.tier = tier
        account.save()

    for order, expected in (("3", ["bob@example.com", "charlie@example.com", "alice@example.com"]),
                            ("-3", ["alice@example.com", "charlie@example.com", "bob@example.com"])):
        response = admin_client.get("/admin/accounts/account/", {"o": order})  # the tier column
        assert [str(account) for account in response.context["cl"].result_list] == expected
