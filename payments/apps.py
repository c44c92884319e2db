from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from core.signals import balance_seen
        from upstreams import stripe as stripe_api

        from . import (
            autoreload,
            checks,  # noqa: F401 -- registers the start-up checks
        )

        # dj-stripe's own commands (djstripe_sync_models) call Stripe too.
        stripe_api.configure()
        balance_seen.connect(autoreload.balance_reported, dispatch_uid="payments.auto_reload")
        request_finished.connect(autoreload.request_finished, dispatch_uid="payments.auto_reload_finished")
