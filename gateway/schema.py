"""How the OpenAPI schema describes our one bearer scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "gateway.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 (drf-spectacular's signature)
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An Auth0 access token (RS256 JWT), a `tp_sess_…` session token from "
            "POST /api/v1/auth/login, or a `tp_live_…`/`tp_test_…` API key.",
        }


_RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": ("integer", "Requests allowed in the current minute."),
    "X-RateLimit-Remaining": ("integer", "Requests left in the current minute."),
    "X-RateLimit-Reset": ("integer", "Unix time at which the current minute ends."),
    "RateLimit-Policy": ("string", 'The same limit as the IETF draft (draft-ietf-httpapi-ratelimit-headers) '
                                   'states it: `"minute";q=<limit>;w=60`.'),
    "RateLimit": ("string", 'Where you stand, as the IETF draft states it: `"minute";r=<remaining>;t=<seconds '
                            'until the minute ends>` (the values of X-RateLimit-Remaining and -Reset).'),
}
_COST_HEADERS = {
    "X-Credits-Spent": ("integer", "The credits this generation spent (its expected cost; 0 when nothing "
                                   "was spent: a refusal, a failure, a test key)."),
    "X-Budget-Remaining": ("integer", "For a key with a monthly_credit_limit: the credits of this month's "
                                      "budget left, generations running now counted as spent."),
}
GENERATION_PATHS = ("/api/v1/generate", "/api/v1/generate/stream")


def response_headers(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular postprocessing hook: the limit headers on every response of an
    operation that is counted per minute (it documents 429), and the cost headers on
    the generations' (gateway/middleware.py sets them)."""
    headers = result.setdefault("components", {}).setdefault("headers", {})
    for name, (kind, description) in {**_RATE_LIMIT_HEADERS, **_COST_HEADERS}.items():
        headers[name] = {"description": description, "schema": {"type": kind}}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not responses or "429" not in responses:
                continue
            names = list(_RATE_LIMIT_HEADERS) + (list(_COST_HEADERS) if path in GENERATION_PATHS else [])
            for response in responses.values():
                response.setdefault("headers", {}).update(
                    {name: {"$ref": f"#/components/headers/{name}"} for name in names})
    return result
