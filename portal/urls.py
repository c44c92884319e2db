from django.urls import include, path

from . import autoreload, credits, keys, usage, views

urlpatterns = [
    path("", views.home, name="portal-home"),
    path("login/", views.login, name="portal-login"),
    path("logout/", views.logout, name="portal-logout"),
    path("auth/", include("social_django.urls", namespace="social")),
    path("docs/", views.docs, name="portal-docs"),
    path("keys/", keys.keys, name="portal-keys"),
    path("keys/new/", keys.create, name="portal-key-create"),
    path("keys/<uuid:key_id>/", usage.key_usage, name="portal-key-usage"),
    path("keys/<uuid:key_id>/created/", keys.created, name="portal-key-created"),
    path("keys/<uuid:key_id>/revoke/", keys.revoke, name="portal-key-revoke"),
    path("keys/<uuid:key_id>/settings/", keys.key_settings, name="portal-key-settings"),
    path("keys/<uuid:key_id>/roll/", keys.roll, name="portal-key-roll"),
    path("credits/", credits.credits, name="portal-credits"),
    path("credits/buy/", credits.buy, name="portal-credits-buy"),
    path("credits/success/", credits.success, name="portal-credits-success"),
    path("credits/cancel/", credits.cancel, name="portal-credits-cancel"),
    path("credits/auto-reload/", autoreload.page, name="portal-auto-reload"),
    path("credits/auto-reload/save/", autoreload.save, name="portal-auto-reload-save"),
    path("credits/auto-reload/card/", autoreload.card, name="portal-auto-reload-card"),
    path("plan/", credits.plan, name="portal-plan"),
    path("plan/upgrade/", credits.upgrade, name="portal-plan-upgrade"),
    path("plan/manage/", credits.manage, name="portal-plan-manage"),
]
