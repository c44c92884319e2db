from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The request path in front of every API view: the bearer authentication, the
    admission (every limit in one round trip), the throttle and the rate-limit
    headers. No models."""

    name = "gateway"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI bearer scheme)
