import pytest
from django.contrib.auth.models import User

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
