from django.contrib import admin
from django.urls import include, path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView

from . import views

PUBLIC = {"authentication_classes": [], "permission_classes": [], "throttle_classes": []}
# JSON unless YAML is asked for (Accept or ?format=yaml): what API clients parse.
SCHEMA_RENDERERS = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2]

# The relay's routes first: nearly every request is one of them, and Django tries the
# patterns in order (none of the relay's overlaps another app's).
api_v1 = [
    path("", include("relay.urls")),
    path("schema/", SpectacularAPIView.as_view(renderer_classes=SCHEMA_RENDERERS, **PUBLIC), name="schema"),
    path("docs/", views.APIReferenceView.as_view(url_name="schema", **PUBLIC), name="docs"),
    path("auth/", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path("billing/", include("payments.urls")),
    path("", include("metering.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="health-ready"),
    path("portal/", include("portal.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "timepoint_billing.views.bad_request"
handler403 = "timepoint_billing.views.permission_denied"
handler404 = "timepoint_billing.views.page_not_found"
handler500 = "timepoint_billing.views.server_error"
