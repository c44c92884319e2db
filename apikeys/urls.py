from django.urls import path

from . import views

urlpatterns = [
    path("keys", views.KeysView.as_view(), name="keys"),
    path("keys/<uuid:key_id>", views.KeyView.as_view(), name="key"),
    path("keys/<uuid:key_id>/roll", views.RollKeyView.as_view(), name="key-roll"),
]
