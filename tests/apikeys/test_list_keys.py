from apikeys.keys import create_key, revoke_key
from tests.conftest import bearer


def test_it_lists_the_callers_keys_without_secrets(as_alice, alice, bob):
    mine, plaintext = create_key(alice, "one", "live")
    create_key(alice, "two", "test")
    create_key(bob, "bob's", "live")
    response = as_alice.get("/api/v1/keys")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert sorted(k["name"] for k in keys) == ["one", "two"]
    listed = next(k for k in keys if k["id"] == str(mine.pk))
    assert set(listed) == {"id", "prefix", "name", "environment", "tier", "rate_limit", "is_active", "created_at",
                           "last_used_at", "revoked_at", "monthly_credit_limit", "expires_at",
                           "credits_spent_this_month", "replaced_by"}
    assert listed["prefix"] == plaintext[:16]
    assert plaintext not in response.content.decode()
    assert mine.key_hash not in response.content.decode()


def test_revoked_keys_stay_listed(as_alice, alice):
    key, _ = create_key(alice, "old", "live")
    revoke_key(key)
    listed = as_alice.get("/api/v1/keys").json()["keys"]
    assert listed[0]["is_active"] is False
    assert listed[0]["revoked_at"] is not None


def test_an_api_key_may_not_list_keys(client, alice):
    _, plaintext = create_key(alice, "k", "live")
    response = client.get("/api/v1/keys", headers=bearer(plaintext))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
