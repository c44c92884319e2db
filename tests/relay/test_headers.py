"""Which headers cross the gateway, in each direction."""

from tests.conftest import bearer

SPOOFED = {
    "Cookie": "sessionid=stolen",
    "X-Service-Key": "spoofed-service-key",
    "X-Admin-Key": "spoofed-admin-key",
    "X-User-ID": "someone-else",
    "Proxy-Authorization": "Basic Zm9vOmJhcg==",
    "Connection": "keep-alive, X-Secret-Hop",
    "Keep-Alive": "timeout=5",
    "TE": "trailers",
    "Upgrade": "websocket",
    "X-Forwarded-For": "10.0.0.1",
    "X-Secret-Hop": "1",
}


def test_it_drops_spoofed_internal_headers_to_flash(client, alice, alice_token, flash):
    response = client.get("/api/v1/credits/balance",
                          headers={**bearer(alice_token), **SPOOFED, "X-Request-ID": "req-123"})
    assert response.status_code == 200
    assert response.json()["balance"] == 100  # alice's, not "someone-else"'s
    (sent,) = flash.received("/api/v1/credits/balance")
    assert sent.headers["x-service-key"] == flash.service_key
    assert sent.headers["x-user-id"] == alice.flash_user_id
    assert sent.headers["x-request-id"] == "req-123"
    for name in ("authorization", "cookie", "x-admin-key", "proxy-authorization", "keep-alive", "te", "upgrade",
                 "x-forwarded-for", "x-secret-hop"):
        assert name not in sent.headers, name
    assert response["X-Request-ID"] == "req-123"


def test_it_drops_spoofed_internal_headers_to_clockchain(client, alice_token, clockchain):
    response = client.get("/api/v1/today", headers={**SPOOFED, **bearer(alice_token)})
    assert response.status_code == 200
    (sent,) = clockchain.received()
    assert sent.headers["x-service-key"] == clockchain.service_key
    for name in ("authorization", "cookie", "x-admin-key", "x-user-id", "x-forwarded-for", "upgrade"):
        assert name not in sent.headers, name


def test_it_makes_a_request_id_when_the_client_sends_none(client, clockchain):
    response = client.get("/api/v1/today")
    (sent,) = clockchain.received()
    assert sent.headers["x-request-id"] == response["X-Request-ID"]


def test_it_forwards_content_negotiation_headers(client, clockchain):
    client.get("/api/v1/today", headers={"Accept": "application/json", "Accept-Language": "fr",
                                         "If-None-Match": '"v1"'})
    (sent,) = clockchain.received()
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["accept-language"] == "fr"
    assert sent.headers["if-none-match"] == '"v1"'


def test_it_returns_only_allow_listed_upstream_headers(client, clockchain):
    clockchain.reply_headers = {"Cache-Control": "public, max-age=60", "ETag": '"v2"', "Set-Cookie": "a=b",
                                "X-Internal-Node": "cc-3", "Last-Modified": "Sat, 21 Nov 2026 10:00:00 GMT"}
    response = client.get("/api/v1/today")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    assert response["ETag"] == '"v2"'
    assert response["Last-Modified"] == "Sat, 21 Nov 2026 10:00:00 GMT"
    assert response["Content-Type"] == "application/json"
    assert "Set-Cookie" not in response
    assert "X-Internal-Node" not in response
