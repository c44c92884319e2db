"""A URLconf in which the balance's path leads to another view (test_read_lane)."""

from django.urls import path

from relay.views import CostsView

urlpatterns = [path("api/v1/credits/balance", CostsView.as_view())]
