"""CORS as CONTRACT.md §1 says: the two TIMEPOINT origins and any localhost port,
with credentials; everyone else gets no CORS headers."""

import pytest

ALLOWED = ["https://app.timepointai.com", "https://timepointai.com", "http://localhost:5173", "http://localhost"]
DENIED = ["https://evil.example", "http://localhost.evil.example:5173", "https://localhost:5173",
          "http://app.timepointai.com", "https://app.timepointai.com.evil.example"]


@pytest.mark.parametrize("origin", ALLOWED)
def test_it_allows_the_contract_origins_with_credentials(client, db, origin):
    response = client.get("/health", headers={"Origin": origin})
    assert response["Access-Control-Allow-Origin"] == origin
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "x-request-id" in response["Access-Control-Expose-Headers"].lower()


def test_it_answers_a_preflight_for_an_allowed_origin(client, db):
    response = client.options("/api/v1/keys", headers={
        "Origin": "http://localhost:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
    })
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert response["Access-Control-Allow-Credentials"] == "true"
    allowed_headers = response["Access-Control-Allow-Headers"]
    assert "authorization" in allowed_headers and "x-request-id" in allowed_headers
    assert "POST" in response["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("origin", DENIED)
def test_it_sends_no_cors_headers_to_other_origins(client, db, origin):
    response = client.get("/health", headers={"Origin": origin})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


def test_it_refuses_a_preflight_from_another_origin(client, db):
    response = client.options("/api/v1/keys", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response
