from django.urls import path

from . import views

urlpatterns = [
    path("generate", views.GenerateView.as_view(), name="relay-generate"),
    path("generate/stream", views.GenerateStreamView.as_view(), name="relay-generate-stream"),
    path("timepoints/<str:timepoint_id>", views.TimepointView.as_view(), name="relay-timepoint"),
    path("timepoints/<str:timepoint_id>/visibility", views.TimepointVisibilityView.as_view(),
         name="relay-timepoint-visibility"),
    path("credits/balance", views.BalanceView.as_view(), name="relay-credits-balance"),
    path("credits/history", views.HistoryView.as_view(), name="relay-credits-history"),
    path("credits/costs", views.CostsView.as_view(), name="relay-credits-costs"),
    path("moments/<path:path>", views.MomentsView.as_view(), name="relay-moments"),
    path("browse", views.BrowseRootView.as_view(), name="relay-browse-root"),
    path("browse/<path:path>", views.BrowseView.as_view(), name="relay-browse"),
    path("today", views.TodayView.as_view(), name="relay-today"),
    path("search", views.SearchView.as_view(), name="relay-search"),
    path("graph/neighbors/<path:path>", views.NeighborsView.as_view(), name="relay-graph-neighbors"),
]
