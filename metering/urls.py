from django.urls import path

from . import views

urlpatterns = [
    path("keys/<uuid:key_id>/usage", views.KeyUsageView.as_view(), name="key-usage"),
    path("usage", views.AccountUsageView.as_view(), name="account-usage"),
]
