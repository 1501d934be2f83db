from django.urls import path

from tandem.sla import views

app_name = "sla"
urlpatterns = [
    path("", views.compliance_report, name="report"),
    path("breaches/", views.breach_log, name="breaches"),
    path("countdown/<int:pk>/", views.countdown, name="countdown"),
]
