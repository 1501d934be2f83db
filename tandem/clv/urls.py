from django.urls import path

from tandem.clv import views

app_name = "clv"

urlpatterns = [
    path("", views.clv_overview, name="overview"),
    path("refit/", views.clv_refit, name="refit"),
]
