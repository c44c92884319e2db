from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.signals import balance_seen, spending_asked

        from .usage import spent_by_keys
        from .writer import balance_reported

        balance_seen.connect(balance_reported, dispatch_uid="metering.low_credit_alerts")
        spending_asked.connect(spent_by_keys, dispatch_uid="metering.spent_by_keys")
