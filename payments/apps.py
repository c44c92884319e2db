from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from . import checks  # noqa: F401 -- registers the start-up checks

        if settings.STRIPE_API_BASE:
            import stripe

            # Module-level stripe calls (ours and dj-stripe's) go to the override.
            stripe.api_base = settings.STRIPE_API_BASE
