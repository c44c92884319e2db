from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.signals import balance_seen

        from .writer import balance_reported

        balance_seen.connect(balance_reported, dispatch_uid="metering.low_credit_alerts")
