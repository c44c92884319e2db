"""The OpenAPI 3 schema and the human docs, and the rule that every /api/v1/ endpoint
is a DRF view that appears in the schema."""

import re

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


# --- written for API users ---------------------------------------------------------------


def _operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def _docstrings() -> set[str]:
    """Every docstring of the views behind /api/v1/ and /health (what must not leak)."""
    found = set()
    for _path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        view = getattr(callback, "cls", None)
        for documented in (view, getattr(view, method.lower(), None)):
            doc = getattr(documented, "__doc__", None)
            if doc:
                found.add(" ".join(doc.split()))
    return found


def test_it_describes_every_operation_for_api_users_not_with_docstrings(schema):
    docstrings = _docstrings()
    undescribed = [name for name, op in _operations(schema) if not op.get("summary") or not op.get("description")]
    leaked = [name for name, op in _operations(schema) if " ".join(op.get("description", "").split()) in docstrings]
    assert undescribed == []
    assert leaked == []
    assert docstrings, "the check above needs the views' docstrings"


def test_it_names_request_bodies_once(schema):
    assert [name for name in schema["components"]["schemas"] if name.endswith("RequestRequest")] == []
    body = schema["paths"]["/api/v1/generate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/GenerateRequest")


def test_it_gives_every_success_a_body_schema_unless_it_has_none(schema):
    bodiless = [name for name, op in _operations(schema) for status, answer in op["responses"].items()
                if status.startswith("2") and status != "204" and not answer.get("content")]
    assert bodiless == []
    browse = schema["paths"]["/api/v1/browse/{path}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert browse["schema"]["type"] == "object"


def test_it_shows_a_server_sent_event_stream(schema):
    stream = schema["paths"]["/api/v1/generate/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    example = next(iter(stream["examples"].values()))["value"]
    events = [block.splitlines() for block in example.strip().split("\n\n")]
    assert all(lines[0].startswith("event: ") and lines[1].startswith("data: {") for lines in events)
    assert events[-1][0] == "event: done"


@pytest.mark.parametrize("operation, request_example, response_status", [
    ("POST /api/v1/keys", True, "201"),
    ("POST /api/v1/generate", True, "200"),
    ("POST /api/v1/billing/checkout", True, "200"),
    ("POST /api/v1/auth/login", False, "200"),
    ("GET /api/v1/credits/balance", False, "200"),
    ("GET /api/v1/credits/history", False, "200"),
    ("GET /api/v1/billing/plans", False, "200"),
])
def test_it_gives_examples_for_the_main_requests_and_answers(schema, operation, request_example, response_status):
    op = dict(_operations(schema))[operation]
    if request_example:
        assert op["requestBody"]["content"]["application/json"].get("examples"), "no request example"
    assert op["responses"][response_status]["content"]["application/json"].get("examples"), "no answer example"


def test_it_shows_the_error_envelope_in_examples(schema):
    refusal = schema["paths"]["/api/v1/generate"]["post"]["responses"]["402"]["content"]["application/json"]
    example = next(iter(refusal["examples"].values()))["value"]
    assert example["error"]["code"] == "insufficient_credits"


def test_it_serves_the_reference_from_this_origin_under_a_strict_csp(client, db):
    response = client.get("/api/v1/docs/")

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no CDN
    page = response.content.decode()
    assert "<script>" not in page and "://" not in page  # nothing inline, nothing from elsewhere
    script = re.search(r'<script src="([^"]+)"', page).group(1)
    assert script.startswith("/static/")
    served = client.get(script)
    assert served.status_code == 200
    assert b"Redoc" in b"".join(served.streaming_content if served.streaming else [served.content])
