"""`{path}` must stay under its prefix: traversal in every spelling is refused with
400 before anything reaches an upstream."""

import pytest

TRAVERSALS = [
    "/api/v1/moments/..",
    "/api/v1/moments/../admin",
    "/api/v1/moments/a/../../admin",
    "/api/v1/moments/%2e%2e/admin",
    "/api/v1/moments/%2E%2E/admin",
    "/api/v1/moments/.%2e/admin",
    "/api/v1/moments/%252e%252e/admin",
    "/api/v1/moments/%25252e%25252e/admin",
    "/api/v1/moments/a%2f..%2fadmin",
    "/api/v1/moments/a%252f..%252fadmin",
    "/api/v1/moments/a\\b",
    "/api/v1/moments/a%5cb",
    "/api/v1/moments/a%255cb",
    "/api/v1/moments/a%00b",
    "/api/v1/moments/a%2500b",
    "/api/v1/moments/a//b",
    "/api/v1/moments/a/",
    "/api/v1/moments/./a",
    "/api/v1/browse/..",
    "/api/v1/browse/%2e%2e/%2e%2e/credits/admin/grant",
    "/api/v1/graph/neighbors/..%2f..%2fadmin",
    "/api/v1/graph/neighbors/%252e%252e",
]

FLASH_TRAVERSALS = [
    "/api/v1/timepoints/..",
    "/api/v1/timepoints/%2e%2e",
    "/api/v1/timepoints/%252e%252e",
    "/api/v1/timepoints/a%5cb",
    "/api/v1/timepoints/a%00b",
    "/api/v1/timepoints/%2e%2e/visibility",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_it_refuses_traversal_to_clockchain(client, clockchain, flash, path):
    response = client.get(path)
    assert response.status_code == 400, path
    assert response.json()["error"]["code"] == "invalid_request"
    assert clockchain.received() == []
    assert flash.received() == []


@pytest.mark.parametrize("path", FLASH_TRAVERSALS)
def test_it_refuses_traversal_to_flash(as_alice, flash, path):
    method = as_alice.patch if path.endswith("visibility") else as_alice.get
    response = method(path)
    assert response.status_code == 400, path
    assert response.json()["error"]["code"] == "invalid_request"
    assert flash.received() == []


@pytest.mark.parametrize("path", ["/api/v1/moments/1453..1460", "/api/v1/moments/a.b/c...d", "/api/v1/moments/%2e"
                                  "x"])
def test_it_lets_dots_inside_names_through(client, clockchain, path):
    assert client.get(path).status_code == 200
    assert len(clockchain.received()) == 1
