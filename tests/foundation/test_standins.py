"""The stand-ins answer their routes over real HTTP and fail on command: a status, a
delay, a dropped connection, a refused connection, and the same over HTTP control."""

import jwt
import pytest
import requests

from standins.__main__ import environment


def test_it_serves_flash_users_and_balances(flash):
    created = requests.post(f"{flash.url}/api/v1/users/resolve", json={"external_id": "auth0|z"},
                            headers={"X-Service-Key": flash.service_key}, timeout=5)
    assert created.status_code == 200
    user_id = created.json()["user_id"]
    balance = requests.get(f"{flash.url}/api/v1/credits/balance",
                           headers={"X-Service-Key": flash.service_key, "X-User-ID": user_id}, timeout=5)
    assert balance.json()["balance"] == flash.signup_credits
    assert [r.path for r in flash.received()] == ["/api/v1/users/resolve", "/api/v1/credits/balance"]
    assert flash.received("resolve")[0].json() == {"external_id": "auth0|z"}


def test_it_refuses_flash_calls_without_the_service_key(flash):
    response = requests.get(f"{flash.url}/api/v1/credits/costs", headers={"X-Service-Key": "wrong"}, timeout=5)
    assert response.status_code == 401


def test_it_serves_clockchain_with_the_service_key(clockchain):
    headers = {"X-Service-Key": clockchain.service_key}
    response = requests.get(f"{clockchain.url}/api/v1/search?q=rome", headers=headers, timeout=5)
    assert response.status_code == 200
    assert response.json()["q"] == "rome"
    assert requests.get(f"{clockchain.url}/api/v1/today", timeout=5).status_code == 401


def test_it_mints_auth0_tokens_that_verify_against_its_jwks(auth0):
    token = auth0.mint("auth0|someone")
    client = jwt.PyJWKClient(f"{auth0.issuer}.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=auth0.audience, issuer=auth0.issuer)
    assert claims["sub"] == "auth0|someone"


def test_it_answers_a_status_on_command_then_recovers(clockchain):
    clockchain.fail(503)
    headers = {"X-Service-Key": clockchain.service_key}
    assert requests.get(f"{clockchain.url}/api/v1/today", headers=headers, timeout=5).status_code == 503
    assert requests.get(f"{clockchain.url}/api/v1/today", headers=headers, timeout=5).status_code == 200


def test_it_fails_only_matching_paths_and_until_reset(clockchain):
    clockchain.fail(502, path=r"^/api/v1/search", times=None)
    headers = {"X-Service-Key": clockchain.service_key}
    for _ in range(3):
        assert requests.get(f"{clockchain.url}/api/v1/search", headers=headers, timeout=5).status_code == 502
    assert requests.get(f"{clockchain.url}/api/v1/today", headers=headers, timeout=5).status_code == 200
    clockchain.reset()
    assert requests.get(f"{clockchain.url}/api/v1/search", headers=headers, timeout=5).status_code == 200


def test_it_delays_on_command(clockchain):
    clockchain.slow(2.0)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{clockchain.url}/api/v1/today", headers={"X-Service-Key": clockchain.service_key},
                     timeout=(2, 0.2))


def test_it_drops_the_connection_on_command(flash):
    flash.fail(drop=True)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{flash.url}/api/v1/credits/costs", timeout=5)


def test_it_refuses_connections_while_down(flash):
    flash.down()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{flash.url}/api/v1/credits/costs", timeout=5)
    flash.up()
    response = requests.get(f"{flash.url}/api/v1/credits/costs", headers={"X-Service-Key": flash.service_key},
                            timeout=5)
    assert response.status_code == 200


def test_it_takes_commands_over_http(auth0):
    control = f"{auth0.url}/__standin__"
    assert requests.post(f"{control}/fail", json={"status": 500, "path": "jwks"}, timeout=5).status_code == 204
    assert requests.get(f"{auth0.url}/.well-known/jwks.json", timeout=5).status_code == 500
    seen = requests.get(f"{control}/requests", timeout=5).json()
    assert [(r["method"], r["path"]) for r in seen] == [("GET", "/.well-known/jwks.json")]
    assert requests.post(f"{control}/reset", timeout=5).status_code == 204
    assert requests.get(f"{control}/requests", timeout=5).json() == []
    assert requests.get(f"{auth0.url}/.well-known/jwks.json", timeout=5).status_code == 200


def test_it_tells_the_gateway_where_the_standins_are(standins):
    env = environment(standins)
    assert env["FLASH_URL"] == standins["flash"].url
    assert env["CLOCKCHAIN_URL"] == standins["clockchain"].url
    assert env["AUTH0_ISSUER"] == standins["auth0"].issuer
    for name in ("FLASH_SERVICE_KEY", "FLASH_ADMIN_KEY", "CLOCKCHAIN_SERVICE_KEY", "AUTH0_DOMAIN",
                 "AUTH0_AUDIENCE", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"):
        assert env[name]
