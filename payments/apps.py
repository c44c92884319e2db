from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from upstreams import stripe as stripe_api

        from . import checks  # noqa: F401 -- registers the start-up checks

        # dj-stripe's own commands (djstripe_sync_models) call Stripe too.
        stripe_api.configure()
