from django.urls import path

from tandem.analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.scorecard, name="scorecard"),
    path("targets/", views.targets, name="targets"),
    path("views/", views.saved_view_create, name="view-create"),
    path("views/<int:view_id>/", views.saved_view_open, name="view-open"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="view-delete"),
    path("digest/", views.digest_subscription, name="digest"),
    path("export/<slug:chart>.csv", views.chart_csv, name="chart-csv"),
    path("<slug:page>/", views.analysis, name="analysis"),
]
