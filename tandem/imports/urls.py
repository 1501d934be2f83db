from django.urls import path

from tandem.imports import views

app_name = "imports"
urlpatterns = [
    path("", views.import_list, name="list"),
    path("new/", views.import_new, name="new"),
    path("uploads/<str:token>/mapping/", views.import_mapping, name="mapping"),
    path("uploads/<str:token>/preview/", views.import_preview_page, name="preview"),
    path("<int:run_id>/", views.import_detail, name="detail"),
    path("<int:run_id>/status/", views.import_status, name="status"),
    path("<int:run_id>/cancel/", views.import_cancel, name="cancel"),
    path("<int:run_id>/errors.csv", views.import_errors, name="errors"),
]
