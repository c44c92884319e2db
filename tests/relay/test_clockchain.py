"""The public Clockchain relay: moments, browse, today, search, graph neighbours."""

import pytest

ROUTES = [
    ("/api/v1/moments/1453/constantinople", "/api/v1/moments/1453/constantinople"),
    ("/api/v1/browse/europe/15th-century", "/api/v1/browse/europe/15th-century"),
    ("/api/v1/browse", "/api/v1/browse"),
    ("/api/v1/today", "/api/v1/today"),
    ("/api/v1/search?q=fall%20of%20rome&page=2", "/api/v1/search"),
    ("/api/v1/graph/neighbors/m1", "/api/v1/graph/neighbors/m1"),
]


@pytest.mark.parametrize(("ours", "theirs"), ROUTES)
def test_it_relays_each_route_anonymously(client, clockchain, ours, theirs):
    response = client.get(ours)
    assert response.status_code == 200, response.content
    (sent,) = clockchain.received()
    assert sent.path == theirs
    assert sent.headers["x-service-key"] == clockchain.service_key
    assert "x-user-id" not in sent.headers


def test_it_keeps_the_query_string_exactly(client, clockchain):
    client.get("/api/v1/search?q=fall%20of%20rome&page=2&q=x")
    (sent,) = clockchain.received()
    assert sent.raw_query == "q=fall%20of%20rome&page=2&q=x"


def test_it_passes_a_format_parameter_on_as_part_of_the_query_string(client, clockchain):
    # The query string is Clockchain's (CONTRACT.md §4), `format` included: not DRF's
    # format override, which would answer 404 for a format billing does not render.
    response = client.get("/api/v1/search?q=moon&format=geojson")
    assert response.status_code == 200, response.content
    (sent,) = clockchain.received()
    assert sent.raw_query == "q=moon&format=geojson"


def test_it_quotes_each_segment_it_forwards(client, clockchain):
    response = client.get("/api/v1/moments/caf%C3%A9/a%20b:c")
    assert response.status_code == 200
    (sent,) = clockchain.received()
    assert sent.path == "/api/v1/moments/caf%C3%A9/a%20b:c"


def test_it_passes_clockchains_404_through(client, clockchain):
    response = client.get("/api/v1/moments/missing-moment")
    assert response.status_code == 404
    assert response.json() == {"detail": "No moment here"}


def test_it_relays_for_signed_in_callers_too(as_alice, clockchain):
    assert as_alice.get("/api/v1/today").status_code == 200
    (sent,) = clockchain.received()
    assert "authorization" not in sent.headers


def test_it_only_reads(client, clockchain):
    response = client.post("/api/v1/today", data="{}", content_type="application/json")
    assert response.status_code == 405
    assert clockchain.received() == []
