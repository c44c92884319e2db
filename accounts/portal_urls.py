from django.urls import include, path

from apikeys import portal as keys
from metering import portal as metering
from payments import portal as payments

from . import portal

urlpatterns = [
    path("", portal.home, name="portal-home"),
    path("login/", portal.login, name="portal-login"),
    path("logout/", portal.logout, name="portal-logout"),
    path("auth/", include("social_django.urls", namespace="social")),
    path("docs/", portal.docs, name="portal-docs"),
    path("keys/", keys.keys, name="portal-keys"),
    path("keys/new/", keys.create, name="portal-key-create"),
    path("keys/<uuid:key_id>/", metering.key_usage, name="portal-key-usage"),
    path("keys/<uuid:key_id>/created/", keys.created, name="portal-key-created"),
    path("keys/<uuid:key_id>/revoke/", keys.revoke, name="portal-key-revoke"),
    path("credits/", payments.credits, name="portal-credits"),
    path("credits/buy/", payments.buy, name="portal-credits-buy"),
    path("credits/success/", payments.success, name="portal-credits-success"),
    path("credits/cancel/", payments.cancel, name="portal-credits-cancel"),
    path("plan/", payments.plan, name="portal-plan"),
    path("plan/upgrade/", payments.upgrade, name="portal-plan-upgrade"),
    path("plan/manage/", payments.manage, name="portal-plan-manage"),
]
