"""Content negotiation (core.negotiation): JSON whatever a client's Accept says, the
parameters of a JSON Accept honoured, an explicit ?format= the view cannot give refused."""

import json


def test_it_answers_json_to_clients_that_send_no_accept_or_any(as_alice):
    for accept in (None, "*/*", "application/json"):
        response = as_alice.get("/api/v1/keys", headers={"Accept": accept} if accept else {})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.content == json.dumps(response.json(), separators=(",", ":")).encode()


def test_it_answers_json_to_clients_that_ask_for_something_else(as_alice):
    for accept in ("text/html", "text/event-stream", "application/xml;q=0.9"):
        response = as_alice.get("/api/v1/keys", headers={"Accept": accept})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"


def test_it_honours_the_parameters_of_a_json_accept(as_alice):
    as_alice.post("/api/v1/keys", {"name": "k", "environment": "test"}, content_type="application/json")
    response = as_alice.get("/api/v1/keys", headers={"Accept": "application/json; indent=4"})
    assert response.status_code == 200
    assert response.content == json.dumps(response.json(), indent=4).encode()


def test_it_refuses_an_explicit_format_the_view_cannot_give(as_alice):
    assert as_alice.get("/api/v1/keys?format=json").status_code == 200
    refused = as_alice.get("/api/v1/keys?format=yaml")
    assert refused.status_code == 404  # DRF's answer to a format no renderer gives
    assert refused.json()["error"]["code"] == "not_found"
