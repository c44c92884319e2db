import uuid

from apikeys.keys import create_key
from apikeys.models import APIKey
from tests.conftest import bearer


def test_it_revokes_and_the_key_is_refused(as_alice, alice, client):
    key, plaintext = create_key(alice, "k", "live")
    # Used once, so its record sits in the cache.
    assert client.get("/api/v1/keys", headers=bearer(plaintext)).status_code == 403
    assert as_alice.delete(f"/api/v1/keys/{key.pk}").status_code == 204
    key.refresh_from_db()
    assert key.is_active is False and key.revoked_at is not None
    response = client.get("/api/v1/keys", headers=bearer(plaintext))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_revoking_twice_answers_204_and_keeps_the_first_time(as_alice, alice):
    key, _ = create_key(alice, "k", "live")
    assert as_alice.delete(f"/api/v1/keys/{key.pk}").status_code == 204
    first = APIKey.objects.get(pk=key.pk).revoked_at
    assert as_alice.delete(f"/api/v1/keys/{key.pk}").status_code == 204
    assert APIKey.objects.get(pk=key.pk).revoked_at == first


def test_another_accounts_key_is_not_found(as_alice, bob):
    key, _ = create_key(bob, "bob's", "live")
    response = as_alice.delete(f"/api/v1/keys/{key.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert APIKey.objects.get(pk=key.pk).is_active


def test_an_unknown_key_is_not_found(as_alice):
    response = as_alice.delete(f"/api/v1/keys/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_api_key_may_not_revoke(client, alice):
    key, plaintext = create_key(alice, "k", "live")
    response = client.delete(f"/api/v1/keys/{key.pk}", headers=bearer(plaintext))
    assert response.status_code == 403
    assert APIKey.objects.get(pk=key.pk).is_active
