"""The OpenAPI 3 schema and the human docs, and the rule that every /api/v1/ endpoint
is a DRF view that appears in the schema."""

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import EndpointEnumerator
from rest_framework.views import APIView

OPENAPI_JSON = "application/vnd.oai.openapi+json"
NOT_ENDPOINTS = {"/api/v1/schema/", "/api/v1/docs/"}


@pytest.fixture
def schema(client, db) -> dict:
    response = client.get("/api/v1/schema/", headers={"Accept": OPENAPI_JSON})
    assert response.status_code == 200
    return response.json()


def test_it_serves_an_openapi_3_schema_without_a_credential(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "TIMEPOINT API"
    assert "/health" in schema["paths"]
    assert "/health/ready" in schema["paths"]


def test_it_serves_json_by_default_and_yaml_on_request(client, db):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    as_yaml = client.get("/api/v1/schema/?format=yaml")
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert not as_yaml["Content-Type"].endswith("json")
    assert yaml.safe_load(as_yaml.content)["openapi"].startswith("3.")


def test_it_serves_the_human_docs(client, db):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"/api/v1/schema/" in response.content


def _api_patterns(patterns, prefix: str = "/"):
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            yield from _api_patterns(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("/api/v1/"):
            yield route, pattern.callback


def test_it_keeps_every_api_endpoint_a_drf_view(db):
    not_drf = [route for route, callback in _api_patterns(get_resolver().url_patterns)
               if not issubclass(getattr(callback, "cls", object), APIView)]
    assert not_drf == [], "every /api/v1/ endpoint must be a DRF view (it then appears in the schema)"


def test_it_documents_every_api_endpoint(schema):
    endpoints = {path for path, _regex, _method, _callback in EndpointEnumerator().get_api_endpoints()}
    missing = sorted(p for p in endpoints if p.startswith("/api/v1/") and p not in NOT_ENDPOINTS
                     and p not in schema["paths"])
    assert missing == [], "endpoints left out of /api/v1/schema/"
