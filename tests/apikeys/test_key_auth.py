import pytest
from django.core.cache import cache
from rest_framework.exceptions import AuthenticationFailed

from apikeys.authentication import authenticate_key
from apikeys.keys import create_key, revoke_key
from apikeys.models import APIKey
from core.credentials import Credential


def test_it_authenticates_a_key_as_its_account(alice):
    key, plaintext = create_key(alice, "k", "live")
    account, credential = authenticate_key(plaintext)
    assert account == alice
    assert isinstance(credential, Credential)
    assert credential.is_api_key and credential.api_key.pk == key.pk
    assert credential.is_test is False


def test_a_test_key_is_a_test_credential(alice):
    _, plaintext = create_key(alice, "k", "test")
    assert authenticate_key(plaintext)[1].is_test is True


def test_verification_costs_no_query_once_cached(alice, django_assert_num_queries):
    _, plaintext = create_key(alice, "k", "live")
    authenticate_key(plaintext)
    with django_assert_num_queries(0):
        account, credential = authenticate_key(plaintext)
    assert account.pk == alice.pk


@pytest.mark.parametrize("token", ["tp_live_" + "a" * 32, "tp_test_nope", "tp_live_"])
def test_unknown_keys_are_refused(db, token):
    with pytest.raises(AuthenticationFailed):
        authenticate_key(token)


def test_a_revoked_key_is_refused_at_once_even_when_cached(alice):
    key, plaintext = create_key(alice, "k", "live")
    authenticate_key(plaintext)
    revoke_key(key)
    with pytest.raises(AuthenticationFailed):
        authenticate_key(plaintext)


def test_a_revoked_key_is_refused_after_the_cache_is_gone(alice):
    key, plaintext = create_key(alice, "k", "live")
    revoke_key(key)
    cache.clear()
    with pytest.raises(AuthenticationFailed):
        authenticate_key(plaintext)


def test_last_used_is_written_once_a_minute_not_per_request(alice, django_assert_num_queries):
    key, plaintext = create_key(alice, "k", "live")
    assert key.last_used_at is None
    authenticate_key(plaintext)
    first = APIKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        for _ in range(5):
            authenticate_key(plaintext)
    assert APIKey.objects.get(pk=key.pk).last_used_at == first


def test_a_tier_change_reaches_keys_and_their_cached_records(alice):
    key, plaintext = create_key(alice, "k", "live")
    authenticate_key(plaintext)  # cached at free
    alice.tier_override = "enterprise"
    alice.save()
    key.refresh_from_db()
    assert (key.tier, key.rate_limit) == ("enterprise", 300)
    account, credential = authenticate_key(plaintext)
    assert credential.api_key.tier == "enterprise"
    assert account.effective_tier == "enterprise"


def test_dropping_cached_keys_follows_a_plan_change_made_with_update(alice):
    from accounts.models import Account
    from apikeys.keys import drop_cached_keys

    key, plaintext = create_key(alice, "k", "live")
    authenticate_key(plaintext)
    Account.objects.filter(pk=alice.pk).update(plan="api_pro", tier="pro")
    drop_cached_keys(Account.objects.get(pk=alice.pk))
    account, credential = authenticate_key(plaintext)
    assert (credential.api_key.tier, credential.api_key.rate_limit, account.plan) == ("pro", 60, "api_pro")
