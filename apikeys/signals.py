"""A saved account (plan, tier or override changed) may change its keys' limits:
their cached records, which carry them, are dropped."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Account

from .keys import drop_cached_keys


@receiver(post_save, sender=Account, dispatch_uid="apikeys.drop_cached_keys")
def account_saved(sender: type[Account], instance: Account, created: bool, **kwargs: object) -> None:
    if not created:
        drop_cached_keys(instance)
