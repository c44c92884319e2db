from django.urls import path

from . import portal

urlpatterns = [
    path("docs/", portal.docs, name="portal-docs"),
]
