"""What billing sells and what each tier may do (CONTRACT.md §5, §6): the one table
of plans, credit packages, Apple products, tiers and their limits. Everything else
reads it; nothing else names a plan, a tier or a price.

A plan gives credits every month and an API tier; a tier sets the limits (requests
per minute, concurrent requests, HD access). An account's tier follows its plan unless
an operator overrides it (`accounts.Account.effective_tier`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db import models

CURRENCY = "usd"
# seeds/003: a balance below this is low: the portal shows it in red, and a relayed call
# that sees it sends the account's one low-credit email (metering/alerts.py).
LOW_BALANCE = 20

T = TypeVar("T")


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class Plan(models.TextChoices):
    FREE = "free", "Free"
    EXPLORER = "explorer", "Explorer"
    HISTORIAN = "historian", "Historian"
    API_PRO = "api_pro", "API Pro"


@dataclass(frozen=True)
class TierLimits:
    requests_per_minute: int
    concurrent: int
    hd: bool


TIERS: dict[str, TierLimits] = {
    Tier.FREE: TierLimits(requests_per_minute=10, concurrent=1, hd=False),
    Tier.PRO: TierLimits(requests_per_minute=60, concurrent=5, hd=True),
    Tier.ENTERPRISE: TierLimits(requests_per_minute=300, concurrent=20, hd=True),
}


def limits_for(tier: str | None) -> TierLimits:
    """The limits of a tier; an unknown tier (or none: an anonymous caller) is free."""
    return TIERS.get(tier, TIERS[Tier.FREE])


@dataclass(frozen=True)
class PlanTerms:
    """What a plan gives and costs."""

    id: Plan
    credits_per_month: int
    price: str  # decimal string, in CURRENCY
    hd: bool  # the HD preset, whatever the tier
    tier: Tier  # the API tier the plan gives
    price_setting: str | None  # settings name of its Stripe Price id; None: not sold

    @property
    def name(self) -> str:
        return self.id.label


@dataclass(frozen=True)
class Package:
    """Credits bought once."""

    id: str
    credits: int
    price: str
    price_setting: str


def cents(price: str) -> int:
    """A catalog price ("4.99") in the currency's smallest unit, as Stripe counts it."""
    return int(Decimal(price) * 100)


PLANS: dict[str, PlanTerms] = {
    Plan.FREE: PlanTerms(Plan.FREE, 0, "0.00", False, Tier.FREE, None),
    Plan.EXPLORER: PlanTerms(Plan.EXPLORER, 50, "4.99", False, Tier.FREE, "STRIPE_PRICE_EXPLORER"),
    Plan.HISTORIAN: PlanTerms(Plan.HISTORIAN, 200, "14.99", True, Tier.FREE, "STRIPE_PRICE_HISTORIAN"),
    Plan.API_PRO: PlanTerms(Plan.API_PRO, 1000, "49.99", True, Tier.PRO, "STRIPE_PRICE_API_PRO"),
}

PACKAGES: dict[str, Package] = {
    "100_credits": Package("100_credits", 100, "9.99", "STRIPE_PRICE_100_CREDITS"),
    "500_credits": Package("500_credits", 500, "39.99", "STRIPE_PRICE_500_CREDITS"),
}

# Apple in-app product ids and the credits each buys (consumables).
APPLE_PRODUCTS: dict[str, int] = {
    "com.timepointai.credits.100": 100,
    "com.timepointai.credits.500": 500,
}


def has_hd(tier: str | None, plan: str | None) -> bool:
    """The HD preset needs a tier with HD, or a plan that includes it (Historian)."""
    terms = PLANS.get(plan)
    return limits_for(tier).hd or bool(terms and terms.hd)


def price_id(setting_name: str | None) -> str:
    """The configured Stripe Price id behind a settings name ('' when unset)."""
    return getattr(settings, setting_name, "") if setting_name else ""


def _sold_at(items: Iterable[T], stripe_price_id: str) -> T | None:
    return next((item for item in items if stripe_price_id and price_id(item.price_setting) == stripe_price_id), None)


def package_for_price(stripe_price_id: str) -> Package | None:
    return _sold_at(PACKAGES.values(), stripe_price_id)


def plan_for_price(stripe_price_id: str) -> PlanTerms | None:
    return _sold_at(PLANS.values(), stripe_price_id)
