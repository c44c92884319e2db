from django.urls import include, path

from . import portal

urlpatterns = [
    path("", portal.home, name="portal-home"),
    path("login/", portal.login, name="portal-login"),
    path("logout/", portal.logout, name="portal-logout"),
    path("auth/", include("social_django.urls", namespace="social")),
    path("docs/", portal.docs, name="portal-docs"),
]
