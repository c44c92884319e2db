"""A saved account (plan, tier or override changed) passes its tier on to its keys."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Account

from .keys import sync_tier


@receiver(post_save, sender=Account, dispatch_uid="apikeys.sync_tier")
def account_saved(sender: type[Account], instance: Account, created: bool, **kwargs: object) -> None:
    if not created:
        sync_tier(instance)
