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
