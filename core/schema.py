"""How the OpenAPI schema is written: for API users, from what the views declare.

Descriptions come only from `extend_schema(description=…)`: docstrings explain the code
to its maintainers and never reach the reference. A request serializer already named
`…Request` keeps its name (not `…RequestRequest`). The error envelope (CONTRACT.md §3)
is declared here once: `error_response(description)` documents an error answer.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers


class AutoSchema(openapi.AutoSchema):
    def get_description(self) -> str:
        return ""

    def get_serializer_name(self, serializer, direction) -> str:  # noqa: ANN001 (drf-spectacular's signature)
        name = super().get_serializer_name(serializer, direction).removesuffix("Serializer")
        if direction == "request":
            name = name.removesuffix("Request")  # drf-spectacular appends it to request components
        return name


class ErrorEnvelopeDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The error envelope of CONTRACT.md §3."""

    error = ErrorEnvelopeDetailSerializer()


def error_response(description: str = "") -> OpenApiResponse:
    """An error answer in billing's envelope; `description` names its codes."""
    return OpenApiResponse(ErrorEnvelopeSerializer, description)


def error_example(status: int, code: str, message: str) -> OpenApiExample:
    """An error answer as clients receive it (CONTRACT.md §3)."""
    return OpenApiExample(f"{status} {code}", value={"error": {"code": code, "message": message}},
                          response_only=True, status_codes=[str(status)])
