import pytest
from django.contrib.auth.models import User

from accounts.models import Account
from apikeys.authentication import authenticate_key
from apikeys.keys import create_key
from apikeys.models import APIKey, TierChange


@pytest.fixture
def operator(db, client):
    user = User.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


def test_it_lists_keys_with_prefix_tier_and_last_use_but_no_hash(operator, alice):
    key, plaintext = create_key(alice, "alice's script", "live")
    authenticate_key(plaintext)
    page = operator.get("/admin/apikeys/apikey/").content.decode()
    assert key.prefix in page and "alice@example.com" in page and "Free" in page
    assert key.key_hash not in page and plaintext not in page
    detail = operator.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in detail
    assert key.key_hash not in detail and plaintext not in detail


def test_it_finds_keys_by_prefix(operator, alice, bob):
    key, _ = create_key(alice, "a", "live")
    other, _ = create_key(bob, "b", "live")
    page = operator.get("/admin/apikeys/apikey/", {"q": key.prefix}).content.decode()
    assert key.prefix in page and other.prefix not in page


def test_it_filters_keys_by_their_accounts_tier_an_override_winning(operator, alice, bob, charlie):
    Account.objects.filter(pk=alice.pk).update(tier="pro")
    Account.objects.filter(pk=bob.pk).update(tier="pro", tier_override="enterprise")
    Account.objects.filter(pk=charlie.pk).update(tier="free", tier_override="pro")
    keys = {account.email: create_key(account, "k", "live")[0].prefix for account in (alice, bob, charlie)}
    page = operator.get("/admin/apikeys/apikey/", {"tier": "pro"}).content.decode()
    assert keys["alice@example.com"] in page and keys["charlie@example.com"] in page
    assert keys["bob@example.com"] not in page


def test_it_sorts_the_tier_column_by_the_accounts_rank_an_override_winning(operator, alice, bob, charlie):
    # By name the tiers would read Enterprise < Free < Pro; by plan alone, charlie's free.
    Account.objects.filter(pk=alice.pk).update(tier="enterprise")
    Account.objects.filter(pk=bob.pk).update(tier="free")
    Account.objects.filter(pk=charlie.pk).update(tier="free", tier_override="pro")
    keys = {create_key(account, "k", "live")[0].prefix: account.email for account in (alice, bob, charlie)}
    column = 5  # after the checkbox: prefix, name, account, environment, tier

    for order, expected in ((str(column), ["bob@example.com", "charlie@example.com", "alice@example.com"]),
                            (f"-{column}", ["alice@example.com", "charlie@example.com", "bob@example.com"])):
        listed = operator.get("/admin/apikeys/apikey/", {"o": order}).context["cl"].result_list
        assert [keys[key.prefix] for key in listed] == expected


def test_the_revoke_action_refuses_the_key_at_once(operator, alice):
    key, plaintext = create_key(alice, "a", "live")
    authenticate_key(plaintext)  # cached
    response = operator.post(
        "/admin/apikeys/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]}, follow=True
    )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.is_active is False and key.revoked_at is not None
    with pytest.raises(Exception, match="revoked"):
        authenticate_key(plaintext)


def test_an_operator_sets_a_tier_with_a_note_and_is_named(operator, alice):
    key, plaintext = create_key(alice, "a", "live")
    authenticate_key(plaintext)  # cached at free
    response = operator.post(
        "/admin/apikeys/tierchange/add/",
        {"account": str(alice.pk), "tier_override": "enterprise", "note": "contract #42"},
    )
    assert response.status_code == 302
    change = TierChange.objects.get()
    assert (change.changed_by, change.note, change.tier_override) == ("ops", "contract #42", "enterprise")
    alice.refresh_from_db()
    assert alice.effective_tier == "enterprise"
    assert (APIKey.objects.get(pk=key.pk).tier, APIKey.objects.get(pk=key.pk).rate_limit) == ("enterprise", 300)
    assert authenticate_key(plaintext)[1].api_key.tier == "enterprise"
    page = operator.get("/admin/apikeys/tierchange/").content.decode()
    assert "contract #42" in page and "ops" in page


def test_it_shows_budget_spending_expiry_and_roll_chain_but_no_secret(operator, alice, as_alice, flash):
    from django.test import Client

    from tests.conftest import bearer

    old, old_plaintext = create_key(alice, "deploy", "live", monthly_credit_limit=40)
    assert Client(headers=bearer(old_plaintext)).post(
        "/api/v1/generate", {"query": "x"}, content_type="application/json").status_code == 200
    new = as_alice.post(f"/api/v1/keys/{old.pk}/roll", {"grace_seconds": 60}, content_type="application/json").json()
    listing = operator.get("/admin/apikeys/apikey/", {"budget": "yes"}).content.decode()
    assert old.prefix in listing and new["prefix"] in listing
    detail = operator.get(f"/admin/apikeys/apikey/{new['id']}/change/").content.decode()
    assert "5 of 40" in detail
    assert old.prefix in detail and "expires" in detail  # the chain: the old key and its grace
    for secret in (old.key_hash, old_plaintext, new["key"], APIKey.objects.get(pk=new["id"]).key_hash):
        assert secret not in detail and secret not in listing


def test_an_operators_budget_and_expiry_apply_to_the_cached_key_at_once(operator, alice, flash):
    from datetime import UTC, datetime, timedelta

    key, plaintext = create_key(alice, "k", "live")
    authenticate_key(plaintext)  # cached without a budget
    soon = datetime.now(UTC) + timedelta(days=2)
    response = operator.post(f"/admin/apikeys/apikey/{key.pk}/change/", {
        "monthly_credit_limit": "3", "expires_at_0": soon.strftime("%Y-%m-%d"), "expires_at_1": "12:00:00"})
    assert response.status_code == 302, response.content.decode()[-3000:]
    key.refresh_from_db()
    assert key.monthly_credit_limit == 3 and key.expires_at is not None
    assert authenticate_key(plaintext)[1].api_key.monthly_credit_limit == 3


def test_an_operator_cannot_put_off_a_rolled_keys_expiry(operator, alice, as_alice):
    from datetime import UTC, datetime, timedelta

    from apikeys.keys import roll_key

    key, _ = create_key(alice, "k", "live")
    roll_key(key, 3600)
    key.refresh_from_db()
    later = datetime.now(UTC) + timedelta(days=30)

    response = operator.post(f"/admin/apikeys/apikey/{key.pk}/change/", {
        "expires_at_0": later.strftime("%Y-%m-%d"), "expires_at_1": "12:00:00"})

    assert response.status_code == 200  # the form again, with the reason
    assert "can only be brought forward" in response.content.decode()
    expires_at = key.expires_at
    key.refresh_from_db()
    assert key.expires_at == expires_at
