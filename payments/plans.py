"""Plans and credit packages: the one table everything else reads (CONTRACT.md §6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    credits_per_month: int
    price: str  # decimal string, USD
    hd: bool
    tier: str  # the API tier the plan gives (apikeys.limits.TIERS)
    price_setting: str | None  # settings name of the Stripe Price id


@dataclass(frozen=True)
class Package:
    id: str
    credits: int
    price: str
    price_setting: str


CURRENCY = "usd"

PLANS: dict[str, Plan] = {
    "free": Plan("free", "Free", 0, "0.00", False, "free", None),
    "explorer": Plan("explorer", "Explorer", 50, "4.99", False, "free", "STRIPE_PRICE_EXPLORER"),
    "historian": Plan("historian", "Historian", 200, "14.99", True, "free", "STRIPE_PRICE_HISTORIAN"),
    "api_pro": Plan("api_pro", "API Pro", 1000, "49.99", True, "pro", "STRIPE_PRICE_API_PRO"),
}

PACKAGES: dict[str, Package] = {
    "100_credits": Package("100_credits", 100, "9.99", "STRIPE_PRICE_100_CREDITS"),
    "500_credits": Package("500_credits", 500, "39.99", "STRIPE_PRICE_500_CREDITS"),
}


def plan_has_hd(plan_id: str) -> bool:
    plan = PLANS.get(plan_id)
    return bool(plan and plan.hd)


# Apple in-app product ids and the credits each buys (consumables).
APPLE_PRODUCTS: dict[str, int] = {
    "com.timepointai.credits.100": 100,
    "com.timepointai.credits.500": 500,
}


def price_id(setting_name: str | None) -> str:
    """The configured Stripe Price id behind a settings name ('' when unset)."""
    from django.conf import settings

    return getattr(settings, setting_name, "") if setting_name else ""


def package_for_price(stripe_price_id: str) -> Package | None:
    matches = (p for p in PACKAGES.values() if stripe_price_id and price_id(p.price_setting) == stripe_price_id)
    return next(matches, None)


def plan_for_price(stripe_price_id: str) -> Plan | None:
    return next((p for p in PLANS.values() if stripe_price_id and price_id(p.price_setting) == stripe_price_id), None)
