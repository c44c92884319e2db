from __future__ import annotations

from django.db import models
from django.utils import timezone


class UsageRecord(models.Model):
    """One /api/v1/ request, relayed or refused (CONTRACT.md §7, memo §8)."""

    id = models.BigAutoField(primary_key=True)
    # Made by the process that served the request: a batch retried after a failed or
    # unacknowledged commit skips the records already stored (metering/writer.py).
    uid = models.UUIDField(null=True, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("apikeys.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    endpoint = models.CharField(max_length=200, help_text="the route pattern, never the raw path")
    method = models.CharField(max_length=10)
    status_code = models.PositiveSmallIntegerField()
    credits_spent = models.IntegerField(default=0)
    response_time_ms = models.PositiveIntegerField(default=0)
    preset = models.CharField(max_length=32, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=128, blank=True)
    is_test = models.BooleanField(default=False, help_text="made with a tp_test_ key")

    class Meta:
        # The admin list and every range query walk these newest-first.
        indexes = [
            models.Index(fields=["account", "created_at"], name="usage_account_time"),
            models.Index(fields=["api_key", "created_at"], name="usage_key_time"),
            models.Index(fields=["endpoint", "created_at"], name="usage_endpoint_time"),
            models.Index(fields=["status_code", "created_at"], name="usage_status_time"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.status_code}"

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400


class Period(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class UsageRollup(models.Model):
    """Aggregates of one day or month at the finest grain (account, key, endpoint);
    per-account, per-key and per-endpoint figures are sums over it."""

    period = models.CharField(max_length=5, choices=Period.choices)
    start = models.DateField(help_text="the day, or the first day of the month")
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("apikeys.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    endpoint = models.CharField(max_length=200)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    credits_spent = models.BigIntegerField(default=0)
    # Percentiles only where the database computes them (PostgreSQL); None elsewhere.
    p50_ms = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["period", "start"], name="rollup_period_start"),
            models.Index(fields=["account", "period", "start"], name="rollup_account"),
            models.Index(fields=["api_key", "period", "start"], name="rollup_key"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.start} {self.endpoint}"


class RolledDay(models.Model):
    """Which days the roll-up has covered, and whose raw records are gone.

    Readers trust roll-ups only for days listed here; a day whose raw records were
    purged is never rolled up again (that would replace its figures with zeros)."""

    day = models.DateField(primary_key=True)
    rolled_up_at = models.DateTimeField()
    purged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return str(self.day)


class LowCreditAlert(models.Model):
    """Present while an account sits below the low-credit threshold: the email of
    this crossing was sent. Removed when the balance climbs back above it."""

    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="+")
    balance = models.IntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.account_id} at {self.balance}"


class UsageDashboard(UsageRecord):
    """No table of its own: the admin's entry point to the usage charts."""

    class Meta:
        proxy = True
        verbose_name = "usage dashboard"
        verbose_name_plural = "usage dashboard"
