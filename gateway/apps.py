from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The request path in front of every API view: the bearer authentication, the
    admission (every limit in one round trip), the throttle and the rate-limit
    headers. No models."""

    name = "gateway"

    def ready(self) -> None:
        from . import (  # noqa: F401
            checks,  # registers the start-up checks
            schema,  # registers the OpenAPI bearer scheme
        )
